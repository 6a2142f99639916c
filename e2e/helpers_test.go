package e2e

// Assertions shared by the test files: gossip pool contents, leaders,
// and the CLI's tables.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// Serf member statuses as /v1/agent/members reports them.
const (
	statusAlive  = 1
	statusLeft   = 3
	statusFailed = 4
)

// statusName names a member status as the CLI prints it.
func statusName(s int) string {
	switch s {
	case 1:
		return "alive"
	case 2:
		return "leaving"
	case 3:
		return "left"
	case 4:
		return "failed"
	}
	return fmt.Sprintf("status(%d)", s)
}

// pool returns the agent's LAN or WAN members by name.
func pool(a *agentProc, wan bool) (map[string]*api.AgentMember, error) {
	ms, err := a.API.Agent().Members(wan)
	if err != nil {
		return nil, fmt.Errorf("members of %s (wan=%v): %w", a.Name, wan, err)
	}
	out := make(map[string]*api.AgentMember, len(ms))
	for _, m := range ms {
		out[m.Name] = m
	}
	return out, nil
}

// poolIs checks that the agent's pool holds exactly the members of want,
// each with the wanted status ("alive", "failed", "left").
func poolIs(a *agentProc, wan bool, want map[string]string) error {
	got, err := pool(a, wan)
	if err != nil {
		return err
	}
	var diffs []string
	for name, st := range want {
		m, ok := got[name]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s missing (want %s)", name, st))
		case statusName(m.Status) != st:
			diffs = append(diffs, fmt.Sprintf("%s is %s (want %s)", name, statusName(m.Status), st))
		}
	}
	for name, m := range got {
		if _, ok := want[name]; !ok {
			diffs = append(diffs, fmt.Sprintf("unexpected member %s (%s)", name, statusName(m.Status)))
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		kind := "LAN"
		if wan {
			kind = "WAN"
		}
		return fmt.Errorf("%s pool of %s: %s", kind, a.Name, strings.Join(diffs, "; "))
	}
	return nil
}

// waitPool waits until every agent in as sees exactly want in its pool.
func waitPool(t testing.TB, timeout time.Duration, wan bool, want map[string]string, as ...*agentProc) {
	t.Helper()
	waitFor(t, timeout, "gossip pools to converge", func() error {
		for _, a := range as {
			if err := poolIs(a, wan, want); err != nil {
				return err
			}
		}
		return nil
	})
}

// allAlive maps names to "alive".
func allAlive(names ...string) map[string]string {
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[n] = "alive"
	}
	return m
}

// wanName is a server's name in the WAN pool.
func wanName(a *agentProc) string { return a.Name + "." + a.DC }

// names lists the agents' node names.
func names(as ...*agentProc) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Name
	}
	return out
}

// wanNames lists the agents' WAN names.
func wanNames(as ...*agentProc) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = wanName(a)
	}
	return out
}

// leaderOf returns the agent's view of its datacenter's leader.
func leaderOf(a *agentProc) (string, error) {
	l, err := a.API.Status().Leader()
	if err != nil {
		return "", fmt.Errorf("leader from %s: %w", a.Name, err)
	}
	if l == "" {
		return "", fmt.Errorf("%s knows no leader", a.Name)
	}
	return l, nil
}

// waitLeader waits until every agent in as names the same leader, and
// returns its server address (host:8300).
func waitLeader(t testing.TB, timeout time.Duration, as ...*agentProc) string {
	t.Helper()
	return waitLeaderNot(t, timeout, "", as...)
}

// waitLeaderNot is waitLeader for a leader other than old (after old
// failed, say).
func waitLeaderNot(t testing.TB, timeout time.Duration, old string, as ...*agentProc) string {
	t.Helper()
	var leader string
	waitFor(t, timeout, "one leader agreed by all", func() error {
		leader = ""
		for _, a := range as {
			l, err := leaderOf(a)
			if err != nil {
				return err
			}
			if l == old {
				return fmt.Errorf("%s still names the old leader %s", a.Name, old)
			}
			if leader != "" && l != leader {
				return fmt.Errorf("%s names leader %s, another agent names %s", a.Name, l, leader)
			}
			leader = l
		}
		return nil
	})
	return leader
}

// byRPCAddr finds the server whose RPC address is addr.
func byRPCAddr(t testing.TB, addr string, servers ...*agentProc) *agentProc {
	t.Helper()
	for _, s := range servers {
		if fmt.Sprintf("%s:%d", s.Host, s.Ports.Server) == addr {
			return s
		}
	}
	t.Fatalf("no server has RPC address %s", addr)
	return nil
}

// tableRow is one row of a CLI table, by column name.
type tableRow map[string]string

// parseTable reads a CLI table whose columns are separated by two or more
// spaces and whose first line names the columns.
func parseTable(t testing.TB, out string) []tableRow {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatalf("empty table")
	}
	header := splitCols(lines[0])
	var rows []tableRow
	for _, l := range lines[1:] {
		if strings.TrimSpace(l) == "" {
			continue
		}
		cells := splitCols(l)
		if len(cells) != len(header) {
			t.Fatalf("row %q has %d cells, header %q has %d", l, len(cells), lines[0], len(header))
		}
		r := tableRow{}
		for i, h := range header {
			r[h] = cells[i]
		}
		rows = append(rows, r)
	}
	return rows
}

// splitCols splits on runs of two or more spaces.
func splitCols(line string) []string {
	var out []string
	for _, f := range strings.Split(strings.TrimSpace(line), "  ") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// oneSentence checks that an error output is one non-empty line without a
// Go panic or stack trace in it.
func oneSentence(out string) error {
	s := strings.TrimSpace(out)
	switch {
	case s == "":
		return fmt.Errorf("no error message")
	case strings.Contains(s, "panic") || strings.Contains(s, "goroutine "):
		return fmt.Errorf("looks like a panic: %q", s)
	case strings.Contains(s, "\n"):
		return fmt.Errorf("more than one line: %q", s)
	}
	return nil
}

// waitPeersFile waits until the agent's member file (data_dir/serf/
// local.peers.json, or remote.peers.json for wan) lists every named
// member, so that a restart after a kill rejoins them. The pool writes it
// right after membership changes; serf's own snapshot may never record
// the members of a quiet pool (see gossip/peers.go).
func waitPeersFile(t testing.TB, a *agentProc, wan bool, members ...string) {
	t.Helper()
	file := filepath.Join(a.DataDir, "serf", "local.peers.json")
	if wan {
		file = filepath.Join(a.DataDir, "serf", "remote.peers.json")
	}
	waitFor(t, 10*time.Second, "the member file of "+a.Name, func() error {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		var f struct {
			Members []struct{ Name, Addr string }
		}
		if err := json.Unmarshal(b, &f); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		listed := map[string]bool{}
		for _, m := range f.Members {
			listed[m.Name] = m.Addr != ""
		}
		for _, m := range members {
			if !listed[m] {
				return fmt.Errorf("%s does not list %s", file, m)
			}
		}
		return nil
	})
}

// step runs one subtest of a sequence whose subtests build on each other
// (a cluster that one kills and the next restarts); after a failure the
// rest are skipped rather than failing for the same cause.
func step(t *testing.T, name string, fn func(t *testing.T)) {
	t.Helper()
	if t.Failed() {
		t.Run(name, func(t *testing.T) { t.Skip("skipped: an earlier step failed") })
		return
	}
	t.Run(name, fn)
}
