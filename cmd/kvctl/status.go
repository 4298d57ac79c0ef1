package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/client"
)

type statusOptions struct {
	*globalOptions
	cluster bool
}

// statusJSON is the -o json object of status.
type statusJSON struct {
	NodeID          string            `json:"node_id"`
	Joined          bool              `json:"joined"`
	MembersAlive    int               `json:"members_alive"`
	Keys            uint64            `json:"keys"`
	Tombstones      uint64            `json:"tombstones"`
	HintsPending    uint64            `json:"hints_pending"`
	StorageBytes    uint64            `json:"storage_bytes"`
	LiveBytes       uint64            `json:"live_bytes"`
	LastAntiEntropy []antiEntropyJSON `json:"last_anti_entropy"`
	Digest          string            `json:"digest"`
	// Set only while a ring change moves partitions to or from the node.
	PartitionsMoving int `json:"partitions_moving,omitempty"`
	*moveJSON
}

// moveJSON is the progress of a ring change moving partitions to or from
// a node, in status and members -o json.
type moveJSON struct {
	PartitionsMoved *int `json:"partitions_moved"`
	// Move is "send" on a node that hands its partitions over (it leaves),
	// "receive" on one that fills them.
	Move       string `json:"move"`
	BytesMoved uint64 `json:"bytes_moved"`
	// MoveETASeconds is the estimated time left; 0 while unknown.
	MoveETASeconds int `json:"move_eta_seconds"`
}

func newMoveJSON(st *client.Status) *moveJSON {
	if st == nil || st.PartitionsMoving == 0 {
		return nil
	}
	m := &moveJSON{PartitionsMoved: &st.PartitionsMoved, Move: "receive", BytesMoved: st.BytesMoved, MoveETASeconds: int(st.MoveETA / time.Second)}
	if st.MovingOut {
		m.Move = "send"
	}
	return m
}

// describeMove renders the progress of a node's move in one phrase, as
// "310 of 720 partitions handed over, 12.0 MiB, about 30s left".
func describeMove(st *client.Status) string {
	verb := "filled"
	if st.MovingOut {
		verb = "handed over"
	}
	s := fmt.Sprintf("%d of %d partitions %s, %s", st.PartitionsMoved, st.PartitionsMoving, verb, humanBytes(st.BytesMoved))
	if st.MoveETA > 0 {
		s += fmt.Sprintf(", about %s left", st.MoveETA)
	}
	return s
}

type antiEntropyJSON struct {
	Peer               string `json:"peer"`
	Time               string `json:"time"`
	PartitionsCompared int    `json:"partitions_compared"`
	KeysExchanged      uint64 `json:"keys_exchanged"`
}

