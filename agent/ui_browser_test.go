package agent

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/hashicorp/consul/api"
)

// The web UI in a real browser: headless Chromium (Debian's chromium
// package, at /usr/bin/chromium or $CHROME_BIN) driven with chromedp
// against two in-process datacenters. A missing browser fails the test:
// the UI must be tested wherever the suite runs (.ci/run installs it).

// chromePath finds the browser or fails the test.
func chromePath(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROME_BIN"), "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatalf("headless Chromium not found at $CHROME_BIN or /usr/bin/chromium: install Debian's chromium package " +
		"(apt-get install chromium) or set CHROME_BIN; the web UI tests need a real browser")
	return ""
}

// artifactDir is where screenshots go: $MERIDIAN_ARTIFACTS/<sub> when set
// (CI keeps it), else a temporary directory.
func artifactDir(t testing.TB, sub string) string {
	t.Helper()
	root := os.Getenv("MERIDIAN_ARTIFACTS")
	if root == "" {
		return t.TempDir()
	}
	dir := filepath.Join(root, sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifact dir: %v", err)
	}
	return dir
}

// browser is a headless Chromium tab that records every console error,
// uncaught exception and error log entry of the page.
type browser struct {
	t   testing.TB
	ctx context.Context
	dir string

	mu     sync.Mutex
	errors []string
}

