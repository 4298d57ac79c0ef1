package antientropy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/quorumkv/quorumkv/conflict"
	"github.com/quorumkv/quorumkv/keyspace"
	pb "github.com/quorumkv/quorumkv/proto/quorumkv/v1"
	"github.com/quorumkv/quorumkv/storage"
)

const (
	// fetchBatch bounds the keys of one FetchObjects call a round makes
	// (also bounded by the key bucket).
	fetchBatch = 1000
	// keyParallelism bounds the merges and pushes of one partition in
	// flight, so they share group commits and replica stream batches.
	keyParallelism = 32
)

// merge moves the objects of the differing keys of one partition both ways:
// it fetches the peer's and merges them locally, pushing the result back
// when the peer lacks part of it, and pushes the keys only this node holds.
// Failures of single keys are collected in fails; a failed RPC ends it.
type merge struct {
	x      *exchange
	p      keyspace.Partition
	remote map[string]merkleHash // the peer's entry hashes, by key
	fails  failures
}

// fetched is an object fetched from the peer, decoded.
type fetched struct {
	key []byte
	obj *conflict.Object
}

// fetch pulls the peer's objects of keys, in batches the throttle allows,
// and merges each (mergeFetched). The error is that of an RPC or ctx.
func (m *merge) fetch(ctx context.Context, keys []string) error {
	batch := m.x.a.limiter.keyBatch(fetchBatch)
	for len(keys) > 0 {
		n := min(batch, len(keys))
		chunk := keys[:n]
		keys = keys[n:]
		if err := m.x.a.limiter.wait(ctx, len(chunk), 0); err != nil {
			return err
		}
		objs, err := m.fetchObjects(ctx, chunk)
		if err != nil {
			return err
		}
		forEach(ctx, len(objs), keyParallelism, func(i int) {
			m.fails.add(m.mergeFetched(ctx, objs[i], m.remote[string(objs[i].key)]))
		})
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// fetchObjects asks for keys (halving on ResourceExhausted) and checks the
// answer: only asked keys, once each, objects that decode.
func (m *merge) fetchObjects(ctx context.Context, keys []string) ([]fetched, error) {
	req := &pb.FetchObjectsRequest{Keys: make([][]byte, len(keys))}
	asked := make(map[string]bool, len(keys))
	for i, k := range keys {
		req.Keys[i] = []byte(k)
		asked[k] = true
	}
	resp, err := call(ctx, m.x, req, m.x.client.FetchObjects)
	if status.Code(err) == codes.ResourceExhausted && len(keys) == 1 {
		// One object larger than a response (stored before the object
		// limit, or under a larger one): skip it rather than let it stop
		// the rest of its partition from converging.
		m.x.a.oversized.Add(1)
		m.x.a.logLimit.Log(ctx, m.x.a.cfg.Logger, slog.LevelWarn, "oversized "+m.x.peer, "anti-entropy: skipping a key whose object the peer cannot send in one response",
			"peer", m.x.peer, "partition", m.p, "key", fmt.Sprintf("%.64q", keys[0]), "err", err)
		m.fails.add(fmt.Errorf("key %.64q skipped: %w", keys[0], err))
		return nil, nil
	}
	if status.Code(err) == codes.ResourceExhausted {
		h := len(keys) / 2
		a, err := m.fetchObjects(ctx, keys[:h])
		if err != nil {
			return nil, err
		}
		b, err := m.fetchObjects(ctx, keys[h:])
		return append(a, b...), err
	}
	if err != nil {
		return nil, fmt.Errorf("fetch objects: %w", err)
	}
	if err := m.x.a.limiter.wait(ctx, 0, proto.Size(resp)); err != nil {
		return nil, err
	}
	out := make([]fetched, 0, len(resp.GetObjects()))
	for _, ko := range resp.GetObjects() {
		k := ko.GetKey()
		if !asked[string(k)] {
			return nil, fmt.Errorf("fetch objects: peer sent key %.64q, which was not asked or came twice", k)
		}
		asked[string(k)] = false
		o, err := conflict.DecodeObject(ko.GetObject())
		if err != nil {
			return nil, fmt.Errorf("fetch objects: key %.64q: %w", k, err)
		}
		out = append(out, fetched{key: k, obj: o})
	}
	return out, nil
}

// mergeFetched merges a fetched object locally, after the clock accepted
// it, and pushes the result when the peer's copy (hash peerHash) lacks
// something of ours.
func (m *merge) mergeFetched(ctx context.Context, f fetched, peerHash merkleHash) error {
	if observe := m.x.a.observe; observe != nil {
		if err := observe(f.obj.MaxTimestamp()); err != nil {
			return fmt.Errorf("refusing key %.64q from the peer: %w", f.key, err)
		}
	}
	merged, err := m.x.a.store.Merge(f.key, f.obj)
	if err != nil {
		return fmt.Errorf("merge key %.64q: %w", f.key, err)
	}
	m.x.fetched.Add(1)
	enc := merged.Marshal()
	if storage.EntryHash(f.key, enc) == peerHash {
		return nil // the peer's copy already held everything: nothing to send
	}
	return m.push(ctx, f.key, merged, enc)
}

// pushLocal pushes the local objects of keys, which the peer lacks.
func (m *merge) pushLocal(ctx context.Context, keys []string) {
	forEach(ctx, len(keys), keyParallelism, func(i int) {
		key := []byte(keys[i])
		obj, err := m.x.a.store.Get(key)
		if errors.Is(err, storage.ErrNotFound) {
			return // purged meanwhile
		}
		if err != nil {
			m.fails.add(fmt.Errorf("read key %q: %w", key, err))
			return
		}
		m.fails.add(m.push(ctx, key, obj, obj.Marshal()))
	})
}

// push sends the local object of key (encoded as enc) to the peer, which
// merges it.
func (m *merge) push(ctx context.Context, key []byte, obj *conflict.Object, enc []byte) error {
	x := m.x
	if err := x.a.limiter.wait(ctx, 1, len(key)+len(enc)); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, x.a.cfg.RPCTimeout)
	defer cancel()
	if _, err := x.a.push.Apply(ctx, x.peer, key, obj, false); err != nil {
		return fmt.Errorf("push key %.64q: %w", key, err)
	}
	x.pushed.Add(1)
	if !obj.Live() {
		x.tombstonesPushed.Add(1)
	}
	x.bytes.Add(int64(len(key) + len(enc)))
	return nil
}
