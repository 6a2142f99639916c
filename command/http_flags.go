package command

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
)

// httpFlags are the flags every client verb takes to reach the agent.
type httpFlags struct {
	addr       string
	datacenter string
	stale      bool
	token      string
	tokenFile  string
	tls        httpTLSFlags
}

// addHTTPFlags registers -http-addr (and -datacenter, -stale where the verb
// reads) on fs.
func (h *httpFlags) addHTTPFlags(fs *flag.FlagSet) {
	fs.StringVar(&h.addr, "http-addr", "", "The address of the agent's HTTP API, as host:port, a URL or unix:///path. "+
		"Default MERIDIAN_HTTP_ADDR, then CONSUL_HTTP_ADDR, then 127.0.0.1:8500.")
	fs.StringVar(&h.token, "token", "", "The ACL token to send. Default MERIDIAN_HTTP_TOKEN, then CONSUL_HTTP_TOKEN.")
	fs.StringVar(&h.tokenFile, "token-file", "", "A file holding the ACL token to send (instead of -token). "+
		"Default MERIDIAN_HTTP_TOKEN_FILE, then CONSUL_HTTP_TOKEN_FILE.")
	h.tls.addFlags(fs)
}

// aclToken resolves the token: -token, -token-file, then the environment
// (MERIDIAN_ before CONSUL_, a token before a token file). Empty means
// none, which the agent takes as its default token.
func (h *httpFlags) aclToken() (string, error) {
	if h.token != "" {
		return h.token, nil
	}
	file := h.tokenFile
	if file == "" {
		for _, pair := range [][2]string{{"MERIDIAN_HTTP_TOKEN", "MERIDIAN_HTTP_TOKEN_FILE"}, {"CONSUL_HTTP_TOKEN", "CONSUL_HTTP_TOKEN_FILE"}} {
			if v := os.Getenv(pair[0]); v != "" {
				return v, nil
			}
			if v := os.Getenv(pair[1]); v != "" {
				file = v
				break
			}
		}
	}
	if file == "" {
		return "", nil
	}
	buf, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("cannot read the token file: %w", err)
	}
	tok := strings.TrimSpace(string(buf))
	if tok == "" {
		return "", fmt.Errorf("the token file %s is empty", file)
	}
	return tok, nil
}

func (h *httpFlags) addDCFlags(fs *flag.FlagSet) {
	fs.StringVar(&h.datacenter, "datacenter", "", "The datacenter to ask. Default the agent's own.")
}

func (h *httpFlags) addStaleFlag(fs *flag.FlagSet) {
	fs.BoolVar(&h.stale, "stale", false, "Let any server answer, even without a leader.")
}

// address resolves the agent address from the flag and the environment.
func (h *httpFlags) address() string {
	for _, v := range []string{h.addr, os.Getenv("MERIDIAN_HTTP_ADDR"), os.Getenv("CONSUL_HTTP_ADDR")} {
		if v != "" {
			return v
		}
	}
	return "127.0.0.1:8500"
}

// client builds the API client.
func (h *httpFlags) client() (*api.Client, error) {
	return h.clientWith(api.DefaultNonPooledConfig())
}

// clientWith builds the API client on cfg, a base such as
// api.DefaultConfig() (pooled) for verbs that make many requests.
func (h *httpFlags) clientWith(cfg *api.Config) (*api.Client, error) {
	addr := h.address()
	cfg.Scheme = "http"
	if h.tls.useSSL() {
		cfg.Scheme = "https"
	}
	switch {
	case strings.HasPrefix(addr, "https://"):
		cfg.Scheme = "https"
		addr = strings.TrimPrefix(addr, "https://")
	case strings.HasPrefix(addr, "http://"):
		cfg.Scheme = "http"
		addr = strings.TrimPrefix(addr, "http://")
	}
	cfg.Address = addr
	cfg.TLSConfig = h.tls.apiConfig()
	cfg.Datacenter = h.datacenter
	tok, err := h.aclToken()
	if err != nil {
		return nil, err
	}
	cfg.Token, cfg.TokenFile = tok, ""
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot use HTTP address %q: %w", h.address(), err)
	}
	return c, nil
}

// queryOptions builds read options from the flags.
func (h *httpFlags) queryOptions() *api.QueryOptions {
	return &api.QueryOptions{Datacenter: h.datacenter, AllowStale: h.stale}
}

// agentError turns an API error into one sentence for stderr.
func agentError(addr string, err error) string {
	var se api.StatusError
	if errors.As(err, &se) {
		if se.Body != "" {
			return "Error: " + se.Body
		}
		return fmt.Sprintf("Error: the agent answered with HTTP status %d", se.Code)
	}
	msg := err.Error()
	if strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such host") {
		return fmt.Sprintf("Error connecting to the Meridian agent at %s: is it running? (%v)", addr, err)
	}
	return "Error: " + msg
}

// readFlagSet is the flag set of a verb that reads from a datacenter:
// the HTTP flags, -datacenter and -stale.
func readFlagSet(name string) *httpFlagsSet {
	fs := newFlagSet(name)
	h := &httpFlags{}
	h.addHTTPFlags(fs)
	h.addDCFlags(fs)
	h.addStaleFlag(fs)
	return &httpFlagsSet{fs: fs, h: h}
}

// newFlagSet returns a flag set that reports errors through the command.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(discard{})
	return fs
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// flagHelp renders the flags of fs for a command's Help.
func flagHelp(fs *flag.FlagSet) string {
	var b strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		fmt.Fprintf(&b, "  -%s", f.Name)
		name, usage := flag.UnquoteUsage(f)
		if name != "" {
			fmt.Fprintf(&b, "=<%s>", name)
		}
		fmt.Fprintf(&b, "\n      %s\n", usage)
	})
	return b.String()
}

// put sends a bodyless PUT to an endpoint the api client has no method
// for, and fails on any status but 200.
func (h *httpFlags) put(path string, query url.Values) error {
	addr := h.address()
	if !strings.HasPrefix(addr, "http://") && !strings.HasPrefix(addr, "https://") {
		if h.tls.useSSL() {
			addr = "https://" + addr
		} else {
			addr = "http://" + addr
		}
	}
	u, err := url.Parse(addr)
	if err != nil {
		return fmt.Errorf("cannot use HTTP address %q: %w", h.address(), err)
	}
	u.Path = path
	u.RawQuery = query.Encode()
	req, err := http.NewRequest(http.MethodPut, u.String(), nil)
	if err != nil {
		return err
	}
	tok, err := h.aclToken()
	if err != nil {
		return err
	}
	if tok != "" {
		req.Header.Set("X-Consul-Token", tok)
	}
	apiTLS := h.tls.apiConfig()
	tlsCfg, err := api.SetupTLSConfig(&apiTLS)
	if err != nil {
		return fmt.Errorf("tls settings: %w", err)
	}
	resp, err := (&http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: tlsCfg}}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64*1024))
	if resp.StatusCode != http.StatusOK {
		return api.StatusError{Code: resp.StatusCode, Body: strings.TrimSpace(string(body))}
	}
	return nil
}
