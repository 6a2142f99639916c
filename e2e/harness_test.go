package e2e

// The harness: TestMain finds or builds the binary; a cluster starts real
// agents, each on its own loopback host with the default ports, stops,
// kills and restarts them, and always cleans up, even when a test fails
// (the process group is killed, and with Pdeathsig the kernel kills agents
// whose test binary died). Tests drive agents through the official Consul
// API client (agentProc.API) and through the CLI (agentProc.CLI).

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// suite is what TestMain resolves once, before any test runs; tests only
// read it.
var suite struct {
	// bin is the absolute path of the meridian binary.
	bin string
	// net is the third octet of every host (MERIDIAN_E2E_NET, default 0).
	net int
	// logLevel is the agents' -log-level.
	logLevel string
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	suite.logLevel = "info"
	if v := os.Getenv("MERIDIAN_E2E_LOG_LEVEL"); v != "" {
		suite.logLevel = v
	}
	if v := os.Getenv("MERIDIAN_E2E_NET"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 255 {
			fmt.Fprintf(os.Stderr, "MERIDIAN_E2E_NET=%q: want a number from 0 to 255\n", v)
			return 2
		}
		suite.net = n
	} else {
		// Several runs of the suite on one machine (engineers, CI jobs)
		// would fight over the same hosts: each run holds a lock for its
		// network, 127.0.n.1:8499, and takes the first n free.
		lock, n, err := lockNet()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer lock.Close()
		suite.net = n
		if n != 0 && testing.Verbose() {
			fmt.Printf("127.0.0.x is in use by another run: this run uses 127.0.%d.x\n", n)
		}
	}
	bin := os.Getenv("MERIDIAN_BIN")
	if bin == "" {
		dir, err := os.MkdirTemp("", "meridian-e2e-bin-")
		if err != nil {
			fmt.Fprintf(os.Stderr, "make a directory for the binary: %v\n", err)
			return 2
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "meridian")
		start := time.Now()
		cmd := exec.Command("go", "build", "-o", bin, ".")
		cmd.Dir = ".." // the module root: tests run in e2e/
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build meridian: %v\n%s", err, out)
			return 2
		}
		if testing.Verbose() {
			fmt.Printf("built %s in %s\n", bin, time.Since(start).Round(time.Millisecond))
		}
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "MERIDIAN_BIN=%q: %v\n", bin, err)
		return 2
	}
	if _, err := os.Stat(abs); err != nil {
		fmt.Fprintf(os.Stderr, "meridian binary: %v\n", err)
		return 2
	}
	suite.bin = abs
	return m.Run()
}

// lockNet takes the first free network 127.0.n.x of the suite, holding
// the listener 127.0.n.1:8499 for the run.
func lockNet() (net.Listener, int, error) {
	for n := 0; n < 32; n++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.%d.1:8499", n))
		if err == nil {
			return ln, n, nil
		}
	}
	return nil, 0, fmt.Errorf("no free loopback network 127.0.n.x for the suite (n < 32): set MERIDIAN_E2E_NET")
}

// host returns the loopback address of host number x: 127.0.<net>.x for
// x below 256, and for the further blocks of 256 the networks 127.3.<net>.*,
// 127.4.<net>.* and so on (127.1 holds relays, 127.2 the lab), so host
// 300 is 127.3.<net>.44.
func host(x int) string {
	block, last := x/256, x%256
	second := 0
	if block > 0 {
		second = block + 2
	}
	return fmt.Sprintf("127.%d.%d.%d", second, suite.net, last)
}

// Default ports, as the agent uses them.
const (
	portServer  = 8300
	portSerfLAN = 8301
	portSerfWAN = 8302
	portHTTP    = 8500
)

// fastHCL makes failure detection and elections quick on loopback.
const fastHCL = `performance { raft_multiplier = 1 }
gossip_lan {
  probe_interval  = "200ms"
  probe_timeout   = "100ms"
  gossip_interval = "50ms"
  suspicion_mult  = 3
}
gossip_wan {
  probe_interval  = "200ms"
  probe_timeout   = "100ms"
  gossip_interval = "50ms"
  suspicion_mult  = 3
}
`

