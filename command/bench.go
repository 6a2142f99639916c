package command

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"
)

// BenchCommand drives load against any Consul-compatible HTTP API through
// the official Go client and prints latency percentiles and throughput as
// JSON, so that Meridian and another agent can be compared on the same
// machine with the same workload.
type BenchCommand struct {
	UI cli.Ui
}

var _ cli.Command = (*BenchCommand)(nil)

// benchWorkloads are the workloads bench knows, with what one operation is.
var benchWorkloads = map[string]string{
	"catalog-read": "GET /v1/catalog/nodes",
	"kv-read":      "GET /v1/kv/<key> of one of -keys keys (written first)",
	"kv-write":     "PUT /v1/kv/<key> of one of -keys keys",
	"blocking":     "a watcher's blocking GET /v1/kv/<key> waking on a PUT; latency from the PUT's start",
}

// benchOpts are bench's settings after parsing.
type benchOpts struct {
	workload    string
	concurrency int
	duration    time.Duration
	warmup      time.Duration
	keys        int
	valueSize   int
	consistency string
	dc          string
	prefix      string
	interval    time.Duration
}

// BenchResult is bench's JSON output.
type BenchResult struct {
	// Workload is the workload's name, such as "kv-read".
	Workload string `json:"workload"`
	// Consistency is the read mode: default, stale or consistent.
	Consistency string `json:"consistency,omitempty"`
	// Datacenter is the datacenter named by ?dc, empty for the agent's own.
	Datacenter string `json:"datacenter,omitempty"`
	// Concurrency is the number of workers (watchers for "blocking").
	Concurrency int `json:"concurrency"`
	// Keys is the number of distinct keys used.
	Keys int `json:"keys"`
	// DurationSec is the measured time, in seconds (warm-up excluded).
	DurationSec float64 `json:"duration_s"`
	// Ops is the number of operations that succeeded (wake-ups for
	// "blocking").
	Ops int64 `json:"ops"`
	// Errors is the number of operations that failed.
	Errors int64 `json:"errors"`
	// OpsPerSec is Ops divided by DurationSec.
	OpsPerSec float64 `json:"ops_per_sec"`
	// P50Micros, P90Micros, P99Micros and MaxMicros are latency
	// percentiles of the successful operations, in microseconds.
	P50Micros float64 `json:"p50_us"`
	P90Micros float64 `json:"p90_us"`
	P99Micros float64 `json:"p99_us"`
	MaxMicros float64 `json:"max_us"`
	// AfterWriteP50Micros and AfterWriteP99Micros ("blocking" only) time
	// the wake-up alone: from the moment the writer had its answer (the
	// write committed) to the watcher's, 0 when the watcher had the value
	// first. The p50_us ... figures count from the write's start, so they
	// include the write's own commit.
	AfterWriteP50Micros float64 `json:"after_write_p50_us,omitempty"`
	AfterWriteP99Micros float64 `json:"after_write_p99_us,omitempty"`
	// FirstError is the text of the first failure, if any.
	FirstError string `json:"first_error,omitempty"`
	// LoadAvg1m is the machine's one-minute load average at the end, where
	// the system reports it (Linux), to judge how busy the machine was.
	LoadAvg1m *float64 `json:"load_avg_1m,omitempty"`
}

// Synopsis implements cli.Command.
func (c *BenchCommand) Synopsis() string {
	return "Drives load against a Consul-compatible HTTP API and prints latency and throughput"
}

func (c *BenchCommand) flags() (*flag.FlagSet, *httpFlags, *benchOpts) {
	fs := newFlagSet("bench")
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	o := &benchOpts{}
	fs.IntVar(&o.concurrency, "concurrency", 16, "How many workers run at once (watchers for the blocking workload). Default 16.")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "How long to measure, after the warm-up. Default 10s.")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "How long to run the workload before measuring (connections, caches). Default 1s.")
	fs.IntVar(&o.keys, "keys", 100, "How many distinct keys the KV workloads use. Default 100.")
	fs.IntVar(&o.valueSize, "value-size", 64, "The size of each written value, in bytes. Default 64.")
	fs.StringVar(&o.consistency, "consistency", "default", "The read mode: default, stale or consistent. Default default.")
	fs.StringVar(&o.dc, "datacenter", "", "The datacenter to send requests to (?dc=); default the agent's own. "+
		"Another datacenter's name measures forwarded requests.")
	fs.StringVar(&o.prefix, "prefix", "meridian-bench/", "The KV prefix the workloads use; keys under it are overwritten. Default meridian-bench/.")
	fs.DurationVar(&o.interval, "interval", 50*time.Millisecond, "For the blocking workload: the time between writes of the watched key. Default 50ms.")
	return fs, h, o
}

