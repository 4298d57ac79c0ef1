package cluster

import (
	"log/slog"
	"sync"
	"time"

	"github.com/quorumkv/quorumkv/cluster/ring"
)

// runLoop is the goroutine that joins: while the node has not joined, it
// joins the seeds every JoinRetryInterval; once joined, it re-joins every
// ReconnectInterval the table members memberlist does not consider alive.
// It stops on Close, and on a permanent error after shutting memberlist
// down.
func (m *Membership) runLoop() {
	defer m.wg.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	attempts := 0
	for {
		select {
		case <-m.stopc:
			return
		case <-m.haltc:
			if ml := m.ml.Load(); ml != nil {
				_ = ml.Shutdown()
			}
			return
		case <-timer.C:
		}
		m.mu.Lock()
		ph := m.phase
		m.mu.Unlock()
		next := m.cfg.ReconnectInterval
		if ph != phaseJoined {
			attempts++
			m.joinSeeds(attempts)
			m.mu.Lock()
			ph = m.phase
			m.mu.Unlock()
			if ph != phaseJoined {
				next = m.cfg.JoinRetryInterval
			}
		} else {
			m.reconnect()
		}
		timer.Reset(next)
	}
}

// joinSeeds makes one join attempt with every seed (and, for a node that
// knows its table but not its place, every member in it). A node with
// settings takes its place in MergeRemoteState, called by memberlist
// during ml.Join; a node without settings then asks a live member for
// them over Join.
func (m *Membership) joinSeeds(attempt int) {
	m.mu.Lock()
	addrs := append([]string(nil), m.seeds...)
	if m.phase == phaseLocate {
		for _, e := range m.table.sorted() {
			if e.ID != m.self.ID && e.GossipAddr != "" && e.State != ring.Removed {
				addrs = append(addrs, e.GossipAddr)
			}
		}
	}
	m.mu.Unlock()
	ml := m.ml.Load()
	n := m.joinEach(ml, addrs, attempt)
	if m.Joined() {
		return
	}
	m.mu.Lock()
	adopt := m.phase == phaseAdopt
	m.mu.Unlock()
	if adopt && n > 0 {
		m.joinByRPC(ml)
		if m.Joined() {
			return
		}
	}
	// joinEach said why each silent seed failed, once per interval; say
	// so as rarely when seeds answer but know no cluster.
	if n > 0 {
		m.logLimit.Log(m.ctx, m.log, slog.LevelWarn, "seeds not joined", "not joined: the seeds that answer have not joined a cluster either",
			"seeds", addrs, "attempt", attempt)
	}
}

// reconnect re-joins, in parallel, every table member that is neither left
// nor removed and that memberlist does not consider alive, so a partition
// that outlasted memberlist's memory of dead nodes heals. It returns once
// every attempt has finished.
func (m *Membership) reconnect() {
	live := m.liveSet()
	m.mu.Lock()
	var targets []Entry
	for _, e := range m.table.sorted() {
		if e.ID == m.self.ID || live[e.ID] || e.GossipAddr == "" || e.State == ring.Left || e.State == ring.Removed {
			continue
		}
		targets = append(targets, e)
	}
	m.mu.Unlock()
	ml := m.ml.Load()
	var wg sync.WaitGroup
	for _, e := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := ml.Join([]string{e.GossipAddr}); err != nil {
				m.log.Debug("reconnect failed", "id", e.ID, "gossip_addr", e.GossipAddr, "err", err)
			} else {
				m.log.Info("reconnected to member", "id", e.ID, "gossip_addr", e.GossipAddr)
			}
		}()
	}
	wg.Wait()
}

// persistLoop is the goroutine that saves the table after changes,
// coalescing them, and retries failed saves. On Close it makes a last save
// and returns.
func (m *Membership) persistLoop() {
	defer m.wg.Done()
	retry := time.NewTimer(persistRetry)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-m.stopc:
			_ = m.save()
			return
		case <-m.persistc:
		case <-retry.C:
		}
		if err := m.save(); err != nil {
			m.log.Error("saving the member table failed; retrying", "err", err, "in", persistRetry)
			retry.Reset(persistRetry)
		}
	}
}

// save writes the table if it changed since the last successful save and
// returns once it is durable. Saves never overlap (saveMu), so a later
// save writes the later table.
func (m *Membership) save() error {
	m.saveMu.Lock()
	defer m.saveMu.Unlock()
	m.mu.Lock()
	if m.gen == m.savedGen {
		m.mu.Unlock()
		return nil
	}
	gen, es := m.gen, m.table.sorted()
	m.mu.Unlock()

	b, err := encodeTable(es)
	if err == nil {
		err = m.store.SaveMembers(b)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.saveErr = err
	if err == nil {
		m.savedGen = max(m.savedGen, gen)
	}
	return err
}
