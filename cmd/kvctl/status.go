package main

import (
	"context"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/client"
)

type statusOptions struct {
	*globalOptions
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
	LastAntiEntropy []antiEntropyJSON `json:"last_anti_entropy"`
	Digest          string            `json:"digest"`
}

type antiEntropyJSON struct {
	Peer               string `json:"peer"`
	Time               string `json:"time"`
	PartitionsCompared int    `json:"partitions_compared"`
	KeysExchanged      uint64 `json:"keys_exchanged"`
}

func newStatusCmd(g *globalOptions) *cobra.Command {
	o := &statusOptions{globalOptions: g}
	return &cobra.Command{
		Use:   "status",
		Short: "Show the answering node's state",
		Long: `Show the state of the node that answers: whether it joined a cluster, the
members it believes alive, the keys and tombstones it stores, the hints it
holds, its data file's size, its last anti-entropy round with each peer and
its data digest (equal on replicas in sync).`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context())
		},
	}
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
		{"digest", obj.Digest},
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
		LastAntiEntropy: make([]antiEntropyJSON, 0, len(st.LastAntiEntropy)),
		Digest:          digestHex(st.Digest),
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