// Help implements cli.Command.
func (c *BenchCommand) Help() string {
	fs, _, _ := c.flags()
	names := make([]string, 0, len(benchWorkloads))
	for n := range benchWorkloads {
		names = append(names, n)
	}
	sort.Strings(names)
	var w strings.Builder
	for _, n := range names {
		fmt.Fprintf(&w, "  %-13s %s\n", n, benchWorkloads[n])
	}
	return strings.TrimSpace(`
Usage: meridian bench [options] <workload>

  Drives load against the HTTP API of a Meridian agent, or of any agent
  with a Consul-compatible API, through the official Consul Go client, and
  prints one JSON object: operations, errors, throughput and latency
  percentiles (p50, p90, p99, max, in microseconds) of the measured
  period, and the machine's load average at the end.

  Workloads:

`+w.String()+`
  KV workloads write under -prefix (overwriting what is there) and leave
  their keys behind. Run the same command against each agent to compare
  them; run it from a separate machine, or watch the load average, since
  the tool itself uses CPU.

Options:

`) + "\n" + flagHelp(fs)
}

// Run implements cli.Command.
func (c *BenchCommand) Run(args []string) int {
	fs, h, o := c.flags()
	if err := fs.Parse(args); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	if fs.NArg() != 1 {
		c.UI.Error("Error: bench takes one workload: catalog-read, kv-read, kv-write or blocking")
		return 1
	}
	o.workload = fs.Arg(0)
	if err := o.validate(); err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	cfg := api.DefaultConfig() // pooled: keeps connections open between requests
	// One idle connection per worker, plus the blocking workload's writer.
	cfg.Transport.MaxIdleConnsPerHost = o.concurrency + 1
	cfg.Transport.MaxIdleConns = o.concurrency + 1
	client, err := h.clientWith(cfg)
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	res, err := runBench(context.Background(), client, o)
	if err != nil {
		c.UI.Error(agentError(h.address(), err))
		return 1
	}
	out, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		c.UI.Error("Error: " + err.Error())
		return 1
	}
	c.UI.Output(string(out))
	if res.Ops == 0 {
		c.UI.Error(fmt.Sprintf("Error: no operation succeeded (%d failed; the first: %s)", res.Errors, res.FirstError))
		return 1
	}
	if res.Errors > 0 {
		c.UI.Warn(fmt.Sprintf("Warning: %d operations failed; the first: %s", res.Errors, res.FirstError))
	}
	return 0
}

// validate checks the settings.
func (o *benchOpts) validate() error {
	if _, ok := benchWorkloads[o.workload]; !ok {
		return fmt.Errorf("unknown workload %q: use catalog-read, kv-read, kv-write or blocking", o.workload)
	}
	switch {
	case o.concurrency < 1 || o.concurrency > 4096:
		return fmt.Errorf("-concurrency must be between 1 and 4096, got %d", o.concurrency)
	case o.duration <= 0:
		return fmt.Errorf("-duration must be positive, got %s", o.duration)
	case o.warmup < 0:
		return fmt.Errorf("-warmup must not be negative, got %s", o.warmup)
	case o.keys < 1 || o.keys > 1_000_000:
		return fmt.Errorf("-keys must be between 1 and 1000000, got %d", o.keys)
	case o.valueSize < 0 || o.valueSize > 512*1024:
		return fmt.Errorf("-value-size must be between 0 and 524288 bytes, got %d", o.valueSize)
	case o.interval <= 0:
		return fmt.Errorf("-interval must be positive, got %s", o.interval)
	case o.prefix == "" || strings.HasPrefix(o.prefix, "/"):
		return fmt.Errorf("-prefix must be a KV path not starting with a slash, got %q", o.prefix)
	}
	switch o.consistency {
	case "default", "stale", "consistent":
	default:
		return fmt.Errorf("-consistency must be default, stale or consistent, got %q", o.consistency)
	}
	return nil
}

// key is the name of the i-th key.
func (o *benchOpts) key(i int) string { return fmt.Sprintf("%sk%07d", o.prefix, i) }

// queryOptions are the read options of every request.
func (o *benchOpts) queryOptions(ctx context.Context) *api.QueryOptions {
	q := &api.QueryOptions{Datacenter: o.dc}
	switch o.consistency {
	case "stale":
		q.AllowStale = true
	case "consistent":
		q.RequireConsistent = true
	}
	return q.WithContext(ctx)
}

