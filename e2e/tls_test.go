package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// pki is a directory where `meridian tls ca create` and `tls cert create`
// run, as an operator runs them.
type pki struct {
	t   *testing.T
	dir string
	// n counts the certificates made per "<dc>-<role>" prefix, to name
	// the files the command writes.
	n map[string]int
}

// newPKI creates a CA with the real binary in a new directory.
func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{t: t, dir: t.TempDir(), n: map[string]int{}}
	p.run("tls", "ca", "create")
	for _, f := range []string{"consul-agent-ca.pem", "consul-agent-ca-key.pem"} {
		if _, err := os.Stat(filepath.Join(p.dir, f)); err != nil {
			t.Fatalf("tls ca create did not write %s: %v", f, err)
		}
	}
	return p
}

// run runs the binary in the PKI's directory and fails the test unless it
// succeeds.
func (p *pki) run(args ...string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, suite.bin, args...)
	cmd.Dir = p.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = cleanEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		p.t.Fatalf("meridian %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func (p *pki) caFile() string { return filepath.Join(p.dir, "consul-agent-ca.pem") }

// cert makes a certificate of role (server, client or cli) for dc, also
// valid for ip when given, and returns its cert and key files.
func (p *pki) cert(role, dc, ip string) (string, string) {
	p.t.Helper()
	args := []string{"tls", "cert", "create", "-" + role, "-dc", dc}
	if ip != "" {
		args = append(args, "-additional-ipaddress", ip)
	}
	out := p.run(args...)
	prefix := dc + "-" + role
	base := fmt.Sprintf("%s-consul-%d", prefix, p.n[prefix])
	p.n[prefix]++
	cert, key := filepath.Join(p.dir, base+".pem"), filepath.Join(p.dir, base+"-key.pem")
	for _, f := range []string{cert, key} {
		if _, err := os.Stat(f); err != nil {
			p.t.Fatalf("tls cert create did not write %s: %v\n%s", f, err, out)
		}
	}
	return cert, key
}

// tlsHCL is an agent's tls stanza with every check on, and HTTPS on 8501.
func tlsHCL(caFile, cert, key string) string {
	return fmt.Sprintf(`
tls {
  defaults {
    ca_file   = %q
    cert_file = %q
    key_file  = %q
    verify_incoming = true
    verify_outgoing = true
  }
  internal_rpc {
    verify_server_hostname = true
  }
}
ports { https = 8501 }
performance { rpc_hold_timeout = "3s" }
`, caFile, cert, key)
}

// httpsClient is the official client over HTTPS to host:8501, presenting
// a certificate (the CLI's) and checking the agent's against the CA.
func httpsClient(t *testing.T, host, caFile, cert, key string) *api.Client {
	t.Helper()
	cfg := api.DefaultNonPooledConfig()
	cfg.Address = net.JoinHostPort(host, "8501")
	cfg.Scheme = "https"
	cfg.TLSConfig = api.TLSConfig{CAFile: caFile, CertFile: cert, KeyFile: key}
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTLSEverywhere runs two datacenters and client agents with TLS on
// every hop (verify_incoming, verify_outgoing, verify_server_hostname),
// certificates made by `meridian tls`, and shows what gets in and what
// does not.
func TestTLSEverywhere(t *testing.T) {
	p := newPKI(t)
	other := newPKI(t)
	c := newCluster(t, 220, 239)

	server := func(name, dc string, h int, expect int, join []string, args ...string) *agentProc {
		cert, key := p.cert("server", dc, host(h))
		o := agentOpts{Name: name, DC: dc, Server: true, BootstrapExpect: expect,
			Join: join, HCL: tlsHCL(p.caFile(), cert, key), Args: args}
		if expect == 1 {
			o.BootstrapExpect, o.Bootstrap = 0, true
		}
		return c.startOn(host(h), o)
	}
	s1 := server("s1", "dc1", 220, 3, nil)
	s2 := server("s2", "dc1", 221, 3, []string{s1.LANAddr})
	s3 := server("s3", "dc1", 222, 3, []string{s1.LANAddr})
	d1 := server("d1", "dc2", 223, 1, nil, "-join-wan="+s1.WANAddr)
	cliCert, cliKey := p.cert("cli", "dc1", "")

	step(t, "a leader forms in each datacenter over TLS", func(t *testing.T) {
		waitLeader(t, 60*time.Second, s1, s2, s3)
		waitLeader(t, 60*time.Second, d1)
		cfg, err := s1.API.Operator().RaftGetConfiguration(nil)
		if err != nil || len(cfg.Servers) != 3 {
			t.Fatalf("dc1 raft configuration: %+v, %v; want 3 servers", cfg, err)
		}
	})

	step(t, "WAN federation and ?dc=dc2 through HTTPS", func(t *testing.T) {
		waitPool(t, 30*time.Second, true, allAlive(wanNames(s1, s2, s3, d1)...), s1, d1)
		hc := httpsClient(t, s2.Host, p.caFile(), cliCert, cliKey)
		waitFor(t, 30*time.Second, "dc2's nodes through dc1 over HTTPS", func() error {
			nodes, _, err := hc.Catalog().Nodes(&api.QueryOptions{Datacenter: "dc2"})
			if err != nil {
				return err
			}
			if len(nodes) != 1 || nodes[0].Node != "d1" {
				return fmt.Errorf("dc2 nodes %v", nodes)
			}
			return nil
		})
		dcs, err := hc.Catalog().Datacenters()
		if err != nil || len(dcs) != 2 {
			t.Fatalf("datacenters over HTTPS: %v, %v", dcs, err)
		}
		// HTTPS verifies incoming: no client certificate, no answer.
		if _, err := httpsClient(t, s2.Host, p.caFile(), "", "").Status().Leader(); err == nil {
			t.Fatal("HTTPS without a client certificate answered")
		}
	})

	var c1 *agentProc
	step(t, "a client agent with a client certificate", func(t *testing.T) {
		cert, key := p.cert("client", "dc1", host(224))
		c1 = c.startOn(host(224), agentOpts{Name: "c1", Join: []string{s1.LANAddr}, HCL: tlsHCL(p.caFile(), cert, key)})
		waitFor(t, 30*time.Second, "a catalog read through the TLS client", func() error {
			nodes, _, err := c1.API.Catalog().Nodes(nil)
			if err != nil {
				return err
			}
			if len(nodes) < 4 {
				return fmt.Errorf("%d nodes", len(nodes))
			}
			return nil
		})
		if _, err := c1.API.KV().Put(&api.KVPair{Key: "tls/c1", Value: []byte("ok")}, nil); err != nil {
			t.Fatalf("write through the TLS client: %v", err)
		}
		// Its HTTPS, and a read of dc2 through it.
		hc := httpsClient(t, c1.Host, p.caFile(), cliCert, cliKey)
		nodes, _, err := hc.Catalog().Nodes(&api.QueryOptions{Datacenter: "dc2"})
		if err != nil || len(nodes) != 1 {
			t.Fatalf("dc2 through the client's HTTPS: %v, %v", nodes, err)
		}
	})

	// refused waits until a catalog read through a is refused with a 5xx
	// whose sentence names TLS, and says what it was.
	refused := func(t *testing.T, a *agentProc, want string) {
		t.Helper()
		waitFor(t, 30*time.Second, a.Name+"'s catalog read refused naming TLS", func() error {
			code, body := a.httpDo("GET", "/v1/catalog/nodes", nil)
			if code < 500 || !strings.Contains(body, "TLS") || !strings.Contains(body, want) {
				return fmt.Errorf("HTTP %d: %s", code, body)
			}
			t.Logf("%s: HTTP %d: %s", a.Name, code, strings.TrimSpace(body))
			return nil
		})
	}
	step(t, "a plaintext client agent cannot read the catalog", func(t *testing.T) {
		c2 := c.startOn(host(225), agentOpts{Name: "c2", Join: []string{s1.LANAddr}, HCL: `performance { rpc_hold_timeout = "3s" }`})
		refused(t, c2, "requires TLS")
	})
	step(t, "a client agent with another CA's certificate cannot read the catalog", func(t *testing.T) {
		cert, key := other.cert("client", "dc1", host(226))
		c3 := c.startOn(host(226), agentOpts{Name: "c3", Join: []string{s1.LANAddr}, HCL: tlsHCL(other.caFile(), cert, key)})
		refused(t, c3, "certificate")
	})

	step(t, "a node with only a client certificate cannot serve as a server", func(t *testing.T) {
		cert, key := p.cert("client", "dc1", host(227))
		f1 := c.startOn(host(227), agentOpts{Name: "f1", Server: true, Join: []string{s1.LANAddr}, HCL: tlsHCL(p.caFile(), cert, key)})
		// Once the leader has put it in the catalog it has also decided
		// about its Raft membership.
		waitFor(t, 30*time.Second, "f1 in the catalog", func() error {
			nodes, _, err := s1.API.Catalog().Nodes(nil)
			if err != nil {
				return err
			}
			for _, n := range nodes {
				if n.Node == "f1" {
					return nil
				}
			}
			return fmt.Errorf("%d nodes, not f1", len(nodes))
		})
		for _, s := range []*agentProc{s1, s2, s3} {
			cfg, err := s.API.Operator().RaftGetConfiguration(&api.QueryOptions{AllowStale: true})
			if err != nil {
				t.Fatalf("%s raft configuration: %v", s.Name, err)
			}
			if len(cfg.Servers) != 3 {
				t.Errorf("%s's raft configuration has %d servers, want 3: %+v", s.Name, len(cfg.Servers), cfg.Servers)
			}
			for _, srv := range cfg.Servers {
				if srv.Node == "f1" {
					t.Errorf("f1 is in %s's raft configuration", s.Name)
				}
			}
		}
		if !strings.Contains(s1.Log()+s2.Log()+s3.Log(), "server not added to raft") {
			t.Error("no server logged why f1 was not added to raft")
		}
		// f1 itself has no Raft peers and no leader.
		if code, body := f1.httpDo("GET", "/v1/status/peers", nil); code != 200 || strings.TrimSpace(body) != "[]" {
			t.Errorf("f1's raft peers: HTTP %d %s, want []", code, body)
		}
		// The datacenter still writes.
		if _, err := c1.API.KV().Put(&api.KVPair{Key: "tls/after-f1", Value: []byte("ok")}, nil); err != nil {
			t.Fatalf("write after f1 came: %v", err)
		}
	})

	step(t, "the CLI over HTTPS with -ca-file, -client-cert, -client-key and with CONSUL_ variables", func(t *testing.T) {
		addr := net.JoinHostPort(s1.Host, "8501")
		r := runMeridian(t, cliTimeout, "members", "-http-addr", "https://"+addr,
			"-ca-file", p.caFile(), "-client-cert", cliCert, "-client-key", cliKey)
		if r.Code != 0 || !strings.Contains(r.Stdout, "s1") || !strings.Contains(r.Stdout, "c1") {
			t.Fatalf("members over HTTPS: %s", r)
		}
		env := []string{"CONSUL_HTTP_SSL=true", "CONSUL_CACERT=" + p.caFile(),
			"CONSUL_CLIENT_CERT=" + cliCert, "CONSUL_CLIENT_KEY=" + cliKey}
		r = runMeridianEnv(t, cliTimeout, env, "kv", "get", "-http-addr", addr, "tls/c1")
		if r.Code != 0 || strings.TrimSpace(r.Stdout) != "ok" {
			t.Fatalf("kv get with CONSUL_HTTP_SSL: %s", r)
		}
		r = runMeridian(t, cliTimeout, "members", "-http-addr", "https://"+addr, "-ca-file", p.caFile())
		if r.Code == 0 {
			t.Fatalf("members over HTTPS without a client certificate succeeded: %s", r)
		}
	})

	step(t, "SIGHUP reloads a renewed certificate and keeps connections", func(t *testing.T) {
		pool := x509.NewCertPool()
		caPEM, err := os.ReadFile(p.caFile())
		if err != nil {
			t.Fatal(err)
		}
		pool.AppendCertsFromPEM(caPEM)
		pair, err := tls.LoadX509KeyPair(cliCert, cliKey)
		if err != nil {
			t.Fatal(err)
		}
		dialCfg := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}
		addr := net.JoinHostPort(s1.Host, "8501")
		before, err := tls.Dial("tcp", addr, dialCfg)
		if err != nil {
			t.Fatal(err)
		}
		defer before.Close()
		br := bufio.NewReader(before)
		get := func(conn *tls.Conn, r *bufio.Reader) error {
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := fmt.Fprintf(conn, "GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				return err
			}
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("HTTP %d", resp.StatusCode)
			}
			return nil
		}
		if err := get(before, br); err != nil {
			t.Fatal(err)
		}
		serial := func(conn *tls.Conn) string { return conn.ConnectionState().PeerCertificates[0].SerialNumber.String() }
		old := serial(before)

		cert, key := p.cert("server", "dc1", s1.Host)
		if err := os.WriteFile(s1.ConfigFile, []byte(fastHCL+tlsHCL(p.caFile(), cert, key)), 0o600); err != nil {
			t.Fatal(err)
		}
		s1.Signal(syscall.SIGHUP)
		waitFor(t, 20*time.Second, "s1 to present the renewed certificate", func() error {
			conn, err := tls.Dial("tcp", addr, dialCfg)
			if err != nil {
				return err
			}
			defer conn.Close()
			if serial(conn) == old {
				return errors.New("still the old certificate")
			}
			return nil
		})
		if err := get(before, br); err != nil {
			t.Fatalf("the connection made before the reload: %v", err)
		}
		// RPC and Raft go on with the new certificate: new RPC
		// connections to s1 check it as server.dc1.consul.
		if _, err := httpsClient(t, s1.Host, p.caFile(), cliCert, cliKey).KV().Put(&api.KVPair{Key: "tls/reloaded", Value: []byte("ok")}, nil); err != nil {
			t.Fatalf("write through s1 after the reload: %v", err)
		}
		waitLeader(t, 30*time.Second, s1, s2, s3)
	})
}