// Timeouts of the harness.
const (
	readyTimeout = 20 * time.Second // process start to HTTP answering
	stopTimeout  = 30 * time.Second // signal to process exit
	cliTimeout   = 30 * time.Second // one CLI invocation
	pollEvery    = 50 * time.Millisecond
)

// ports are an agent's ports; zero fields mean the default.
type ports struct {
	Server, SerfLAN, SerfWAN, HTTP int
}

func (p ports) withDefaults() ports {
	if p.Server == 0 {
		p.Server = portServer
	}
	if p.SerfLAN == 0 {
		p.SerfLAN = portSerfLAN
	}
	if p.SerfWAN == 0 {
		p.SerfWAN = portSerfWAN
	}
	if p.HTTP == 0 {
		p.HTTP = portHTTP
	}
	return p
}

// agentOpts describe an agent to start.
type agentOpts struct {
	// Name is the node name (required: tests name what they assert on).
	Name string
	// DC is the datacenter; default dc1.
	DC string
	// Server makes a server; BootstrapExpect and Bootstrap go with it.
	Server          bool
	BootstrapExpect int
	Bootstrap       bool
	// Join are LAN addresses given as -join at the first start only;
	// restarts rely on the serf snapshot in the data dir.
	Join []string
	// Encrypt is the gossip key (-encrypt).
	Encrypt string
	// Ports overrides default ports.
	Ports ports
	// HCL is appended to the agent's config file.
	HCL string
	// Args are extra agent flags, kept across restarts.
	Args []string
	// NoWait returns as soon as the process runs, without waiting for the
	// HTTP API.
	NoWait bool
	// DefaultTimings leaves out the fast gossip and Raft timings, for
	// figures taken with the defaults an operator gets.
	DefaultTimings bool
}

// cluster owns a set of agent processes on a range of loopback hosts.
type cluster struct {
	t     testing.TB
	root  string
	first int
	last  int

	mu     sync.Mutex
	next   int
	agents []*agentProc
}

// newCluster returns a cluster whose agents take hosts first to last (see
// host) in order. Every process is killed when the test ends.
func newCluster(t testing.TB, first, last int) *cluster {
	t.Helper()
	if first%256 < 2 || last%256 > 254 || first > last || first/256 != last/256 || last/256 > 20 {
		t.Fatalf("host range %d-%d: want first <= last within one block of 256, each between 2 and 254 in it", first, last)
	}
	// root is made before the cleanup is registered, so the cleanup (which
	// kills the agents) runs before the directory is removed.
	c := &cluster{t: t, root: t.TempDir(), first: first, last: last, next: first}
	t.Cleanup(c.cleanup)
	return c
}

// nextHost hands out the next host of the range.
func (c *cluster) nextHost() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next > c.last {
		c.t.Fatalf("host range %d-%d exhausted", c.first, c.last)
	}
	h := host(c.next)
	c.next++
	return h
}

// start starts an agent on the next free host and, unless opts.NoWait,
// waits until its HTTP API answers.
func (c *cluster) start(opts agentOpts) *agentProc {
	c.t.Helper()
	return c.startOn(c.nextHost(), opts)
}

