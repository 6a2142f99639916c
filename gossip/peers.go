package gossip

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/meridian-sd/meridian/lib/fsutil"
)

// Peer list persistence.
//
// serf's snapshot is meant to let a restarted agent rejoin its pool, but
// it buffers what it appends and flushes the buffer only when it appends
// again more than 500ms later (or at a clean shutdown). In a quiet pool
// nothing is appended after the joins, so the members of a pool formed in
// one burst never reach the file: an agent killed or crashed there came
// back alone, and a server left out of the LAN pool is then removed from
// Raft by autopilot as failed while it runs. So each pool also keeps the
// members it knows in a file of its own, written atomically right after a
// membership change (at most every peersMinGap), and at start joins them
// one at a time until one answers. A pool that knows no other member does
// not write, so an agent restarted while its peers are away keeps the file
// for the next try. Members that left gracefully are dropped from it;
// after this agent leaves gracefully the file is removed, as serf's
// snapshot then forgets its members (unless RejoinAfterLeave).

// Peer file names inside data_dir/serf/.
const (
	LANPeers = "local.peers.json"
	WANPeers = "remote.peers.json"
)

// peersMinGap is the least time between two writes of the peer file: the
// first change after a quiet spell is written at once, the changes of a
// burst of joins together at the end of the gap.
const peersMinGap = 200 * time.Millisecond

// peersRetryMax caps the wait before another try after a failed write of
// the peer file: it is tried again even if membership does not change.
const peersRetryMax = 30 * time.Second

// maxPeers bounds the members kept in the peer file, alive ones first (a
// pool can be large; a few reachable members are enough to learn the
// rest), and so what is joined at start.
const maxPeers = 64

// peerFile is the peer file's content.
type peerFile struct {
	// Members are the other members, alive or failed, as "ip:port" by
	// member name.
	Members []peerEntry `json:"members"`
}

type peerEntry struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
}

// readPeers reads the peer file; a missing file is no peers.
func readPeers(path string) ([]peerEntry, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var f peerFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return f.Members, nil
}

// knownPeers lists up to maxPeers of the pool's other members that may
// come back: alive ones, then failed ones (not those that left), each
// group sorted by name.
func (p *Pool) knownPeers() []peerEntry {
	self := p.cfg.NodeName
	var alive, failed []peerEntry
	for _, m := range p.serf.Members() {
		if m.Name == self {
			continue
		}
		e := peerEntry{Name: m.Name, Addr: WithDefaultPort(m.Addr.String(), int(m.Port))}
		switch m.Status {
		case serf.StatusAlive:
			alive = append(alive, e)
		case serf.StatusFailed:
			failed = append(failed, e)
		}
	}
	byName := func(a, b peerEntry) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(alive, byName)
	slices.SortFunc(failed, byName)
	out := append(alive, failed...)
	if len(out) > maxPeers {
		out = out[:maxPeers]
	}
	return out
}

// peersLoop writes the peer file after membership changes (at most every
// peersMinGap), when the members differ from what the file holds and the
// pool knows another member, and not while the agent leaves, until the
// pool shuts down.
func (p *Pool) peersLoop(written []peerEntry) {
	defer p.wg.Done()
	var (
		timer     <-chan time.Time
		lastWrite time.Time
		retry     time.Duration // the wait after a failed write; 0 after a good one
	)
	for {
		select {
		case <-p.done:
			return
		case <-p.peersChanged:
			if timer == nil {
				timer = time.After(max(0, time.Until(lastWrite.Add(peersMinGap))))
			}
		case <-timer:
			timer = nil
			p.peersLock.Lock()
			if p.left {
				// Leaving: nothing is written again.
				p.peersLock.Unlock()
				continue
			}
			now := p.knownPeers()
			if len(now) > 0 && !slices.Equal(now, written) {
				lastWrite = time.Now()
				if err := writePeers(p.peersFile, now); err != nil {
					// Tried again later even in a quiet pool, where no
					// membership change would wake this loop.
					retry = min(max(2*retry, peersMinGap), peersRetryMax)
					timer = time.After(retry)
					p.cfg.Logger.Error("cannot write the pool's members to disk", "pool", p.cfg.poolName(), "error", err, "retry_in", retry)
				} else {
					written = now
					retry = 0
				}
			}
			p.peersChecks.Add(1)
			p.peersLock.Unlock()
		}
	}
}

func writePeers(path string, peers []peerEntry) error {
	b, err := json.Marshal(peerFile{Members: peers})
	if err != nil {
		return fmt.Errorf("encode peers: %w", err)
	}
	return fsutil.WriteFileAtomic(path, b, 0o600)
}

// notePeersChanged tells peersLoop that membership changed.
func (p *Pool) notePeersChanged() {
	if p.peersChanged == nil {
		return
	}
	select {
	case p.peersChanged <- struct{}{}:
	default:
	}
}

// forgetPeers removes the peer file as a graceful leave begins, so that
// the next start does not rejoin (unless RejoinAfterLeave), even when the
// agent is killed while its leave spreads.
func (p *Pool) forgetPeers() {
	if p.peersFile == "" || p.cfg.RejoinAfterLeave {
		return
	}
	p.peersLock.Lock()
	defer p.peersLock.Unlock()
	p.left = true
	err := os.Remove(p.peersFile)
	if err == nil {
		err = fsutil.SyncDir(filepath.Dir(p.peersFile))
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		p.cfg.Logger.Error("cannot remove the pool's member file on leaving", "pool", p.cfg.poolName(), "error", err)
	}
}

// rejoinPeers joins the members of the peer file at start, one at a time
// in the file's order (alive ones first), until one answers: one member
// is enough to learn the pool. It stops early when the pool shuts down;
// a shutdown waits at most for the one attempt under way (memberlist's
// TCP timeout).
func (p *Pool) rejoinPeers(peers []peerEntry) {
	defer p.wg.Done()
	tried := 0
	var errs []string
	for _, e := range peers {
		if e.Name == p.cfg.NodeName || e.Addr == "" {
			continue
		}
		if tried == maxPeers {
			break
		}
		select {
		case <-p.done:
			return
		default:
		}
		tried++
		n, err := p.serf.Join([]string{e.Name + "/" + e.Addr}, true)
		if n > 0 {
			p.cfg.Logger.Info("rejoined the members known at the last run", "pool", p.cfg.poolName(), "through", e.Name, "attempts", tried)
			return
		}
		if err == nil {
			err = errors.New("not reached")
		}
		errs = append(errs, fmt.Sprintf("%s (%s): %s", e.Name, e.Addr, oneLineError{err}.Error()))
	}
	if tried == 0 {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	p.cfg.Logger.Warn("could not rejoin any member known at the last run", "pool", p.cfg.poolName(), "members", tried, "errors", strings.Join(errs, "; "))
}
