package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// DigestFunc reads one node's data digest.
type DigestFunc func(ctx context.Context) ([]byte, error)

// Convergence is what the convergence checker saw.
type Convergence struct {
	// Converged: every node answered with the same digest within the
	// deadline.
	Converged bool
	// After is the time from the heal to the first poll that saw every
	// digest equal (or the time waited, when not converged).
	After time.Duration
	// Last describes the digests of the last poll.
	Last string
}

// checkConvergence polls every node's digest (nodes[i] reads node ids[i]'s),
// every poll interval, until all are equal or deadline has passed since
// healedAt. It runs before any final read, which would repair.
func checkConvergence(ctx context.Context, ids []string, nodes []DigestFunc, healedAt time.Time, deadline, poll time.Duration) Convergence {
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var last string
	for {
		digests := make([][]byte, len(nodes))
		var errs []string
		for i, f := range nodes {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			d, err := f(pctx)
			cancel()
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", ids[i], err))
				continue
			}
			digests[i] = d
		}
		now := time.Now()
		if len(errs) == 0 && allEqual(digests) {
			return Convergence{Converged: true, After: now.Sub(healedAt), Last: describeDigests(ids, digests, nil)}
		}
		last = describeDigests(ids, digests, errs)
		if now.Sub(healedAt) >= deadline {
			return Convergence{After: now.Sub(healedAt), Last: last}
		}
		select {
		case <-ctx.Done():
			return Convergence{After: time.Since(healedAt), Last: last + "; " + ctx.Err().Error()}
		case <-tick.C:
		}
	}
}

func allEqual(ds [][]byte) bool {
	for _, d := range ds[1:] {
		if !bytes.Equal(d, ds[0]) {
			return false
		}
	}
	return true
}

func describeDigests(ids []string, ds [][]byte, errs []string) string {
	var parts []string
	for i, d := range ds {
		if d != nil {
			h := hex.EncodeToString(d)
			parts = append(parts, fmt.Sprintf("%s %s", ids[i], h[:min(len(h), 12)]))
		}
	}
	return strings.Join(append(parts, errs...), ", ")
}