// startOn is start on a given host.
func (c *cluster) startOn(h string, opts agentOpts) *agentProc {
	c.t.Helper()
	if opts.Name == "" {
		c.t.Fatal("agentOpts.Name is required")
	}
	if opts.DC == "" {
		opts.DC = "dc1"
	}
	p := opts.Ports.withDefaults()
	dir, err := os.MkdirTemp(c.root, opts.Name+"-")
	if err != nil {
		c.t.Fatalf("agent dir: %v", err)
	}
	a := &agentProc{
		c:          c,
		Name:       opts.Name,
		DC:         opts.DC,
		Host:       h,
		Server:     opts.Server,
		Ports:      p,
		DataDir:    filepath.Join(dir, "data"),
		ConfigFile: filepath.Join(dir, "agent.hcl"),
		LogFile:    filepath.Join(dir, "agent.log"),
		HTTPAddr:   net.JoinHostPort(h, strconv.Itoa(p.HTTP)),
		LANAddr:    net.JoinHostPort(h, strconv.Itoa(p.SerfLAN)),
		WANAddr:    net.JoinHostPort(h, strconv.Itoa(p.SerfWAN)),
	}
	hcl := fastHCL + opts.HCL
	if opts.DefaultTimings {
		hcl = opts.HCL
	}
	if err := os.WriteFile(a.ConfigFile, []byte(hcl), 0o600); err != nil {
		c.t.Fatalf("agent config: %v", err)
	}
	a.args = []string{
		"agent",
		"-node=" + opts.Name,
		"-datacenter=" + opts.DC,
		"-bind=" + h,
		"-client=" + h,
		"-data-dir=" + a.DataDir,
		"-config-file=" + a.ConfigFile,
		"-log-level=" + suite.logLevel,
		"-dns-port=-1",
		"-server-port=" + strconv.Itoa(p.Server),
		"-serf-lan-port=" + strconv.Itoa(p.SerfLAN),
		"-serf-wan-port=" + strconv.Itoa(p.SerfWAN),
		"-http-port=" + strconv.Itoa(p.HTTP),
	}
	if opts.Server {
		a.args = append(a.args, "-server")
	}
	if opts.BootstrapExpect > 0 {
		a.args = append(a.args, "-bootstrap-expect="+strconv.Itoa(opts.BootstrapExpect))
	}
	if opts.Bootstrap {
		a.args = append(a.args, "-bootstrap")
	}
	if opts.Encrypt != "" {
		a.args = append(a.args, "-encrypt="+opts.Encrypt)
	}
	a.args = append(a.args, opts.Args...)
	cfg := api.DefaultNonPooledConfig()
	cfg.Address = a.HTTPAddr
	if a.API, err = api.NewClient(cfg); err != nil {
		c.t.Fatalf("api client: %v", err)
	}

	// A busy port means another run of the suite (or a stray agent) holds
	// the host; say so instead of failing in a confusing way later.
	if ln, err := net.Listen("tcp", a.HTTPAddr); err != nil {
		c.t.Fatalf("agent %s: %s is taken (another test run? set MERIDIAN_E2E_NET): %v", a.Name, a.HTTPAddr, err)
	} else {
		ln.Close()
	}

	c.mu.Lock()
	c.agents = append(c.agents, a)
	c.mu.Unlock()

	var join []string
	for _, j := range opts.Join {
		join = append(join, "-join="+j)
	}
	a.launch(join)
	if !opts.NoWait {
		a.waitReady()
	}
	return a
}

// cleanup kills every agent still running and, if the test failed, shows
// the tail of every agent's log.
func (c *cluster) cleanup() {
	c.mu.Lock()
	agents := append([]*agentProc(nil), c.agents...)
	c.mu.Unlock()
	for _, a := range agents {
		a.killNow()
	}
	if c.t.Failed() {
		for _, a := range agents {
			c.t.Logf("---- log of %s (%s), last lines ----\n%s", a.Name, a.Host, a.logTail(80))
		}
	}
}

// agentProc is one agent process, restartable with the same data dir.
type agentProc struct {
	c *cluster

	// Name, DC, Host and Server describe the agent.
	Name   string
	DC     string
	Host   string
	Server bool
	// Ports are its ports; HTTPAddr, LANAddr and WANAddr are host:port.
	Ports    ports
	HTTPAddr string
	LANAddr  string
	WANAddr  string
	// DataDir, ConfigFile and LogFile are its files.
	DataDir    string
	ConfigFile string
	LogFile    string
	// API is an official Consul API client for the agent.
	API *api.Client

	args []string

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	exitCode int
	starts   int
	started  time.Time
	// readyAfter is how long the last start took to answer HTTP.
	readyAfter time.Duration
}

