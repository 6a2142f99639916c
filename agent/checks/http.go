package checks

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/meridian-sd/meridian/structs"
)

// HTTPConfig configures a CheckHTTP. Field names follow Consul's check
// definition (http, method, header, body, tls_skip_verify, ...).
type HTTPConfig struct {
	// CheckID names the check in notifications.
	CheckID string
	// HTTP is the URL to request, http:// or https://. Required.
	HTTP string
	// Method is the request method; empty means GET.
	Method string
	// Header is sent with every request. A "Host" entry sets the request's
	// Host. User-Agent defaults to UserAgent and Accept to HTTPAccept.
	Header map[string][]string
	// Body is sent with every request; empty sends none.
	Body string
	// TLSSkipVerify turns off verification of the server's certificate.
	TLSSkipVerify bool
	// TLSServerName, when set, is the name the server's certificate is
	// verified against (and sent as SNI) instead of the URL's host.
	TLSServerName string
	// DisableRedirects reports a redirect response as it stands instead of
	// following it. By default up to 10 redirects are followed, as Consul
	// does, and the final response decides the status.
	DisableRedirects bool
	// Interval is the time between the end of one request and the start of
	// the next. Required; Validate demands at least MinInterval.
	Interval time.Duration
	// Timeout bounds each request, body included; zero means
	// DefaultHTTPTimeout (10s). It is capped at Interval.
	Timeout time.Duration
	// OutputMaxSize is how many bytes of the response body the output keeps;
	// zero means DefaultOutputMaxSize (4 KiB).
	OutputMaxSize int
	// Client, when set, sends the requests instead of the client built from
	// the TLS and redirect fields above (which it then ignores); for tests.
	// Timeout still applies through the request's context.
	Client *http.Client
	// Stagger returns the delay before the first request; nil means
	// RandomStagger.
	Stagger StaggerFunc
	// Logger receives debug logs of each result; nil discards logs.
	Logger hclog.Logger
}

// Validate reports, in one sentence, what makes the config unusable as a
// user's check definition, including an interval below MinInterval.
func (c HTTPConfig) Validate() error {
	if err := c.validateRunnable(); err != nil {
		return err
	}
	return ValidateInterval(c.Interval)
}

// validateRunnable checks what the runner needs, without the minimum interval.
func (c HTTPConfig) validateRunnable() error {
	if c.HTTP == "" {
		return fmt.Errorf("http check has no URL")
	}
	lower := strings.ToLower(c.HTTP)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		return fmt.Errorf("http check URL %q must start with http:// or https://", c.HTTP)
	}
	u, err := url.Parse(c.HTTP)
	if err != nil {
		return fmt.Errorf("http check URL %q is not valid: %w", c.HTTP, err)
	}
	if u.Host == "" {
		return fmt.Errorf("http check URL %q has no host", c.HTTP)
	}
	if c.Method != "" && !validMethod(c.Method) {
		return fmt.Errorf("http check method %q is not a valid HTTP method", c.Method)
	}
	return validateRunnable(c.Interval, c.Timeout, c.OutputMaxSize)
}

// validMethod reports whether m is an HTTP token (RFC 9110 section 5.6.2).
func validMethod(m string) bool {
	return strings.IndexFunc(m, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", r)
	}) < 0
}

// CheckHTTP periodically requests a URL. A 2xx response is passing, 429 Too
// Many Requests is warning, any other status or a request error is critical.
// The output reads "HTTP GET <url>: 200 OK Output: <body>", the body cut to
// OutputMaxSize, or is the error text.
type CheckHTTP struct {
	cfg     HTTPConfig
	notify  Notifier
	logger  hclog.Logger
	method  string
	timeout time.Duration
	client  *http.Client
	lc      lifecycle
}

// NewCheckHTTP returns an HTTP check reporting to notify. It does not start
// it, and it does not enforce MinInterval: call Validate on user input.
func NewCheckHTTP(cfg HTTPConfig, notify Notifier) (*CheckHTTP, error) {
	if err := cfg.validateRunnable(); err != nil {
		return nil, err
	}
	if notify == nil {
		return nil, errNilNotifier
	}
	c := &CheckHTTP{
		cfg:     cfg,
		notify:  notify,
		logger:  loggerOrNull(cfg.Logger),
		method:  cfg.Method,
		timeout: effectiveTimeout(cfg.Timeout, cfg.Interval),
		client:  cfg.Client,
	}
	if c.method == "" {
		c.method = http.MethodGet
	}
	if c.client == nil {
		c.client = newCheckHTTPClient(cfg, c.timeout)
	}
	return c, nil
}

// newCheckHTTPClient builds the client of one check. Keep-alives are off, as
// in Consul, so that a connection the service closed between two checks
// never fails a check, and so that a stopped check leaves no idle
// connections behind.
func newCheckHTTPClient(cfg HTTPConfig, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: timeout}
	transport := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		DisableKeepAlives:   true,
		TLSHandshakeTimeout: timeout,
		ForceAttemptHTTP2:   true,
		TLSClientConfig: &tls.Config{
			InsecureSkipVerify: cfg.TLSSkipVerify, // the check definition asked for it
			ServerName:         cfg.TLSServerName,
		},
	}
	client := &http.Client{Transport: transport}
	if cfg.DisableRedirects {
		client.CheckRedirect = func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}
	}
	return client
}

// Start launches the check. It does nothing after the first call or after
// Stop.
func (c *CheckHTTP) Start() {
	c.lc.start(func(ctx context.Context) {
		runPeriodic(ctx, c.cfg.Stagger, c.cfg.Interval, c.check)
	})
}

// Stop ends the check, cancelling a request in flight, and waits for its
// goroutine. Stop is idempotent.
func (c *CheckHTTP) Stop() {
	c.lc.stop()
}

// check makes one request and reports the result, unless ctx (the runner's)
// ended meanwhile.
func (c *CheckHTTP) check(ctx context.Context) {
	status, output := c.probe(ctx)
	if ctx.Err() != nil {
		return
	}
	c.logger.Debug("http check result", "check", c.cfg.CheckID, "status", status)
	c.notify.UpdateCheck(c.cfg.CheckID, status, output)
}

// probe makes one request and maps the response to a status and output.
func (c *CheckHTTP) probe(ctx context.Context) (status, output string) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	var body io.Reader
	if c.cfg.Body != "" {
		body = strings.NewReader(c.cfg.Body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, c.cfg.HTTP, body)
	if err != nil {
		return structs.HealthCritical, err.Error()
	}
	// A copy per request: the config's map is never written to.
	req.Header = http.Header(c.cfg.Header).Clone()
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	if host := req.Header.Get("Host"); host != "" {
		req.Host = host
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", UserAgent)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", HTTPAccept)
	}

	resp, err := c.client.Do(req)
	if err != nil {
		return structs.HealthCritical, err.Error()
	}
	defer resp.Body.Close()

	// The whole body is read (the timeout bounds it) so that the note can
	// say how much was dropped; only OutputMaxSize bytes are kept. A read
	// error does not change the verdict, which the status code gives.
	buf := newLimitedBuffer(c.cfg.OutputMaxSize)
	if _, err := io.Copy(buf, resp.Body); err != nil {
		c.logger.Debug("http check body read failed", "check", c.cfg.CheckID, "error", err)
	}
	output = fmt.Sprintf("HTTP %s %s: %s Output: %s", c.method, c.cfg.HTTP, resp.Status, buf.String())

	switch {
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		return structs.HealthPassing, output
	case resp.StatusCode == http.StatusTooManyRequests:
		return structs.HealthWarning, output
	default:
		return structs.HealthCritical, output
	}
}
