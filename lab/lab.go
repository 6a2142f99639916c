package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
)

// Files in the lab's directory.
const (
	// StateFile holds the plan and the agents' process IDs (JSON).
	StateFile = "lab.json"
	// LockFile is held by the running lab.
	LockFile = "lab.lock"
	// SocketFile is the running lab's control socket.
	SocketFile = "lab.sock"
	// AgentConfigFile is the configuration every agent reads.
	AgentConfigFile = "agent.hcl"
)

// Timeouts of the lab.
const (
	// ReadyTimeout caps `lab up` from start to every datacenter ready.
	ReadyTimeout = 2 * time.Minute
	// HealTimeout caps waiting for the WAN pool after a heal.
	HealTimeout = time.Minute
	// stopGrace is how long agents have to exit after SIGTERM.
	stopGrace = 10 * time.Second
	pollEvery = 100 * time.Millisecond
)

// errLocked is lockFile's answer when another process holds the lock.
var errLocked = errors.New("locked")

// State is the content of lab.json.
type State struct {
	// PID is the lab process.
	PID int `json:"pid"`
	// Plan is the layout, with the agents' process IDs.
	Plan *Plan `json:"plan"`
}

// Lab is a running lab.
type Lab struct {
	cfg  Config
	plan *Plan
	out  io.Writer
	fab  *fabric

	lock   *os.File
	relays []*relay
	ctl    net.Listener
	ctlWG  sync.WaitGroup

	spawnCh chan spawnReq
	spawnWG sync.WaitGroup

	mu    sync.Mutex
	procs []*agentProc
	// opMu serialises partition and heal.
	opMu sync.Mutex

	stopCh   chan struct{}
	stopOnce sync.Once

	closeOnce sync.Once
}