// launch starts the process with the agent's flags plus extra.
func (a *agentProc) launch(extra []string) {
	a.c.t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd != nil && !isClosed(a.exited) {
		a.c.t.Fatalf("agent %s is already running", a.Name)
	}
	logf, err := os.OpenFile(a.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		a.c.t.Fatalf("agent log: %v", err)
	}
	args := append(append([]string(nil), a.args...), extra...)
	a.starts++
	fmt.Fprintf(logf, "==== harness: start #%d: meridian %s\n", a.starts, strings.Join(args, " "))
	cmd := exec.Command(suite.bin, args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = cleanEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	a.started = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		a.c.t.Fatalf("start agent %s: %v", a.Name, err)
	}
	exited := make(chan struct{})
	a.cmd, a.exited = cmd, exited
	// The waiter ends when the process exits; cleanup kills it at the
	// latest.
	go func() {
		err := cmd.Wait()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			code = -1
		}
		fmt.Fprintf(logf, "==== harness: exited: %v (code %d)\n", err, code)
		logf.Close()
		a.mu.Lock()
		a.exitCode = code
		a.mu.Unlock()
		close(exited)
	}()
}

// cleanEnv is the test's environment without the variables that point CLI
// commands at an agent.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MERIDIAN_HTTP_ADDR=") || strings.HasPrefix(kv, "CONSUL_HTTP_ADDR=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Running reports whether the process is alive.
func (a *agentProc) Running() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cmd != nil && !isClosed(a.exited)
}

// Pid is the process ID of the current process.
func (a *agentProc) Pid() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cmd.Process.Pid
}

// waitReady waits until the HTTP API answers /v1/agent/self, failing the
// test if the process exits first.
func (a *agentProc) waitReady() time.Duration {
	a.c.t.Helper()
	a.mu.Lock()
	exited, started := a.exited, a.started
	a.mu.Unlock()
	hc := &http.Client{Timeout: time.Second}
	url := "http://" + a.HTTPAddr + "/v1/agent/self"
	deadline := time.Now().Add(readyTimeout)
	for {
		resp, err := hc.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			// 403: the API answers, refusing an anonymous read under
			// ACLs with default deny.
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusForbidden {
				d := time.Since(started)
				a.mu.Lock()
				a.readyAfter = d
				a.mu.Unlock()
				return d
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		// Poll finely at first: the figures use this time.
		every := pollEvery
		if time.Since(started) < 2*time.Second {
			every = 2 * time.Millisecond
		}
		select {
		case <-exited:
			a.c.t.Fatalf("agent %s exited with code %d before its API answered:\n%s", a.Name, a.ExitCode(), a.logTail(40))
		case <-time.After(every):
		}
		if time.Now().After(deadline) {
			a.c.t.Fatalf("agent %s: API at %s not ready after %s: %v", a.Name, a.HTTPAddr, readyTimeout, err)
		}
	}
}

// ExitCode is the exit code of the last process (valid once it exited).
func (a *agentProc) ExitCode() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.exitCode
}

// Signal sends sig to the agent process.
func (a *agentProc) Signal(sig syscall.Signal) {
	a.c.t.Helper()
	a.mu.Lock()
	cmd := a.cmd
	a.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil {
		a.c.t.Fatalf("signal %v to %s: %v", sig, a.Name, err)
	}
}

// Stop sends sig and waits for the process to exit, returning its exit
// code; after stopTimeout the test fails and the process is killed.
func (a *agentProc) Stop(sig syscall.Signal) int {
	a.c.t.Helper()
	a.Signal(sig)
	return a.WaitExit(stopTimeout)
}

// Kill sends SIGKILL and waits for the process to be gone.
func (a *agentProc) Kill() {
	a.c.t.Helper()
	a.Stop(syscall.SIGKILL)
}

// WaitExit waits for the process to exit and returns its exit code.
func (a *agentProc) WaitExit(timeout time.Duration) int {
	a.c.t.Helper()
	a.mu.Lock()
	exited := a.exited
	a.mu.Unlock()
	select {
	case <-exited:
		return a.ExitCode()
	case <-time.After(timeout):
		a.killNow()
		a.c.t.Fatalf("agent %s did not exit within %s", a.Name, timeout)
		return -1
	}
}

