package cluster

import (
	"errors"
	"fmt"
)

// Sentinel errors. Functions of this package wrap them with %w; match them
// with errors.Is.
var (
	// ErrNotJoined: the node has not joined a cluster yet (no settings, or
	// its own entry is not in the table yet).
	ErrNotJoined = errors.New("cluster: not joined")
	// ErrRemoved: the node's id was removed from the cluster. The error
	// value is a *RemovedError naming the id.
	ErrRemoved = errors.New("cluster: node removed")
	// ErrIllegalTransition: SetState was asked for a ring state change other
	// than joining->normal, normal->leaving or leaving->left.
	ErrIllegalTransition = errors.New("cluster: illegal state transition")
	// ErrUnknownMember: the id is not in the member table.
	ErrUnknownMember = errors.New("cluster: unknown member")
	// ErrMemberAlive: Remove was asked to remove a member that memberlist
	// considers alive (or suspect).
	ErrMemberAlive = errors.New("cluster: member is alive")
	// ErrRemoveSelf: Remove was asked to remove the node itself.
	ErrRemoveSelf = errors.New("cluster: cannot remove this node itself")
	// ErrSettingsRefused: Config.AdoptSettings refused the settings a seed
	// offered; the error also wraps AdoptSettings' own error.
	ErrSettingsRefused = errors.New("cluster: cluster settings refused")
	// ErrRestart: Config.AdoptSettings persisted the settings but the node
	// must be built again to run under them. Membership stops as after a
	// refusal, but reports AdoptSettings' error, wrapping this, on Err as
	// it is, and logs it as information, not as a failure.
	ErrRestart = errors.New("cluster: restart to apply the adopted settings")
	// ErrInvalidConfig: a Config or Settings field is unusable.
	ErrInvalidConfig = errors.New("cluster: invalid config")
	// ErrDuplicateID: another live process already runs under this node's
	// id. The error value is a *DuplicateIDError.
	ErrDuplicateID = errors.New("cluster: node id in use")
	// ErrWrongCluster: a Join request names another cluster.
	ErrWrongCluster = errors.New("cluster: another cluster")
	// ErrUntrusted: a Join request carries no valid proof that its sender
	// holds a gossip key.
	ErrUntrusted = errors.New("cluster: untrusted join request")
	// ErrNotEncrypted: a keyring operation on a node whose gossip is not
	// encrypted.
	ErrNotEncrypted = errors.New("cluster: gossip is not encrypted (no gossip key)")
	// ErrKeyring: a keyring change was refused (a key of the wrong size,
	// using a key not installed, removing the primary key).
	ErrKeyring = errors.New("cluster: keyring change refused")
	// ErrLeft: the persisted table says this node left the cluster (kvctl
	// leave). It rejoins only with an empty data dir, as a new joiner.
	ErrLeft = errors.New("cluster: node left the cluster")
	// ErrDownTooLong: the node was down longer than Config.MaxDowntime (the
	// tombstone grace period): tombstones it missed may have been purged,
	// so its data could bring deleted keys back. It rejoins only with an
	// empty data dir.
	ErrDownTooLong = errors.New("cluster: node down longer than the tombstone grace period")
	// ErrClosed: the Membership was closed.
	ErrClosed = errors.New("cluster: membership closed")
	// ErrReplaceRefused: this node cannot take the place Config.Replace
	// names. The error value is a *ReplaceError.
	ErrReplaceRefused = errors.New("cluster: replace refused")
)

// ReplaceError reports why this node cannot take the place of member
// Replace (Config.Replace): it is alive, unknown, left, already replaced,
// or this node is not new. It is permanent: the node must be started
// again with other flags. errors.Is(err, ErrReplaceRefused) holds for it.
type ReplaceError struct {
	// Replace is the id this node was to replace.
	Replace string
	// Reason says what is wrong, as a phrase for the operator.
	Reason string
}

func (e *ReplaceError) Error() string {
	return fmt.Sprintf("cannot replace %q: %s", e.Replace, e.Reason)
}

// Is reports whether target is ErrReplaceRefused.
func (e *ReplaceError) Is(target error) bool { return target == ErrReplaceRefused }

// RemovedError reports that node id ID was removed from the cluster by an
// operator. It is permanent: the node must not run under that id again.
// errors.Is(err, ErrRemoved) holds for it.
type RemovedError struct {
	// ID is the removed node id.
	ID string
}

func (e *RemovedError) Error() string {
	return fmt.Sprintf("node id %q was removed from the cluster", e.ID)
}

// Is reports whether target is ErrRemoved.
func (e *RemovedError) Is(target error) bool { return target == ErrRemoved }

// DuplicateIDError reports that a live member of the cluster already runs
// under this node's id, gossiping from another address. It is refused
// before it takes part: two processes under one id would keep re-claiming
// the same member entry while their data diverges.
// errors.Is(err, ErrDuplicateID) holds for it.
type DuplicateIDError struct {
	// ID is the node id in use.
	ID string
	// Addr is the gossip address of the live member that holds it.
	Addr string
}

func (e *DuplicateIDError) Error() string {
	return fmt.Sprintf("node id %q is already used by a live member gossiping from %s", e.ID, e.Addr)
}

// Is reports whether target is ErrDuplicateID.
func (e *DuplicateIDError) Is(target error) bool { return target == ErrDuplicateID }