func newStatusCmd(g *globalOptions) *cobra.Command {
	o := &statusOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the answering node's state",
		Long: `Show the state of the node that answers: whether it joined a cluster, the
members it believes alive, the keys and tombstones it stores, the hints it
holds, its data file's size and how much of it holds data (live_bytes: the
rest is free pages, which kvctl compact gives back), its last anti-entropy round with each peer and
its data digest (equal on replicas in sync), and, while a ring change moves
partitions to or from it (it joins or leaves), how many of them are done
(partitions_moved).

With --cluster: one row per member (liveness, ring state, ownership, keys,
tombstones, hints pending, storage size, seconds since its last
anti-entropy round, digest prefix), each member asked at its own gRPC
address, and whether every replica set holds the same data (the Merkle
roots of each partition's replicas agree). A member that does not answer
shows its liveness and no figures, and the replicas are not in sync.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.cluster {
				return o.runCluster(cmd.Context())
			}
			return o.run(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&o.cluster, "cluster", false, "one row per member and whether the replicas are in sync")
	return cmd
}

func (o *statusOptions) run(ctx context.Context) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	obj := newStatusJSON(st)
	if o.json() {
		return o.printJSON(obj)
	}
	rows := [][]string{
		{"node_id", obj.NodeID},
		{"joined", strconv.FormatBool(obj.Joined)},
		{"members_alive", strconv.Itoa(obj.MembersAlive)},
		{"keys", strconv.FormatUint(obj.Keys, 10)},
		{"tombstones", strconv.FormatUint(obj.Tombstones, 10)},
		{"hints_pending", strconv.FormatUint(obj.HintsPending, 10)},
		{"storage_bytes", strconv.FormatUint(obj.StorageBytes, 10)},
		{"live_bytes", strconv.FormatUint(obj.LiveBytes, 10)},
		{"digest", obj.Digest},
	}
	if st.PartitionsMoving > 0 {
		rows = append(rows, []string{"moving", describeMove(st)})
	}
	if len(obj.LastAntiEntropy) == 0 {
		rows = append(rows, []string{"last_anti_entropy", "never"})
		return writeRows(o.stdout, rows)
	}
	if err := writeRows(o.stdout, rows); err != nil {
		return err
	}
	if _, err := o.stdout.Write([]byte("\n")); err != nil {
		return err
	}
	ae := [][]string{{"PEER", "LAST_ANTI_ENTROPY", "PARTITIONS_COMPARED", "KEYS_EXCHANGED"}}
	for _, r := range obj.LastAntiEntropy {
		ae = append(ae, []string{r.Peer, r.Time, strconv.Itoa(r.PartitionsCompared), strconv.FormatUint(r.KeysExchanged, 10)})
	}
	return writeRows(o.stdout, ae)
}

func newStatusJSON(st *client.Status) statusJSON {
	obj := statusJSON{
		NodeID:          st.NodeID,
		Joined:          st.Joined,
		MembersAlive:    st.MembersAlive,
		Keys:            st.Keys,
		Tombstones:      st.Tombstones,
		HintsPending:    st.HintsPending,
		StorageBytes:    st.StorageBytes,
		LiveBytes:       st.LiveBytes,
		LastAntiEntropy: make([]antiEntropyJSON, 0, len(st.LastAntiEntropy)),
		Digest:          digestHex(st.Digest),
	}
	if st.PartitionsMoving > 0 {
		obj.PartitionsMoving, obj.moveJSON = st.PartitionsMoving, newMoveJSON(st)
	}
	for _, r := range st.LastAntiEntropy {
		obj.LastAntiEntropy = append(obj.LastAntiEntropy, antiEntropyJSON{
			Peer:               r.Peer,
			Time:               r.Time.UTC().Format(time.RFC3339Nano),
			PartitionsCompared: r.PartitionsCompared,
			KeysExchanged:      r.KeysExchanged,
		})
	}
	return obj
}

// digestHex renders a digest as 32 lowercase hex digits: the big-endian
// 128-bit value, left-padded with zeros (a longer input keeps its low 16
// bytes, as the sum is mod 2^128).
func digestHex(d []byte) string {
	var b [16]byte
	if len(d) > len(b) {
		d = d[len(d)-len(b):]
	}
	copy(b[len(b)-len(d):], d)
	return hex.EncodeToString(b[:])
}

// clusterStatusJSON is the -o json object of status --cluster.
type clusterStatusJSON struct {
	Members []memberStatusJSON `json:"members"`
	InSync  bool               `json:"in_sync"`
}

// memberStatusJSON is one member of status --cluster -o json. A member
// that did not answer has zero figures, a null last_anti_entropy_seconds
// and an empty digest; so has one without any anti-entropy round yet for
// last_anti_entropy_seconds.
type memberStatusJSON struct {
	ID                     string           `json:"id"`
	State                  client.Liveness  `json:"state"`
	RingState              client.RingState `json:"ring_state"`
	Ownership              float64          `json:"ownership"`
	Keys                   uint64           `json:"keys"`
	Tombstones             uint64           `json:"tombstones"`
	HintsPending           uint64           `json:"hints_pending"`
	StorageBytes           uint64           `json:"storage_bytes"`
	LastAntiEntropySeconds *float64         `json:"last_anti_entropy_seconds"`
	Digest                 string           `json:"digest"`
	Error                  string           `json:"error,omitempty"`
}

func (o *statusOptions) runCluster(ctx context.Context) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	cs, err := c.ClusterStatus(ctx)
	if err != nil {
		return err
	}
	obj := newClusterStatusJSON(cs, time.Now())
	if o.json() {
		return o.printJSON(obj)
	}
	rows := [][]string{{"ID", "STATE", "RING_STATE", "OWNERSHIP", "KEYS", "TOMBSTONES", "HINTS", "STORAGE", "LAST_AE", "DIGEST"}}
	for _, m := range obj.Members {
		row := []string{m.ID, m.State.String(), m.RingState.String(), fmt.Sprintf("%.1f%%", 100*m.Ownership), "-", "-", "-", "-", "-", "-"}
		if m.Digest != "" {
			row[4], row[5], row[6] = strconv.FormatUint(m.Keys, 10), strconv.FormatUint(m.Tombstones, 10), strconv.FormatUint(m.HintsPending, 10)
			row[7], row[9] = humanBytes(m.StorageBytes), m.Digest[:12]
			row[8] = "never"
			if m.LastAntiEntropySeconds != nil {
				row[8] = fmt.Sprintf("%.0fs", *m.LastAntiEntropySeconds)
			}
		}
		rows = append(rows, row)
	}
	if err := writeRows(o.stdout, rows); err != nil {
		return err
	}
	line := "replicas in sync: every replica set's Merkle roots agree\n"
	if !obj.InSync {
		line = "replicas NOT in sync (or not every replica answered)\n"
	}
	_, err = fmt.Fprint(o.stdout, "\n"+line)
	return err
}

func newClusterStatusJSON(cs *client.ClusterStatus, now time.Time) clusterStatusJSON {
	obj := clusterStatusJSON{Members: make([]memberStatusJSON, 0, len(cs.Members)), InSync: cs.InSync}
	for _, m := range cs.Members {
		j := memberStatusJSON{ID: m.ID, State: m.State, RingState: m.RingState, Ownership: m.Ownership}
		if m.Err != nil {
			j.Error = m.Err.Error()
		}
		if st := m.Status; st != nil {
			j.Keys, j.Tombstones, j.HintsPending, j.StorageBytes = st.Keys, st.Tombstones, st.HintsPending, st.StorageBytes
			j.Digest = digestHex(st.Digest)
			var last time.Time
			for _, r := range st.LastAntiEntropy {
				if r.Time.After(last) {
					last = r.Time
				}
			}
			if !last.IsZero() {
				secs := max(0, now.Sub(last).Seconds())
				j.LastAntiEntropySeconds = &secs
			}
		}
		obj.Members = append(obj.Members, j)
	}
	return obj
}

// humanBytes renders n in binary units with one decimal: 512 B, 1.5 KiB,
// 3.0 MiB.
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