// writeOptions are the options of every write.
func (o *benchOpts) writeOptions(ctx context.Context) *api.WriteOptions {
	return (&api.WriteOptions{Datacenter: o.dc}).WithContext(ctx)
}

// recorder gathers one worker's latencies and the run's error counts.
type recorder struct {
	measuring *atomic.Bool
	errors    *atomic.Int64
	firstErr  *errOnce
	lat       []time.Duration
	// woke are the blocking workload's wake-ups: which write, and when.
	woke []wake
}

type wake struct {
	seq uint64
	at  time.Time
}

// errOnce keeps the first error.
type errOnce struct {
	once sync.Once
	text string
}

func (e *errOnce) set(err error) { e.once.Do(func() { e.text = err.Error() }) }

// done records one operation that started at start.
func (r *recorder) done(start time.Time, err error) {
	if !r.measuring.Load() {
		return
	}
	if err != nil {
		r.errors.Add(1)
		r.firstErr.set(err)
		return
	}
	r.lat = append(r.lat, time.Since(start))
}

// runBench runs o's workload with client and summarises it.
func runBench(ctx context.Context, client *api.Client, o *benchOpts) (*BenchResult, error) {
	value := make([]byte, o.valueSize)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	if o.workload == "kv-read" {
		// Every key exists, so reads return a value as they would in use.
		for i := 0; i < o.keys; i++ {
			if _, err := client.KV().Put(&api.KVPair{Key: o.key(i), Value: value}, o.writeOptions(ctx)); err != nil {
				return nil, fmt.Errorf("write the keys to read: %w", err)
			}
		}
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		measuring atomic.Bool
		errCount  atomic.Int64
		firstErr  errOnce
		wg        sync.WaitGroup
	)
	recs := make([]*recorder, o.concurrency)
	for i := range recs {
		recs[i] = &recorder{measuring: &measuring, errors: &errCount, firstErr: &firstErr}
	}

	var writtenAt func(seq uint64) (time.Time, bool)
	switch o.workload {
	case "blocking":
		var err error
		if writtenAt, err = startBlocking(runCtx, client, o, value, recs, &wg); err != nil {
			return nil, err
		}
	default:
		for w := 0; w < o.concurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runWorker(runCtx, client, o, value, w, recs[w])
			}()
		}
	}

	timer := time.NewTimer(o.warmup)
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
	measuring.Store(true)
	start := time.Now()
	timer.Reset(o.duration)
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
	measuring.Store(false)
	elapsed := time.Since(start)
	cancel()
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	var all []time.Duration
	for _, r := range recs {
		all = append(all, r.lat...)
	}
	res := &BenchResult{
		Workload:    o.workload,
		Datacenter:  o.dc,
		Concurrency: o.concurrency,
		Keys:        o.keys,
		DurationSec: elapsed.Seconds(),
		Ops:         int64(len(all)),
		Errors:      errCount.Load(),
		FirstError:  firstErr.text,
		LoadAvg1m:   loadAvg1m(),
	}
	if o.workload != "kv-write" {
		res.Consistency = o.consistency
	}
	if o.workload == "catalog-read" || o.workload == "blocking" {
		res.Keys = 0
		if o.workload == "blocking" {
			res.Keys = 1
		}
	}
	res.OpsPerSec = float64(res.Ops) / elapsed.Seconds()
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	res.P50Micros = micros(percentile(all, 0.50))
	res.P90Micros = micros(percentile(all, 0.90))
	res.P99Micros = micros(percentile(all, 0.99))
	if len(all) > 0 {
		res.MaxMicros = micros(all[len(all)-1])
	}
	if writtenAt != nil {
		var after []time.Duration
		for _, r := range recs {
			for _, w := range r.woke {
				if done, ok := writtenAt(w.seq); ok {
					after = append(after, max(w.at.Sub(done), 0))
				}
			}
		}
		sort.Slice(after, func(i, j int) bool { return after[i] < after[j] })
		res.AfterWriteP50Micros = micros(percentile(after, 0.50))
		res.AfterWriteP99Micros = micros(percentile(after, 0.99))
	}
	return res, nil
}