// killNow kills the process group, if running, and waits for the exit.
func (a *agentProc) killNow() {
	a.mu.Lock()
	cmd, exited := a.cmd, a.exited
	a.mu.Unlock()
	if cmd == nil || isClosed(exited) {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		a.c.t.Errorf("agent %s (pid %d) survived SIGKILL", a.Name, cmd.Process.Pid)
	}
}

// Restart starts the stopped agent again with the same flags and data
// dir, without -join (the serf snapshot rejoins), and waits until its API
// answers. extra flags are added to this start only.
func (a *agentProc) Restart(extra ...string) {
	a.c.t.Helper()
	a.launch(extra)
	a.waitReady()
}

// WipeData removes the stopped agent's data dir.
func (a *agentProc) WipeData() {
	a.c.t.Helper()
	if a.Running() {
		a.c.t.Fatalf("wipe data of running agent %s", a.Name)
	}
	if err := os.RemoveAll(a.DataDir); err != nil {
		a.c.t.Fatalf("wipe data of %s: %v", a.Name, err)
	}
}

// Log returns the agent's whole log (stdout and stderr of every start).
func (a *agentProc) Log() string {
	b, err := os.ReadFile(a.LogFile)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

// LastLog returns the log of the current (or last) start only.
func (a *agentProc) LastLog() string {
	l := a.Log()
	if i := strings.LastIndex(l, "==== harness: start #"); i >= 0 {
		return l[i:]
	}
	return l
}

func (a *agentProc) logTail(n int) string {
	lines := strings.Split(strings.TrimRight(a.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("(%d earlier lines)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// cliResult is the outcome of one CLI invocation.
type cliResult struct {
	Args     []string
	Stdout   string
	Stderr   string
	Code     int
	TimedOut bool
}

func (r cliResult) String() string {
	return fmt.Sprintf("meridian %s: exit %d (timed out: %v)\nstdout:\n%s\nstderr:\n%s",
		strings.Join(r.Args, " "), r.Code, r.TimedOut, r.Stdout, r.Stderr)
}

// CLI runs `meridian <verb> -http-addr=<agent> args...`; verb may have
// several words ("operator raft list-peers").
func (a *agentProc) CLI(verb string, args ...string) cliResult {
	a.c.t.Helper()
	all := append(strings.Fields(verb), "-http-addr="+a.HTTPAddr)
	return runMeridian(a.c.t, cliTimeout, append(all, args...)...)
}

// mustCLI is CLI that fails the test unless the exit code is 0.
func (a *agentProc) mustCLI(verb string, args ...string) cliResult {
	a.c.t.Helper()
	r := a.CLI(verb, args...)
	if r.Code != 0 || r.TimedOut {
		a.c.t.Fatalf("want success, got %s", r)
	}
	return r
}

// runMeridian runs the binary with args, killing it after timeout.
func runMeridian(t testing.TB, timeout time.Duration, args ...string) cliResult {
	t.Helper()
	return runMeridianEnv(t, timeout, nil, args...)
}

// runMeridianEnv is runMeridian with extra environment variables.
func runMeridianEnv(t testing.TB, timeout time.Duration, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, suite.bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(cleanEnv(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	r := cliResult{Args: args, Stdout: stdout.String(), Stderr: stderr.String(), TimedOut: ctx.Err() != nil}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run meridian %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// waitFor polls cond until it returns nil, failing the test with cond's
// last error after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		err := cond()
		if err == nil {
			if d := time.Since(start); d > 2*time.Second {
				t.Logf("waited %s for %s", d.Round(time.Millisecond), what)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(pollEvery)
	}
}

// httpDo sends a raw request to the agent and returns status and body,
// for what the API client hides (status codes of bad input).
func (a *agentProc) httpDo(method, path string, body io.Reader) (int, string) {
	a.c.t.Helper()
	req, err := http.NewRequest(method, "http://"+a.HTTPAddr+path, body)
	if err != nil {
		a.c.t.Fatalf("request %s %s: %v", method, path, err)
	}
	hc := &http.Client{Timeout: 20 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		a.c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, string(b)
}