// agentProc is one running agent.
type agentProc struct {
	a      *Agent
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

// Up starts a lab: it checks the directory and the addresses, starts the
// relays and the agents, and returns once every datacenter has a leader
// and every server sees every other in the WAN pool, reporting progress
// on out. On error everything started is stopped again.
func Up(ctx context.Context, cfg Config, out io.Writer) (*Lab, error) {
	if errUnsupported != nil {
		return nil, errUnsupported
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "info"
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("-dir %q: %w", cfg.Dir, err)
	}
	cfg.Dir = dir
	l := &Lab{cfg: cfg, out: out, spawnCh: make(chan spawnReq)}
	if err := l.claimDir(); err != nil {
		return nil, err
	}
	l.plan = NewPlan(&l.cfg)
	if err := l.checkAddresses(); err != nil {
		l.lock.Close()
		return nil, err
	}
	if err := l.start(ctx); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Plan is the lab's layout.
func (l *Lab) Plan() *Plan { return l.plan }

// Dir is the lab's directory (absolute).
func (l *Lab) Dir() string { return l.cfg.Dir }

func (l *Lab) progress(format string, args ...any) {
	fmt.Fprintf(l.out, "==> "+format+"\n", args...)
}

// claimDir makes the directory, refuses one in use by a running lab or
// holding something else, takes the lock and clears a previous lab's
// leftovers.
func (l *Lab) claimDir() error {
	dir := l.cfg.Dir
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return fmt.Errorf("-dir %s is a file, not a directory", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("make -dir %s: %w", dir, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read -dir %s: %w", dir, err)
	}
	ours := map[string]bool{StateFile: true, LockFile: true, SocketFile: true, AgentConfigFile: true}
	hasState := false
	for _, e := range ents {
		if e.Name() == StateFile {
			hasState = true
		}
	}
	for _, e := range ents {
		if !ours[e.Name()] && !(hasState && e.IsDir() && dcIndex(e.Name()) > 0) {
			return fmt.Errorf("-dir %s holds %s and is not a lab's directory: choose an empty or new directory", dir, e.Name())
		}
	}
	lock, err := lockFile(filepath.Join(dir, LockFile))
	if errors.Is(err, errLocked) {
		who := ""
		if st, err := ReadState(dir); err == nil {
			who = fmt.Sprintf(" (pid %d)", st.PID)
		}
		return fmt.Errorf("-dir %s is in use by a running lab%s: stop it with `meridian lab down -dir %s` or choose another directory", dir, who, dir)
	}
	if err != nil {
		return err
	}
	l.lock = lock
	// A previous lab stopped (or was killed): start over. Agents it left
	// behind (only possible without the parent-death signal) go first.
	if hasState {
		if st, err := ReadState(dir); err == nil {
			killLeftovers(st, dir)
		}
		for _, e := range ents {
			if e.IsDir() && dcIndex(e.Name()) > 0 {
				if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
					lock.Close()
					return fmt.Errorf("remove the previous lab's %s: %w", e.Name(), err)
				}
			}
		}
	}
	for _, f := range []string{StateFile, SocketFile} {
		os.Remove(filepath.Join(dir, f))
	}
	return nil
}

// checkAddresses makes sure no other process holds the lab's addresses.
func (l *Lab) checkAddresses() error {
	try := func(host string, port int) error {
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("%s is in use (another lab or agent on -subnet %s?): choose another -subnet", addr, l.plan.Subnet)
		}
		return ln.Close()
	}
	for _, a := range l.plan.Agents() {
		if err := try(a.Host, PortHTTP); err != nil {
			return err
		}
		if a.Server {
			if err := try(a.Relay, PortSerfWAN); err != nil {
				return err
			}
		}
	}
	return nil
}

// start brings the lab up.
func (l *Lab) start(ctx context.Context) error {
	begin := time.Now()
	maxRTT := l.cfg.MaxRTTOf()
	if err := os.WriteFile(filepath.Join(l.cfg.Dir, AgentConfigFile), []byte(agentHCL(maxRTT)), 0o600); err != nil {
		return fmt.Errorf("write agent config: %w", err)
	}
	hosts := l.plan.hostDCs()
	l.fab = newFabric(l.cfg.RTT, hosts, l.tcpSource)
	for _, s := range l.plan.Servers("") {
		r, err := startRelay(l.fab, s.DC, s.Relay, s.Host)
		if err != nil {
			return err
		}
		l.relays = append(l.relays, r)
	}
	rtt := "no injected WAN latency"
	if l.plan.RTT != "" {
		rtt = "WAN round trips " + strings.ReplaceAll(l.plan.RTT, ",", ", ")
	}
	l.progress("Starting %d datacenters of %d servers and %d clients on %s (%s); logs in %s",
		len(l.plan.DCs), l.cfg.Servers, l.cfg.Clients, l.plan.Subnet, rtt, l.cfg.Dir)

	l.spawnWG.Add(1)
	go l.spawner()
	for _, a := range l.plan.Agents() {
		if err := l.startAgent(a); err != nil {
			return err
		}
	}
	if err := l.writeState(); err != nil {
		return err
	}
	if err := l.listenControl(); err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	if err := l.waitAll(ctx, "answering HTTP", func(ctx context.Context, a *Agent) error {
		_, err := l.api(a).Agent().Self()
		return err
	}); err != nil {
		return err
	}
	l.progress("%d agents answer HTTP (%s)", len(l.plan.Agents()), since(begin))
	var wg sync.WaitGroup
	errs := make([]error, len(l.plan.DCs))
	var outMu sync.Mutex
	for i, dc := range l.plan.DCs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			leader, err := l.waitLeader(ctx, dc)
			if err != nil {
				errs[i] = err
				return
			}
			outMu.Lock()
			l.progress("%s has a leader: %s (%s)", dc.Name, leader, since(begin))
			outMu.Unlock()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := l.waitWAN(ctx); err != nil {
		return err
	}
	l.progress("WAN pool complete: %d servers of %d datacenters see each other (%s)",
		len(l.plan.Servers("")), len(l.plan.DCs), since(begin))
	return nil
}

func since(t time.Time) string { return time.Since(t).Round(10 * time.Millisecond).String() }

// spawner starts every agent from one goroutine locked to its thread: the
// parent-death signal fires when the thread that forked the child ends,
// and this thread lives exactly as long as the lab.
func (l *Lab) spawner() {
	defer l.spawnWG.Done()
	runtime.LockOSThread()
	for req := range l.spawnCh {
		req.done <- req.cmd.Start()
	}
	// The goroutine ends locked, so the thread ends with it and the
	// kernel kills any agent still alive.
}

// startAgent starts one agent process.
func (l *Lab) startAgent(a *Agent) error {
	if err := os.MkdirAll(a.Dir, 0o700); err != nil {
		return fmt.Errorf("agent %s: %w", a.Name, err)
	}
	logf, err := os.OpenFile(a.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("agent %s log: %w", a.Name, err)
	}
	args := l.agentArgs(a)
	fmt.Fprintf(logf, "==== meridian lab: %s %s\n", l.cfg.Binary, strings.Join(args, " "))
	cmd := exec.Command(l.cfg.Binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = a.Dir
	cmd.Env = labEnv()
	cmd.SysProcAttr = procAttr()
	done := make(chan error, 1)
	l.spawnCh <- spawnReq{cmd: cmd, done: done}
	if err := <-done; err != nil {
		logf.Close()
		return fmt.Errorf("start agent %s: %w", a.Name, err)
	}
	a.PID = cmd.Process.Pid
	p := &agentProc{a: a, cmd: cmd, exited: make(chan struct{})}
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		fmt.Fprintf(logf, "==== meridian lab: exited: %v\n", p.err)
		logf.Close()
		close(p.exited)
	}()
	return nil
}

// labEnv is the lab's environment without what points CLI verbs at an
// agent (agents do not need it; it would confuse nothing, but a clean
// environment keeps the lab reproducible).
func labEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MERIDIAN_HTTP_ADDR=") || strings.HasPrefix(kv, "CONSUL_HTTP_ADDR=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// agentArgs are the agent's flags: its own address with the default ports,
// the lab's config file, the LAN join to its datacenter's first server
// and, for servers, the relay as WAN address and the WAN join to dc1's
// first server (through its relay).
func (l *Lab) agentArgs(a *Agent) []string {
	args := []string{
		"agent",
		"-node=" + a.Name,
		"-datacenter=" + a.DC,
		"-bind=" + a.Host,
		"-client=" + a.Host,
		"-data-dir=" + filepath.Join(a.Dir, "data"),
		"-config-file=" + filepath.Join(l.cfg.Dir, AgentConfigFile),
		"-log-level=" + l.cfg.LogLevel,
	}
	first := l.plan.Servers(a.DC)[0]
	if a != first {
		args = append(args, "-retry-join="+first.Host, "-retry-interval=1s")
	}
	if a.Server {
		args = append(args, "-server", "-bootstrap-expect="+strconv.Itoa(l.cfg.Servers), "-advertise-wan="+a.Relay)
		if seed := l.plan.Servers("")[0]; a != seed {
			args = append(args, "-retry-join-wan="+seed.Relay, "-retry-interval-wan=1s")
		}
	}
	return args
}

// tcpSource finds the datacenter of the agent at the other end of c, and
// whether that end is closed already.
func (l *Lab) tcpSource(c net.Conn) (string, bool) {
	l.mu.Lock()
	pids := make([]int, 0, len(l.procs))
	byPID := map[int]string{}
	for _, p := range l.procs {
		if p.a.Server { // only servers speak on the WAN
			pids = append(pids, p.a.PID)
			byPID[p.a.PID] = p.a.DC
		}
	}
	l.mu.Unlock()
	pid := tcpOwner(c, pids)
	return byPID[pid], pid < 0
}

// api is an API client for a.
func (l *Lab) api(a *Agent) *api.Client {
	cfg := api.DefaultNonPooledConfig()
	cfg.Address = a.HTTPAddr()
	cfg.HttpClient = &http.Client{Timeout: 5 * time.Second}
	c, _ := api.NewClient(cfg) // only fails on a bad TLS config, which this has none of
	return c
}

// exitedEarly reports an agent that is no longer running.
func (l *Lab) exitedEarly() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.procs {
		select {
		case <-p.exited:
			return fmt.Errorf("agent %s exited (%v); its log is %s", p.a.Name, p.err, p.a.LogFile())
		default:
		}
	}
	return nil
}