// runWorker runs one worker of a request-response workload until ctx ends.
func runWorker(ctx context.Context, client *api.Client, o *benchOpts, value []byte, w int, rec *recorder) {
	kv, cat := client.KV(), client.Catalog()
	for i := w; ctx.Err() == nil; i += o.concurrency {
		key := o.key(i % o.keys)
		start := time.Now()
		var err error
		switch o.workload {
		case "catalog-read":
			_, _, err = cat.Nodes(o.queryOptions(ctx))
		case "kv-read":
			var p *api.KVPair
			p, _, err = kv.Get(key, o.queryOptions(ctx))
			if err == nil && p == nil {
				err = fmt.Errorf("key %s not found", key)
			}
		case "kv-write":
			_, err = kv.Put(&api.KVPair{Key: key, Value: value}, o.writeOptions(ctx))
		}
		if ctx.Err() != nil {
			return // the run ended mid-request: neither a result nor an error
		}
		rec.done(start, err)
	}
}

// startBlocking starts the blocking workload: a writer that puts a sequence
// number into the watched key every interval, noting when each put started,
// and one watcher per worker that holds a blocking read on the key and
// records, for each new number it sees, the time since that put started.
func startBlocking(ctx context.Context, client *api.Client, o *benchOpts, value []byte, recs []*recorder, wg *sync.WaitGroup) (func(uint64) (time.Time, bool), error) {
	key := o.prefix + "watch"
	kv := client.KV()
	if _, err := kv.Put(&api.KVPair{Key: key, Value: []byte("0")}, o.writeOptions(ctx)); err != nil {
		return nil, fmt.Errorf("write the watched key: %w", err)
	}
	var (
		mu      sync.Mutex
		started = map[uint64]time.Time{}
		// written holds when each write had its answer.
		written = map[uint64]time.Time{}
	)
	startOf := func(seq uint64) (time.Time, bool) {
		mu.Lock()
		defer mu.Unlock()
		t, ok := started[seq]
		return t, ok
	}
	writtenAt := func(seq uint64) (time.Time, bool) {
		mu.Lock()
		defer mu.Unlock()
		t, ok := written[seq]
		return t, ok
	}
	// The writer's failures count as the run's errors; its latencies are
	// not recorded.
	writerRec := &recorder{measuring: recs[0].measuring, errors: recs[0].errors, firstErr: recs[0].firstErr}
	wg.Add(1)
	go func() {
		defer wg.Done()
		ticker := time.NewTicker(o.interval)
		defer ticker.Stop()
		for seq := uint64(1); ; seq++ {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			mu.Lock()
			started[seq] = time.Now()
			// Only recent numbers can still be looked up.
			delete(started, seq-1024)
			mu.Unlock()
			val := append([]byte(strconv.FormatUint(seq, 10)+" "), value...)
			_, err := kv.Put(&api.KVPair{Key: key, Value: val}, o.writeOptions(ctx))
			switch {
			case err == nil:
				mu.Lock()
				// One entry per write: duration / interval in all.
				written[seq] = time.Now()
				mu.Unlock()
			case ctx.Err() == nil:
				writerRec.done(time.Time{}, fmt.Errorf("write the watched key: %w", err))
			}
		}
	}()
	for w := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			watch(ctx, kv, o, key, recs[w], startOf)
		}()
	}
	return writtenAt, nil
}

// watch holds blocking reads on key until ctx ends.
func watch(ctx context.Context, kv *api.KV, o *benchOpts, key string, rec *recorder, startOf func(uint64) (time.Time, bool)) {
	var index, lastSeq uint64
	for ctx.Err() == nil {
		q := o.queryOptions(ctx)
		q.WaitIndex = index
		q.WaitTime = 10 * time.Second
		p, meta, err := kv.Get(key, q)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			rec.done(time.Time{}, err)
			// Do not spin on an agent that fails at once.
			select {
			case <-ctx.Done():
			case <-time.After(o.interval):
			}
			continue
		}
		index = meta.LastIndex
		if p == nil {
			continue
		}
		seqText, _, _ := strings.Cut(string(p.Value), " ")
		seq, err := strconv.ParseUint(seqText, 10, 64)
		if err != nil || seq <= lastSeq {
			continue
		}
		lastSeq = seq
		if start, ok := startOf(seq); ok {
			if rec.measuring.Load() {
				rec.woke = append(rec.woke, wake{seq: seq, at: time.Now()})
			}
			rec.done(start, nil)
		}
	}
}

// percentile is the q-quantile of sorted (nearest rank), 0 when empty.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	return sorted[i]
}

// micros is d in microseconds, to a tenth.
func micros(d time.Duration) float64 {
	return math.Round(float64(d)/100) / 10
}

// loadAvg1m reads the one-minute load average from /proc/loadavg; nil
// where there is none.
func loadAvg1m() *float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return nil
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return nil
	}
	return &v
}