func newBrowser(t testing.TB) *browser {
	t.Helper()
	// Not t.TempDir: Chromium's helper processes may still write to the
	// profile for a moment after the browser exits, which would fail
	// TempDir's removal; the cleanup below retries instead.
	profile, err := os.MkdirTemp("", "meridian-ui-chromium-")
	if err != nil {
		t.Fatalf("chromium profile dir: %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromePath(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 860),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	b := &browser{t: t, ctx: ctx, dir: artifactDir(t, "ui-screenshots")}
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // kills the browser and waits for it
		// Its network process may outlive it briefly and write its cache
		// again: done when the profile stays gone for half a second.
		deadline := time.Now().Add(15 * time.Second)
		for {
			err := os.RemoveAll(profile)
			if err == nil {
				time.Sleep(500 * time.Millisecond)
				if _, statErr := os.Stat(profile); os.IsNotExist(statErr) {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Errorf("remove chromium profile %s: still written to after the browser exited (%v)", profile, err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	chromedp.ListenTarget(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError || ev.Type == runtime.APITypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				b.record("console.%s: %s", ev.Type, strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			b.record("exception at %s:%d: %s", d.URL, d.LineNumber, msg)
		case *cdplog.EventEntryAdded:
			if e := ev.Entry; e.Level == cdplog.LevelError && !expected404(e) {
				b.record("log %s: %s (%s)", e.Source, e.Text, e.URL)
			}
		case *page.EventJavascriptDialogOpening:
			// The UI asks before deleting a key: accept.
			go chromedp.Run(ctx, page.HandleJavaScriptDialog(true))
		}
	})
	// The first Run starts the browser, which lives as long as the context
	// it is given: the tab's own, with a watchdog on the start.
	watchdog := time.AfterFunc(60*time.Second, cancelTab)
	err = chromedp.Run(ctx, cdplog.Enable())
	watchdog.Stop()
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

// expected404 tells the one error the browser logs on its own for a
// correct page: the KV API answers 404 for an absent key or an empty
// folder (Consul's contract), and Chromium logs every 404 it fetches.
func expected404(e *cdplog.Entry) bool {
	return e.Source == cdplog.SourceNetwork && strings.Contains(e.URL, "/v1/kv/") && strings.Contains(e.Text, "404")
}

func (b *browser) record(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, fmt.Sprintf(format, args...))
}

// consoleErrors returns what the page reported so far.
func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// run runs actions with a deadline, failing the test with what.
func (b *browser) run(what string, actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %s: %v (console errors: %q)", what, err, b.consoleErrors())
	}
}

// waitJS waits until the JavaScript expression is true.
func (b *browser) waitJS(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	err := chromedp.Run(ctx, chromedp.Poll(expr, nil, chromedp.WithPollingTimeout(25*time.Second), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err == nil {
		return
	}
	// Say what the page showed instead.
	var page string
	ctx2, cancel2 := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel2()
	if err := chromedp.Run(ctx2, chromedp.Evaluate(`location.pathname + "\n" + performance.getEntriesByType("resource").map(e => e.name.slice(0,80) + " " + Math.round(e.duration)).slice(-12).join("\n") + "\n" + document.body.innerText.slice(0, 300)`, &page)); err != nil {
		page = "(unreadable: " + err.Error() + ")"
	}
	b.t.Fatalf("browser: wait for %s: %v\npage:\n%s\nconsole errors: %q", what, err, page, b.consoleErrors())
}

// text returns the text of the first element matching the CSS selector.
func (b *browser) text(sel string) string {
	b.t.Helper()
	var s string
	b.run("text of "+sel, chromedp.Text(sel, &s, chromedp.ByQuery, chromedp.NodeVisible))
	return s
}

// screenshot saves the page as name.png.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	var buf []byte
	b.run("screenshot "+name, chromedp.FullScreenshot(&buf, 100))
	path := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		b.t.Fatalf("save screenshot: %v", err)
	}
	b.t.Logf("screenshot %s", path)
}

// jsString quotes s for a JavaScript expression.
func jsString(s string) string {
	return fmt.Sprintf("%q", s)
}

// startUIFederation starts a server with the UI in dc1 and one in dc2,
// joined over the WAN.
func startUIFederation(t *testing.T) (dc1, dc2 *TestAgent) {
	t.Helper()
	dc1 = StartTestAgent(t, "-server", "-bootstrap", "-datacenter=dc1", "-node=dc1-server", "-ui")
	dc2 = StartTestAgent(t, "-server", "-bootstrap", "-datacenter=dc2", "-node=dc2-server", "-ui")
	dc1.WaitForLeader(t)
	dc2.WaitForLeader(t)
	if err := dc1.Client.Agent().Join(dc2.WANAddr(), true); err != nil {
		t.Fatalf("join dc2 over the WAN: %v", err)
	}
	WaitFor(t, "dc2 routable from dc1", 15*time.Second, func() error {
		_, _, err := dc1.Client.Catalog().Nodes(&api.QueryOptions{Datacenter: "dc2"})
		return err
	})
	return dc1, dc2
}

func TestUIBrowser(t *testing.T) {
	dc1, dc2 := startUIFederation(t)
	// dc1: web (passing) and db (critical) on its server; dc2: api
	// (warning) on its server and billing on an external node whose check
	// fails with an output.
	reg := func(a *TestAgent, name, status, output string) {
		t.Helper()
		err := a.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{
			Name: name, Port: 8080, Tags: []string{"v1", "primary"},
			Check: &api.AgentServiceCheck{Name: name + " ttl", TTL: "10m", Status: status, Notes: output},
		})
		if err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
	}
	reg(dc1, "web", api.HealthPassing, "")
	reg(dc1, "db", api.HealthCritical, "")
	reg(dc2, "api", api.HealthWarning, "")
	if _, err := dc2.Client.Catalog().Register(&api.CatalogRegistration{
		Node: "dc2-ext", Address: "127.0.0.99", Datacenter: "dc2",
		Service: &api.AgentService{ID: "billing-1", Service: "billing", Port: 9000},
		Check: &api.AgentCheck{Node: "dc2-ext", CheckID: "billing-http", Name: "billing http", Status: api.HealthCritical,
			ServiceID: "billing-1", Output: "Get http://127.0.0.99:9000/health: connection refused"},
	}, nil); err != nil {
		t.Fatalf("register billing: %v", err)
	}
	WaitFor(t, "services in both catalogs", 15*time.Second, func() error {
		for dc, want := range map[string]string{"dc1": "db", "dc2": "api"} {
			svcs, _, err := dc1.Client.Catalog().Services(&api.QueryOptions{Datacenter: dc})
			if err != nil {
				return err
			}
			if _, ok := svcs[want]; !ok {
				return fmt.Errorf("%s has no %s yet", dc, want)
			}
		}
		return nil
	})

	b := newBrowser(t)
	base := "http://" + dc1.HTTPAddr

	// / leads to the services of the agent's own datacenter.
	b.run("open /", chromedp.Navigate(base+"/"))
	b.waitJS("redirect to dc1's services", `location.pathname === "/ui/dc1/services"`)
	b.waitJS("web with one passing instance",
		`(r => r && r.querySelector(".instances").textContent === "1" && r.querySelector(".health").textContent.includes("1 passing"))(document.querySelector('tr[data-service="web"]'))`)
	b.waitJS("db critical", `(r => r && r.querySelector(".health").textContent.includes("1 critical"))(document.querySelector('tr[data-service="db"]'))`)
	b.waitJS("the switcher lists dc1 and dc2", `document.querySelectorAll("#dcs a").length === 2 && !!document.querySelector('#dcs a[data-dc="dc2"]')`)
	b.screenshot("services-dc1")

	// The switcher moves to the same section of dc2.
	b.run("switch to dc2", chromedp.Click(`#dcs a[data-dc="dc2"]`, chromedp.ByQuery))
	b.waitJS("dc2's services", `location.pathname === "/ui/dc2/services" && !!document.querySelector('tr[data-service="api"]')`)
	b.waitJS("api warning in dc2", `document.querySelector('tr[data-service="api"] .health').textContent.includes("1 warning")`)
	b.waitJS("no dc1 service in dc2", `!document.querySelector('tr[data-service="web"]') && !!document.querySelector('tr[data-service="billing"]')`)
	b.run("search billing", chromedp.SendKeys(`input[type=search]`, "bill", chromedp.ByQuery))
	b.waitJS("search keeps billing only", `document.querySelectorAll("tbody tr[data-service]").length === 1 && !!document.querySelector('tr[data-service="billing"]')`)

	// A service's instances with their checks and outputs.
	b.run("open billing", chromedp.Click(`tr[data-service="billing"] a`, chromedp.ByQuery))
	b.waitJS("billing's check output", `location.pathname === "/ui/dc2/services/billing" && [...document.querySelectorAll("pre.output")].some(p => p.textContent.includes("connection refused"))`)
	b.screenshot("service-dc2-billing")

	// Nodes of both datacenters, and a node's page.
	b.run("nodes of dc2", chromedp.Click(`#sections a[href="/ui/dc2/nodes"]`, chromedp.ByQuery))
	b.waitJS("dc2's nodes", `!!document.querySelector('tr[data-node="dc2-server"]') && !!document.querySelector('tr[data-node="dc2-ext"]')`)
	b.run("switch nodes to dc1", chromedp.Click(`#dcs a[data-dc="dc1"]`, chromedp.ByQuery))
	b.waitJS("dc1's nodes", `location.pathname === "/ui/dc1/nodes" && !!document.querySelector('tr[data-node="dc1-server"]') && !document.querySelector('tr[data-node="dc2-ext"]')`)
	b.waitJS("dc1-server passing serfHealth", `document.querySelector('tr[data-node="dc1-server"]').textContent.includes("1 passing")`)
	b.screenshot("nodes-dc1")
	b.run("open dc1-server", chromedp.Click(`tr[data-node="dc1-server"] a`, chromedp.ByQuery))
	b.waitJS("the node's services and checks", `location.pathname === "/ui/dc1/nodes/dc1-server" && document.body.textContent.includes("serfHealth") && !!document.querySelector('a[href="/ui/dc1/services/web"]')`)

	// KV: create a key through the UI, read it back through the API.
	b.run("kv of dc1", chromedp.Navigate(base+"/ui/dc1/kv/"))
	b.waitJS("an empty folder", `document.body.textContent.includes("This folder is empty.")`)
	b.run("create a key",
		chromedp.SendKeys(`#kv-create input[name=key]`, "app/config/greeting", chromedp.ByQuery),
		chromedp.SendKeys(`#kv-create textarea`, "hello from the UI", chromedp.ByQuery),
		chromedp.Click(`#kv-create button[type=submit]`, chromedp.ByQuery))
	WaitFor(t, "the key written by the UI", 15*time.Second, func() error {
		kv, _, err := dc1.Client.KV().Get("app/config/greeting", nil)
		if err != nil {
			return err
		}
		if kv == nil || string(kv.Value) != "hello from the UI" {
			return fmt.Errorf("got %+v", kv)
		}
		return nil
	})
	b.waitJS("the new folder listed live", `!!document.querySelector('tr[data-key="app/"]')`)
	b.run("browse into app/", chromedp.Click(`tr[data-key="app/"] a`, chromedp.ByQuery))
	b.waitJS("app/config/", `location.pathname === "/ui/dc1/kv/app/" && !!document.querySelector('tr[data-key="app/config/"]')`)
	b.run("browse into app/config/", chromedp.Click(`tr[data-key="app/config/"] a`, chromedp.ByQuery))
	b.run("open the key", chromedp.Click(`tr[data-key="app/config/greeting"] a`, chromedp.ByQuery))
	b.waitJS("the key's value", `location.pathname === "/ui/dc1/kv/app/config/greeting" && document.querySelector("#kv-edit textarea").value === "hello from the UI"`)
	b.run("edit the value",
		chromedp.Evaluate(`document.querySelector("#kv-edit textarea").select()`, nil),
		chromedp.SendKeys(`#kv-edit textarea`, "edited in the UI", chromedp.ByQuery),
		chromedp.Click(`#kv-edit button[type=submit]`, chromedp.ByQuery))
	WaitFor(t, "the edited value", 15*time.Second, func() error {
		kv, _, err := dc1.Client.KV().Get("app/config/greeting", nil)
		if err != nil {
			return err
		}
		if kv == nil || string(kv.Value) != "edited in the UI" {
			return fmt.Errorf("got %+v", kv)
		}
		return nil
	})
	b.waitJS("saved", `document.querySelector("#kv-edit").textContent.includes("Saved.")`)
	b.screenshot("kv-edit")
	// A key written elsewhere shows up in the folder; delete it from the UI.
	if _, err := dc1.Client.KV().Put(&api.KVPair{Key: "app/config/other", Value: []byte("x")}, nil); err != nil {
		t.Fatal(err)
	}
	b.run("back to the folder", chromedp.Click(`.crumbs a[href="/ui/dc1/kv/app/config/"]`, chromedp.ByQuery))
	b.waitJS("both keys", `!!document.querySelector('tr[data-key="app/config/other"]') && !!document.querySelector('tr[data-key="app/config/greeting"]')`)
	b.run("open other", chromedp.Click(`tr[data-key="app/config/other"] a`, chromedp.ByQuery))
	b.waitJS("other's value", `document.querySelector("#kv-edit textarea").value === "x"`)
	b.run("delete other", chromedp.Click(`#kv-edit button.danger`, chromedp.ByQuery))
	b.waitJS("back in the folder without other", `location.pathname === "/ui/dc1/kv/app/config/" && !!document.querySelector('tr[data-key="app/config/greeting"]') && !document.querySelector('tr[data-key="app/config/other"]')`)
	if kv, _, err := dc1.Client.KV().Get("app/config/other", nil); err != nil || kv != nil {
		t.Errorf("app/config/other after the UI deleted it: %+v, %v", kv, err)
	}

	// Federation: dc2 reachable with a round-trip time.
	b.run("federation", chromedp.Navigate(base+"/ui/dc1/federation"))
	b.waitJS("dc2 reachable with an RTT",
		`(r => r && r.textContent.includes("reachable") && !r.textContent.includes("unreachable") && /^\d+(\.\d+)? ms$/.test(r.querySelector("td.rtt").textContent))(document.querySelector('tr[data-dc="dc2"]'))`)
	if rtt := b.text(`tr[data-dc="dc2"] td.rtt`); !regexp.MustCompile(`^\d+(\.\d+)? ms$`).MatchString(rtt) {
		t.Errorf("dc2's RTT cell = %q", rtt)
	}
	b.waitJS("dc1 local, one server alive", `document.querySelector('tr[data-dc="dc1"]').textContent.includes("1 of 1")`)
	b.screenshot("federation")

	// A live update: a service registered through the API appears without
	// a reload (the marker set on the page survives).
	b.run("services of dc1", chromedp.Navigate(base+"/ui/dc1/services"), chromedp.Evaluate(`window.__noReload = true`, nil))
	b.waitJS("the list", `!!document.querySelector('tr[data-service="web"]')`)
	reg(dc1, "live-svc", api.HealthPassing, "")
	b.waitJS("live-svc appears live", `window.__noReload === true && !!document.querySelector('tr[data-service="live-svc"]') && document.querySelector('tr[data-service="live-svc"] .health').textContent.includes("1 passing")`)

	if errs := b.consoleErrors(); len(errs) != 0 {
		t.Errorf("browser console errors:\n%s", strings.Join(errs, "\n"))
	}

	// Errors from the API are shown on the page: an unknown datacenter
	// (the browser logs the 500s themselves, so this comes last).
	b.run("an unknown datacenter", chromedp.Navigate(base+"/ui/dc9/services"))
	b.waitJS("the error", `!document.getElementById("error").hidden && document.getElementById("error").textContent.includes("No path to datacenter")`)
	b.screenshot("error")
}

// BenchmarkUIServicesPage loads the services page of a datacenter of 5,000
// services (each with a passing check, on 50 nodes) in headless Chromium:
// from navigation until every row of the first page shows its instances
// and health (first-page-ms), and until a search narrows the list to one
// service (search-ms).
//
//	go test -run '^$' -bench BenchmarkUIServicesPage -benchtime 5x ./agent/
func BenchmarkUIServicesPage(b *testing.B) {
	const services, nodes = 5000, 50
	a := StartTestAgent(b, "-server", "-bootstrap", "-ui")
	a.WaitForLeader(b)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < services; i += 8 {
				node := fmt.Sprintf("host-%02d", i%nodes)
				name := fmt.Sprintf("svc-%04d", i)
				_, err := a.Client.Catalog().Register(&api.CatalogRegistration{
					Node: node, Address: "127.0.0.1",
					Service: &api.AgentService{ID: name, Service: name, Port: 8000 + i%1000, Tags: []string{"bench"}},
					Check:   &api.AgentCheck{Node: node, CheckID: "check-" + name, Name: name, Status: api.HealthPassing, ServiceID: name},
				}, nil)
				if err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatalf("register: %v", err)
	}
	br := newBrowser(b)
	url := "http://" + a.HTTPAddr + "/ui/dc1/services"
	firstPage := `document.querySelectorAll("tr[data-service]").length === 100 &&
		[...document.querySelectorAll("tr[data-service] td.health")].every(td => td.textContent.includes("1 passing"))`
	var load, search time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		br.run("blank", chromedp.Navigate("about:blank"))
		start := time.Now()
		br.run("open the services", chromedp.Navigate(url))
		br.waitJS("the first page filled", firstPage)
		load += time.Since(start)
		if got := br.text("h1"); !strings.Contains(got, fmt.Sprintf("%d total", services+1)) {
			b.Fatalf("heading %q, want %d services", got, services+1)
		}
		start = time.Now()
		br.run("search", chromedp.SendKeys(`input[type=search]`, "svc-4321", chromedp.ByQuery))
		br.waitJS("one match", `document.querySelectorAll("tr[data-service]").length === 1 && document.querySelector('tr[data-service="svc-4321"] td.health').textContent.includes("1 passing")`)
		search += time.Since(start)
	}
	b.StopTimer()
	b.ReportMetric(float64(load.Milliseconds())/float64(b.N), "first-page-ms")
	b.ReportMetric(float64(search.Milliseconds())/float64(b.N), "search-ms")
	if errs := br.consoleErrors(); len(errs) != 0 {
		b.Errorf("browser console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestUIBrowserACLToken: with ACLs on and default deny, the page shows
// what an anonymous request may see (no services); the token typed in
// the header is kept in local storage and sent as X-Consul-Token, and
// then the services and writes work.
func TestUIBrowserACLToken(t *testing.T) {
	const root = "3f6e5c1a-1b2c-4d3e-8f4a-5b6c7d8e9f01"
	a := startACLAgent(t, "-ui", "-hcl=acl { tokens { initial_management = \""+root+"\" } }")
	mgmt := withToken(t, a, root)
	if err := mgmt.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "web", Port: 80}); err != nil {
		t.Fatalf("register web: %v", err)
	}
	WaitFor(t, "web in the catalog", 15*time.Second, func() error {
		svcs, _, err := mgmt.Catalog().Services(nil)
		if err != nil {
			return err
		}
		if _, ok := svcs["web"]; !ok {
			return fmt.Errorf("no web yet: %v", svcs)
		}
		return nil
	})
	b := newBrowser(t)
	base := "http://" + a.HTTPAddr
	b.run("open services anonymously", chromedp.Navigate(base+"/ui/dc1/services"))
	b.waitJS("an anonymous list without web", `document.querySelector("h1").textContent.includes("total") && !document.querySelector('tr[data-service="web"]')`)
	b.run("enter the token", chromedp.SendKeys(`#token`, root+"\r", chromedp.ByQuery))
	b.waitJS("web with the token", `!!document.querySelector('tr[data-service="web"]') && localStorage.getItem("meridian-token") === `+jsString(root))
	// The token outlives a reload, and writes carry it.
	b.run("kv after a reload", chromedp.Navigate(base+"/ui/dc1/kv/"))
	b.waitJS("the form", `!!document.querySelector("#kv-create") && document.querySelector("#token").value === `+jsString(root))
	b.run("create a key",
		chromedp.SendKeys(`#kv-create input[name=key]`, "secret/answer", chromedp.ByQuery),
		chromedp.SendKeys(`#kv-create textarea`, "42", chromedp.ByQuery),
		chromedp.Click(`#kv-create button[type=submit]`, chromedp.ByQuery))
	WaitFor(t, "the key written with the token", 15*time.Second, func() error {
		kv, _, err := mgmt.KV().Get("secret/answer", nil)
		if err != nil {
			return err
		}
		if kv == nil || string(kv.Value) != "42" {
			return fmt.Errorf("got %+v", kv)
		}
		return nil
	})
	if errs := b.consoleErrors(); len(errs) != 0 {
		t.Errorf("browser console errors:\n%s", strings.Join(errs, "\n"))
	}
}