// poll runs cond until it succeeds, an agent dies or ctx ends; the error
// names what was awaited and cond's last error.
func (l *Lab) poll(ctx context.Context, what string, cond func() error) error {
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if e := l.exitedEarly(); e != nil {
			return e
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not done when the lab gave up (%v): %w", what, ctx.Err(), err)
		case <-time.After(pollEvery):
		}
	}
}

// waitAll polls cond for every agent in parallel.
func (l *Lab) waitAll(ctx context.Context, what string, cond func(context.Context, *Agent) error) error {
	agents := l.plan.Agents()
	errs := make([]error, len(agents))
	var wg sync.WaitGroup
	for i, a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.poll(ctx, a.Name+" "+what, func() error { return cond(ctx, a) })
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitLeader waits until dc's entry agent knows a leader and returns the
// leader's node name.
func (l *Lab) waitLeader(ctx context.Context, dc *DC) (string, error) {
	var leader string
	err := l.poll(ctx, dc.Name+" electing a leader", func() error {
		addr, err := l.api(dc.Agents[0]).Status().Leader()
		if err != nil {
			return err
		}
		if addr == "" {
			return errors.New("no leader yet")
		}
		leader = l.nameOf(addr)
		return nil
	})
	return leader, err
}

// nameOf maps a server's RPC address to its node name.
func (l *Lab) nameOf(addr string) string {
	host, _, _ := net.SplitHostPort(addr)
	for _, a := range l.plan.Agents() {
		if a.Host == host || a.Relay == host {
			return a.Name
		}
	}
	return addr
}

// waitWAN waits until every server sees every server alive in the WAN pool.
func (l *Lab) waitWAN(ctx context.Context) error {
	return l.waitWANAmong(ctx, l.plan.DCNames())
}

// waitWANAmong waits until every server of dcs sees every server of dcs
// alive in the WAN pool (servers of other datacenters may be failed).
func (l *Lab) waitWANAmong(ctx context.Context, dcs []string) error {
	var servers []*Agent
	want := map[string]bool{}
	for _, dc := range dcs {
		for _, s := range l.plan.Servers(dc) {
			servers = append(servers, s)
			want[s.Name+"."+s.DC] = true
		}
	}
	for _, s := range servers {
		err := l.poll(ctx, s.Name+" seeing the whole WAN pool", func() error {
			ms, err := l.api(s).Agent().Members(true)
			if err != nil {
				return err
			}
			alive := 0
			for _, m := range ms {
				if m.Status == 1 && want[m.Name] { // serf.StatusAlive
					alive++
				}
			}
			if alive != len(want) {
				return fmt.Errorf("%d of %d servers alive", alive, len(want))
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// writeState writes lab.json.
func (l *Lab) writeState() error {
	b, err := json.MarshalIndent(State{PID: os.Getpid(), Plan: l.plan}, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(l.cfg.Dir, StateFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ReadState reads lab.json from dir.
func ReadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, StateFile), err)
	}
	if st.Plan == nil {
		return nil, fmt.Errorf("read %s: no plan in it", filepath.Join(dir, StateFile))
	}
	return &st, nil
}

// Close stops every agent (SIGTERM, then SIGKILL after a grace period),
// the relays and the control socket. It is safe to call more than once.
func (l *Lab) Close() {
	l.closeOnce.Do(func() {
		if l.ctl != nil {
			l.ctl.Close()
			l.ctlWG.Wait()
			os.Remove(filepath.Join(l.cfg.Dir, SocketFile))
		}
		l.mu.Lock()
		procs := append([]*agentProc(nil), l.procs...)
		l.mu.Unlock()
		for _, p := range procs {
			terminate(p.cmd.Process)
		}
		deadline := time.After(stopGrace)
		for _, p := range procs {
			select {
			case <-p.exited:
			case <-deadline:
				killGroup(p.cmd.Process.Pid)
				<-p.exited
			}
		}
		// Anything the agents started themselves (script checks) dies
		// with their process groups.
		for _, p := range procs {
			killGroup(p.cmd.Process.Pid)
		}
		close(l.spawnCh)
		l.spawnWG.Wait()
		for _, r := range l.relays {
			r.Close()
		}
		if l.lock != nil {
			l.lock.Close()
		}
	})
}

// killLeftovers kills agents of a previous lab in dir that are still
// running; a process ID counts only if its command line names dir, so a
// reused ID is never hit.
func killLeftovers(st *State, dir string) int {
	n := 0
	for _, a := range st.Plan.Agents() {
		if a.PID > 0 && strings.Contains(cmdline(a.PID), dir) {
			if killPID(a.PID) == nil {
				n++
			}
		}
	}
	return n
}

// sortedCut lists the partitioned datacenters in order.
func (l *Lab) sortedCut() []string {
	var out []string
	for _, dc := range l.plan.DCNames() {
		if l.fab.partitioned(dc) {
			out = append(out, dc)
		}
	}
	sort.Slice(out, func(i, j int) bool { return dcIndex(out[i]) < dcIndex(out[j]) })
	return out
}
