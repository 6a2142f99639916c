package lab

// The control socket: `lab partition`, `lab heal`, `lab status` and `lab
// down` send one JSON request line to the running lab's unix socket
// (lab.sock in its directory) and read one JSON response line.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Request is one control request.
type Request struct {
	// Op is status, partition, heal or down.
	Op string `json:"op"`
	// DCs are the datacenters partition and heal act on; heal without any
	// heals every partitioned one.
	DCs []string `json:"dcs,omitempty"`
}

// Response answers a Request.
type Response struct {
	// Error is one sentence when the request failed.
	Error string `json:"error,omitempty"`
	// Lines report what was done.
	Lines []string `json:"lines,omitempty"`
	// Status is the answer to status.
	Status *Status `json:"status,omitempty"`
}

// Status describes a running lab.
type Status struct {
	// PID is the lab process.
	PID int `json:"pid"`
	// Subnet and RTT are the lab's settings.
	Subnet string `json:"subnet"`
	RTT    string `json:"wan_rtt,omitempty"`
	// DCs in order.
	DCs []DCStatus `json:"dcs"`
	// Unidentified counts relayed TCP connections whose source was not
	// found (they get no latency).
	Unidentified int64 `json:"unidentified_connections,omitempty"`
}

// DCStatus is one datacenter's line of lab status.
type DCStatus struct {
	Name        string `json:"name"`
	HTTP        string `json:"http"`
	Servers     int    `json:"servers"`
	Clients     int    `json:"clients"`
	Partitioned bool   `json:"partitioned"`
	// Leader is the leader's node name, or "" when there is none; Error
	// says why it could not be asked.
	Leader string `json:"leader"`
	Error  string `json:"error,omitempty"`
}

// requestTimeout caps one control exchange on the client's side; heal
// waits for the WAN pool, so it is the longest.
const requestTimeout = HealTimeout + 30*time.Second

// maxRequest bounds a request line.
const maxRequest = 64 << 10

// listenControl opens the control socket and serves it until Close.
func (l *Lab) listenControl() error {
	path := filepath.Join(l.cfg.Dir, SocketFile)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("control socket %s: %w (a unix socket path must be shorter than about 100 bytes: choose a shorter -dir)", path, err)
	}
	l.ctl = ln
	l.stopCh = make(chan struct{})
	l.ctlWG.Add(1)
	go func() {
		defer l.ctlWG.Done()
		var wg sync.WaitGroup
		defer wg.Wait()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.serve(c)
			}()
		}
	}()
	return nil
}

// StopRequested is closed when `lab down` asks the lab to stop.
func (l *Lab) StopRequested() <-chan struct{} { return l.stopCh }

func (l *Lab) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(requestTimeout))
	line, err := bufio.NewReaderSize(c, 4096).ReadSlice('\n')
	if err != nil && len(line) == 0 {
		return
	}
	var req Request
	var resp Response
	if len(line) > maxRequest {
		resp.Error = "request too large"
	} else if err := json.Unmarshal(line, &req); err != nil {
		resp.Error = "bad request: " + err.Error()
	} else {
		resp = l.Do(context.Background(), req)
	}
	b, _ := json.Marshal(resp)
	c.Write(append(b, '\n'))
}

// Do carries out one control request.
func (l *Lab) Do(ctx context.Context, req Request) Response {
	switch req.Op {
	case "status":
		return Response{Status: l.Status(ctx)}
	case "partition":
		lines, err := l.Partition(req.DCs)
		return respond(lines, err)
	case "heal":
		ctx, cancel := context.WithTimeout(ctx, HealTimeout)
		defer cancel()
		lines, err := l.Heal(ctx, req.DCs)
		return respond(lines, err)
	case "down":
		l.stopOnce.Do(func() { close(l.stopCh) })
		return Response{Lines: []string{"The lab is stopping."}}
	default:
		return Response{Error: fmt.Sprintf("unknown operation %q", req.Op)}
	}
}

func respond(lines []string, err error) Response {
	if err != nil {
		return Response{Lines: lines, Error: err.Error()}
	}
	return Response{Lines: lines}
}

// checkDCs refuses names that are not the lab's datacenters.
func (l *Lab) checkDCs(dcs []string) error {
	for _, dc := range dcs {
		if l.plan.DC(dc) == nil {
			return fmt.Errorf("unknown datacenter %q: the lab has %s", dc, strings.Join(l.plan.DCNames(), ", "))
		}
	}
	return nil
}

// Partition cuts the WAN links of each datacenter in dcs.
func (l *Lab) Partition(dcs []string) ([]string, error) {
	if len(dcs) == 0 {
		return nil, errors.New("name the datacenters to partition")
	}
	if err := l.checkDCs(dcs); err != nil {
		return nil, err
	}
	l.opMu.Lock()
	defer l.opMu.Unlock()
	var lines []string
	for _, dc := range dcs {
		if l.fab.partition(dc) {
			lines = append(lines, fmt.Sprintf("%s is partitioned: its WAN links to the other datacenters are cut, its LAN works.", dc))
		} else {
			lines = append(lines, fmt.Sprintf("%s was already partitioned.", dc))
		}
	}
	for _, line := range lines {
		l.progress("%s", line)
	}
	return lines, nil
}

