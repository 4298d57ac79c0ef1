package cluster

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/memberlist"
)

// Why a seed cannot be joined. memberlist reports a failed join as text
// (its errors wrap with %v), so the causes are told apart by the phrases
// of Go's network errors and of memberlist's own:
//
//   - nothing listens at the address: "connection refused";
//   - nothing answers: a timeout, no route;
//   - the seed closed the connection without a word: memberlist drops a
//     stream whose label (the cluster name) is not its own before reading
//     anything, so the joiner reads EOF or a reset;
//   - one side encrypts gossip and the other does not, or with another
//     key: memberlist answers with an error the joiner fails to read, in
//     words that say which.

// seedReason returns one sentence saying why joining seed failed with
// err, and naming what to check. clusterName is this node's cluster name.
func seedReason(seed string, err error, clusterName string) string {
	has := mentions(err)
	switch {
	case has("connection refused"):
		return fmt.Sprintf("nothing listens at %s (connection refused): is the seed's kvnode running, and is this its --gossip-addr (not its --grpc-addr)?", seed)
	case has("encryption is configured but remote state is not encrypted"):
		return fmt.Sprintf("%s runs without a gossip key but this node has one (--gossip-key-file): every node needs the cluster's gossip keys", seed)
	case has("remote state is encrypted and encryption is not configured"):
		return fmt.Sprintf("%s encrypts gossip but this node has no gossip key: give it the cluster's --gossip-key-file (with TLS, both go together)", seed)
	case has("no installed keys could decrypt"):
		return fmt.Sprintf("%s encrypts gossip with a key this node does not hold: this node's --gossip-key-file must list one of the cluster's keys (kvctl keyring list)", seed)
	case has("EOF", "connection reset by peer", "broken pipe"):
		return fmt.Sprintf("%s listens but closed the connection without answering: it runs with another --cluster-name than this node's %q", seed, clusterName)
	case has("i/o timeout", "deadline exceeded", "no route to host", "network is unreachable", "host is down"):
		return fmt.Sprintf("no answer from %s: the machine is down or unreachable, or a firewall drops gossip (TCP and UDP to the seed's --gossip-addr)", seed)
	case has("no such host", "failed to resolve"):
		return fmt.Sprintf("%s does not resolve: check the host name in --join", seed)
	}
	return fmt.Sprintf("joining %s failed", seed)
}

// joinEach joins every address in addrs through memberlist at once and
// returns how many answered. For each one that failed it logs, at most
// once per seed and interval, one line saying why; a seed that answers
// again is reported again at its next failure.
func (m *Membership) joinEach(ml *memberlist.Memberlist, addrs []string, attempt int) int {
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		n  int
	)
	for _, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := ml.Join([]string{addr})
			key := "seed " + addr
			if err == nil {
				mu.Lock()
				n++
				mu.Unlock()
				m.logLimit.Reset(key)
				return
			}
			m.logLimit.Log(m.ctx, m.log, slog.LevelWarn, key, "not joined: a seed cannot be joined",
				"seed", addr, "reason", seedReason(addr, err, m.cfg.ClusterName), "attempt", attempt, "err", err)
		}()
	}
	wg.Wait()
	return n
}

// joinRPCReason returns one sentence saying why the Join call to member
// at its peer address addr failed with err, when the cause is one an
// operator fixes in the flags (TLS, the peer address); "" otherwise, the
// error saying enough.
func joinRPCReason(member, addr string, err error) string {
	has := mentions(err)
	switch {
	case has("first record does not look like a TLS handshake"):
		return fmt.Sprintf("%s serves plain gRPC at %s but this node runs with --tls-*: every node of a cluster runs with TLS or none does", member, addr)
	case has("server preface"):
		return fmt.Sprintf("%s closed the connection at %s before any gRPC: it runs with --tls-* and this node without; every node of a cluster runs with TLS or none does", member, addr)
	case has("x509", "certificate", "tls:", "handshake"):
		return fmt.Sprintf("TLS handshake with %s at %s failed: both nodes' certificates must be signed by the same --tls-ca, and each must name the address it is reached at (kvctl certs create-node ID --host ...)", member, addr)
	case has("connection refused"):
		return fmt.Sprintf("nothing listens at %s, %s's advertised peer address: check its --peer-addr and --advertise-peer-addr", addr, member)
	}
	return ""
}

// mentions returns a test of whether err's text contains any of the
// phrases given.
func mentions(err error) func(phrases ...string) bool {
	msg := err.Error()
	return func(phrases ...string) bool {
		return slices.ContainsFunc(phrases, func(p string) bool { return strings.Contains(msg, p) })
	}
}