// Heal restores the WAN links of dcs (every partitioned datacenter when
// dcs is empty), has the healed datacenters' servers join the others
// again, and waits until every server sees every other alive.
func (l *Lab) Heal(ctx context.Context, dcs []string) ([]string, error) {
	if err := l.checkDCs(dcs); err != nil {
		return nil, err
	}
	l.opMu.Lock()
	defer l.opMu.Unlock()
	if len(dcs) == 0 {
		dcs = l.sortedCut()
	}
	var healed, lines []string
	for _, dc := range dcs {
		if l.fab.heal(dc) {
			healed = append(healed, dc)
		} else {
			lines = append(lines, fmt.Sprintf("%s was not partitioned.", dc))
		}
	}
	if len(healed) == 0 {
		if len(lines) == 0 {
			lines = append(lines, "No datacenter is partitioned.")
		}
		return lines, nil
	}
	begin := time.Now()
	l.progress("Healing %s: WAN links restored, rejoining", strings.Join(healed, ", "))
	// Gossip heals by itself only when serf's reconnect timer (30s)
	// fires: a join from each healed datacenter to every other one, as an
	// operator would do, merges the pools at once.
	// Datacenters still partitioned stay out of the joins and the wait.
	var connected []string
	for _, dc := range l.plan.DCNames() {
		if !l.fab.partitioned(dc) {
			connected = append(connected, dc)
		}
	}
	for _, dc := range healed {
		from := l.plan.Servers(dc)[0]
		for _, other := range connected {
			if other == dc {
				continue
			}
			addr := l.plan.Servers(other)[0].Relay
			if err := l.api(from).Agent().Join(addr, true); err != nil {
				return lines, fmt.Errorf("%s could not join the WAN pool at %s again: %w", from.Name, addr, err)
			}
		}
	}
	if err := l.waitWANAmong(ctx, connected); err != nil {
		return lines, err
	}
	what := "every server sees every other in the WAN pool"
	if len(connected) < len(l.plan.DCs) {
		what = "the servers of " + strings.Join(connected, ", ") + " see each other in the WAN pool"
	}
	line := fmt.Sprintf("%s healed: %s (%s).", strings.Join(healed, ", "), what, since(begin))
	l.progress("%s", line)
	return append(lines, line), nil
}

// Status reports the datacenters, asking each for its leader.
func (l *Lab) Status(ctx context.Context) *Status {
	st := &Status{PID: os.Getpid(), Subnet: l.plan.Subnet, RTT: l.plan.RTT, Unidentified: l.fab.unidentified.Load()}
	st.DCs = make([]DCStatus, len(l.plan.DCs))
	var wg sync.WaitGroup
	for i, dc := range l.plan.DCs {
		st.DCs[i] = DCStatus{Name: dc.Name, HTTP: dc.HTTP, Servers: dc.Servers, Clients: dc.Clients, Partitioned: l.fab.partitioned(dc.Name)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr, err := l.api(dc.Agents[0]).Status().Leader()
			switch {
			case err != nil:
				st.DCs[i].Error = err.Error()
			case addr != "":
				st.DCs[i].Leader = l.nameOf(addr)
			}
		}()
	}
	wg.Wait()
	return st
}

// ErrNotRunning is Call's error when no lab runs in the directory.
var ErrNotRunning = errors.New("no lab is running")

// Call sends req to the lab running in dir.
func Call(dir string, req Request) (*Response, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("%w in %s: %v", ErrNotRunning, abs, err)
	}
	if !Running(abs) {
		return nil, fmt.Errorf("%w in %s", ErrNotRunning, abs)
	}
	c, err := net.DialTimeout("unix", filepath.Join(abs, SocketFile), 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w in %s (its control socket does not answer: %v)", ErrNotRunning, abs, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(requestTimeout))
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("send to the lab in %s: %w", abs, err)
	}
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("read the answer of the lab in %s: %w", abs, err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, fmt.Errorf("read the answer of the lab in %s: %w", abs, err)
	}
	return &resp, nil
}

// Running reports whether a lab holds dir's lock.
func Running(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, LockFile)); err != nil {
		return false
	}
	f, err := lockFile(filepath.Join(dir, LockFile))
	if errors.Is(err, errLocked) {
		return true
	}
	if f != nil {
		f.Close()
	}
	return false
}

// Down stops the lab running in dir and waits for it to exit; then it kills
// any agent of the lab still alive (left over by a lab killed where the
// parent-death signal does not exist). It reports what it did.
func Down(dir string, timeout time.Duration) ([]string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	var lines []string
	st, stErr := ReadState(abs)
	if Running(abs) {
		if _, err := Call(abs, Request{Op: "down"}); err != nil {
			if st == nil || !alive(st.PID) {
				return nil, err
			}
			// The socket is gone or stuck: signal the process.
			if p, err := os.FindProcess(st.PID); err == nil {
				terminate(p)
			}
		}
		deadline := time.Now().Add(timeout)
		for Running(abs) {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("the lab in %s did not stop within %s", abs, timeout)
			}
			time.Sleep(pollEvery)
		}
		lines = append(lines, "The lab in "+abs+" stopped.")
	} else {
		lines = append(lines, "No lab is running in "+abs+".")
	}
	if stErr == nil {
		if n := killLeftovers(st, abs); n > 0 {
			lines = append(lines, fmt.Sprintf("Killed %d agents left over by a previous lab.", n))
		}
	}
	return lines, nil
}
