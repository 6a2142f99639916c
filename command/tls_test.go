package command

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/cli"

	"github.com/meridian-sd/meridian/tlsutil"
)

// runTLS runs a tls verb in dir and returns its exit code and outputs.
func runTLS(t *testing.T, dir string, verb string, args ...string) (int, string, string) {
	t.Helper()
	ui := cli.NewMockUi()
	var cmd cli.Command
	switch verb {
	case "ca":
		cmd = &TLSCACreateCommand{UI: ui, Dir: dir}
	case "cert":
		cmd = &TLSCertCreateCommand{UI: ui, Dir: dir}
	default:
		t.Fatalf("unknown verb %q", verb)
	}
	code := cmd.Run(args)
	return code, ui.OutputWriter.String(), ui.ErrorWriter.String()
}

// dirFiles lists the names in dir, sorted.
func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// readCert parses the certificate in dir/name.
func readCert(t *testing.T, dir, name string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	c, err := tlsutil.ParseCertPEM(string(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

// checkMode checks the permission bits of dir/name.
func checkMode(t *testing.T, dir, name string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Errorf("%s has mode %v, want %v", name, got, want)
	}
}

// mustCreateCA runs tls ca create in dir with args.
func mustCreateCA(t *testing.T, dir string, args ...string) {
	t.Helper()
	if code, out, errOut := runTLS(t, dir, "ca", args...); code != 0 {
		t.Fatalf("tls ca create %v: exit %d, output %q, stderr %q", args, code, out, errOut)
	}
}

func TestTLSCACreate(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runTLS(t, dir, "ca")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if want := "==> Saved consul-agent-ca.pem\n==> Saved consul-agent-ca-key.pem\n"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}
	if got, want := dirFiles(t, dir), []string{"consul-agent-ca-key.pem", "consul-agent-ca.pem"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("files %q, want %q", got, want)
	}
	checkMode(t, dir, "consul-agent-ca-key.pem", 0o600)
	ca := readCert(t, dir, "consul-agent-ca.pem")
	if !ca.IsCA || !strings.HasPrefix(ca.Subject.CommonName, "Meridian Agent CA ") || len(ca.PermittedDNSDomains) != 0 {
		t.Errorf("CA: IsCA %v, name %q, constraints %q", ca.IsCA, ca.Subject.CommonName, ca.PermittedDNSDomains)
	}
	if d := ca.NotAfter.Sub(time.Now()); d < 1824*24*time.Hour || d > 1826*24*time.Hour {
		t.Errorf("CA valid for %v more, want about 1825 days", d)
	}
	certBytes, _ := os.ReadFile(filepath.Join(dir, "consul-agent-ca.pem"))
	keyBytes, _ := os.ReadFile(filepath.Join(dir, "consul-agent-ca-key.pem"))
	if _, _, err := tlsutil.ParseCA(string(certBytes), string(keyBytes)); err != nil {
		t.Errorf("the saved CA and key do not belong together: %v", err)
	}

	// A second run refuses to overwrite and leaves the files alone.
	code, out, errOut = runTLS(t, dir, "ca")
	if code != 1 || out != "" {
		t.Errorf("second run: exit %d, output %q", code, out)
	}
	oneLineError(t, errOut, "consul-agent-ca.pem already exists")
	again, _ := os.ReadFile(filepath.Join(dir, "consul-agent-ca.pem"))
	if string(again) != string(certBytes) {
		t.Errorf("the CA certificate changed")
	}

	// A leftover key alone also blocks, and no certificate is written.
	lone := t.TempDir()
	if err := os.WriteFile(filepath.Join(lone, "consul-agent-ca-key.pem"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runTLS(t, lone, "ca")
	if code != 1 {
		t.Errorf("leftover key: exit %d", code)
	}
	oneLineError(t, errOut, "consul-agent-ca-key.pem already exists")
	if got := dirFiles(t, lone); !reflect.DeepEqual(got, []string{"consul-agent-ca-key.pem"}) {
		t.Errorf("files after refusal %q", got)
	}
}

func TestTLSCACreateOptions(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runTLS(t, dir, "ca", "-domain=Example.COM.", "-days=10", "-common-name=Ops CA",
		"-name-constraint", "-additional-name-constraint=ui.example.net")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if want := "==> Saved example.com-agent-ca.pem\n==> Saved example.com-agent-ca-key.pem\n"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}
	ca := readCert(t, dir, "example.com-agent-ca.pem")
	if ca.Subject.CommonName != "Ops CA" {
		t.Errorf("common name %q", ca.Subject.CommonName)
	}
	if d := ca.NotAfter.Sub(time.Now()); d < 9*24*time.Hour || d > 11*24*time.Hour {
		t.Errorf("CA valid for %v more, want about 10 days", d)
	}
	if want := []string{"ui.example.net", "example.com", "localhost"}; !reflect.DeepEqual(ca.PermittedDNSDomains, want) || !ca.PermittedDNSDomainsCritical {
		t.Errorf("constraints %q (critical %v), want %q", ca.PermittedDNSDomains, ca.PermittedDNSDomainsCritical, want)
	}

	// The constrained CA signs its own domain and refuses others.
	if code, _, errOut := runTLS(t, dir, "cert", "-server", "-domain=example.com", "-additional-dnsname=web.ui.example.net"); code != 0 {
		t.Errorf("cert under the constraints: exit %d, stderr %q", code, errOut)
	}
	before := dirFiles(t, dir)
	code, _, errOut = runTLS(t, dir, "cert", "-server", "-domain=example.com", "-additional-dnsname=evil.org")
	if code != 1 {
		t.Errorf("cert outside the constraints: exit %d", code)
	}
	oneLineError(t, errOut, "evil.org", "example.com-agent-ca.pem")
	if after := dirFiles(t, dir); !reflect.DeepEqual(after, before) {
		t.Errorf("files changed from %q to %q after a refused certificate", before, after)
	}
}

func TestTLSCACreateErrors(t *testing.T) {
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"-days=0"}, []string{"-days must be between 1 and 36500"}},
		{[]string{"-days=40000"}, []string{"-days", "40000"}},
		{[]string{"-domain=a/b"}, []string{"-domain", "not a DNS name"}},
		{[]string{"-domain="}, []string{"-domain must not be empty"}},
		{[]string{"-additional-name-constraint=x.org"}, []string{"requires -name-constraint"}},
		{[]string{"-name-constraint", "-additional-name-constraint=x y"}, []string{"x y", "not a DNS name"}},
		{[]string{"extra"}, []string{"takes no arguments"}},
		{[]string{"-nope"}, []string{"-nope"}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			dir := t.TempDir()
			code, out, errOut := runTLS(t, dir, "ca", tc.args...)
			if code != 1 || out != "" {
				t.Errorf("exit %d, output %q: want 1 and nothing", code, out)
			}
			oneLineError(t, errOut, tc.want...)
			if got := dirFiles(t, dir); len(got) != 0 {
				t.Errorf("files written: %q", got)
			}
		})
	}
}

const serverWarning = "==> WARNING: A server certificate lets its holder act as a server of\n" +
	"    the datacenter and read all of its data. Give it only to server\n" +
	"    hosts and keep it as safe as the CA key.\n"

func TestTLSCertCreateRoles(t *testing.T) {
	dir := t.TempDir()
	mustCreateCA(t, dir)
	ca := readCert(t, dir, "consul-agent-ca.pem")
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	using := "==> Using consul-agent-ca.pem and consul-agent-ca-key.pem\n"
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}

	cases := []struct {
		args     []string
		wantOut  string
		file     string
		wantDNS  []string
		wantIPs  []string
		wantEKU  []x509.ExtKeyUsage
		verifyAs string
	}{
		{[]string{"-server"}, serverWarning + using, "dc1-server-consul-0",
			[]string{"server.dc1.consul", "localhost"}, []string{"127.0.0.1"}, both, "server.dc1.consul"},
		{[]string{"-server", "-dc=DC1", "-node=s2", "-additional-dnsname=s2.example.com", "-additional-ipaddress=10.1.2.3",
			"-additional-dnsname= ", "-additional-ipaddress=::1"}, serverWarning + using, "dc1-server-consul-1",
			[]string{"s2.server.dc1.consul", "server.dc1.consul", "localhost", "s2.example.com"},
			[]string{"127.0.0.1", "10.1.2.3", "::1"}, both, "s2.server.dc1.consul"},
		{[]string{"-client", "-dc=dc2"}, using, "dc2-client-consul-0",
			[]string{"client.dc2.consul", "localhost"}, []string{"127.0.0.1"}, both, "client.dc2.consul"},
		{[]string{"-cli"}, using, "dc1-cli-consul-0",
			[]string{"cli.dc1.consul", "localhost"}, nil, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, "cli.dc1.consul"},
		{[]string{"-server"}, serverWarning + using, "dc1-server-consul-2",
			[]string{"server.dc1.consul", "localhost"}, []string{"127.0.0.1"}, both, "server.dc1.consul"},
	}
	for _, tc := range cases {
		code, out, errOut := runTLS(t, dir, "cert", tc.args...)
		if code != 0 || errOut != "" {
			t.Fatalf("%v: exit %d, stderr %q", tc.args, code, errOut)
		}
		want := tc.wantOut + "==> Saved " + tc.file + ".pem\n==> Saved " + tc.file + "-key.pem\n"
		if out != want {
			t.Errorf("%v: output\n%s\nwant\n%s", tc.args, out, want)
		}
		checkMode(t, dir, tc.file+"-key.pem", 0o600)
		leaf := readCert(t, dir, tc.file+".pem")
		if !reflect.DeepEqual(leaf.DNSNames, tc.wantDNS) {
			t.Errorf("%v: DNS SANs %q, want %q", tc.args, leaf.DNSNames, tc.wantDNS)
		}
		var ips []string
		for _, ip := range leaf.IPAddresses {
			ips = append(ips, ip.String())
		}
		if !slices.Equal(ips, tc.wantIPs) {
			t.Errorf("%v: IP SANs %q, want %q", tc.args, ips, tc.wantIPs)
		}
		if !reflect.DeepEqual(leaf.ExtKeyUsage, tc.wantEKU) {
			t.Errorf("%v: extended key usage %v, want %v", tc.args, leaf.ExtKeyUsage, tc.wantEKU)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: tc.verifyAs,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%v: does not verify against the CA as %s: %v", tc.args, tc.verifyAs, err)
		}
		if d := leaf.NotAfter.Sub(time.Now()); d < 364*24*time.Hour || d > 366*24*time.Hour {
			t.Errorf("%v: valid for %v more, want about 365 days", tc.args, d)
		}
		if _, err := tls.LoadX509KeyPair(filepath.Join(dir, tc.file+".pem"), filepath.Join(dir, tc.file+"-key.pem")); err != nil {
			t.Errorf("%v: crypto/tls does not load the pair: %v", tc.args, err)
		}
	}
}

func TestTLSCertCreateFilesAndCA(t *testing.T) {
	// A stray key file takes its number: the next pair skips it, and
	// nothing existing is touched.
	dir := t.TempDir()
	mustCreateCA(t, dir, "-domain=example.com")
	stray := filepath.Join(dir, "eu-client-example.com-0-key.pem")
	if err := os.WriteFile(stray, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runTLS(t, dir, "cert", "-client", "-dc=eu", "-domain=example.com", "-days=30")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !strings.Contains(out, "==> Using example.com-agent-ca.pem and example.com-agent-ca-key.pem\n") ||
		!strings.Contains(out, "==> Saved eu-client-example.com-1.pem\n==> Saved eu-client-example.com-1-key.pem\n") {
		t.Errorf("output %q", out)
	}
	if b, _ := os.ReadFile(stray); string(b) != "keep" {
		t.Errorf("stray key file was changed")
	}
	leaf := readCert(t, dir, "eu-client-example.com-1.pem")
	if leaf.Subject.CommonName != "client.eu.example.com" {
		t.Errorf("common name %q", leaf.Subject.CommonName)
	}
	if d := leaf.NotAfter.Sub(time.Now()); d < 29*24*time.Hour || d > 31*24*time.Hour {
		t.Errorf("valid for %v more, want about 30 days", d)
	}

	// -ca and -key name the CA files anywhere; the output goes to the
	// working directory.
	work := t.TempDir()
	caPath, keyPath := filepath.Join(dir, "example.com-agent-ca.pem"), filepath.Join(dir, "example.com-agent-ca-key.pem")
	code, out, errOut = runTLS(t, work, "cert", "-server", "-ca="+caPath, "-key="+keyPath)
	if code != 0 {
		t.Fatalf("-ca/-key: exit %d, stderr %q", code, errOut)
	}
	if !strings.Contains(out, "==> Using "+caPath+" and "+keyPath+"\n") {
		t.Errorf("output %q does not name the CA files", out)
	}
	if got := dirFiles(t, work); !reflect.DeepEqual(got, []string{"dc1-server-consul-0-key.pem", "dc1-server-consul-0.pem"}) {
		t.Errorf("files %q", got)
	}
	if err := readCert(t, work, "dc1-server-consul-0.pem").CheckSignatureFrom(readCert(t, dir, "example.com-agent-ca.pem")); err != nil {
		t.Errorf("not signed by the given CA: %v", err)
	}
}

func TestTLSCertCreateErrors(t *testing.T) {
	caDir := t.TempDir()
	mustCreateCA(t, caDir)
	otherDir := t.TempDir()
	mustCreateCA(t, otherDir)
	caPath := filepath.Join(caDir, "consul-agent-ca.pem")
	keyPath := filepath.Join(caDir, "consul-agent-ca-key.pem")
	otherKey := filepath.Join(otherDir, "consul-agent-ca-key.pem")
	withCA := []string{"-ca=" + caPath, "-key=" + keyPath}

	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"no role", withCA, []string{"exactly one of -server, -client or -cli"}},
		{"two roles", append([]string{"-server", "-cli"}, withCA...), []string{"exactly one of"}},
		{"three roles", append([]string{"-server", "-client", "-cli"}, withCA...), []string{"exactly one of"}},
		{"node without server", append([]string{"-client", "-node=n1"}, withCA...), []string{"-node requires -server"}},
		{"bad node", append([]string{"-server", "-node=a.b"}, withCA...), []string{"-node", "a.b", "DNS label"}},
		{"zero days", append([]string{"-server", "-days=0"}, withCA...), []string{"-days must be between 1 and 36500"}},
		{"bad dc", append([]string{"-server", "-dc=dc 1"}, withCA...), []string{"dc 1", "not a valid datacenter name"}},
		{"dc with slash", append([]string{"-server", "-dc=../x"}, withCA...), []string{"../x", "not a valid datacenter name"}},
		{"bad domain", append([]string{"-server", "-domain=a..b"}, withCA...), []string{"a..b", "not a DNS name"}},
		{"bad IP", append([]string{"-server", "-additional-ipaddress=10.0.0.256"}, withCA...), []string{"10.0.0.256", "not an IP address"}},
		{"bad DNS name", append([]string{"-server", "-additional-dnsname=a b"}, withCA...), []string{"a b", "not a DNS name"}},
		{"missing CA", []string{"-server"}, []string{"CA certificate consul-agent-ca.pem not found", "meridian tls ca create"}},
		{"missing key", []string{"-server", "-ca=" + caPath}, []string{"CA key consul-agent-ca-key.pem not found"}},
		{"key of another CA", []string{"-client", "-ca=" + caPath, "-key=" + otherKey}, []string{"does not match"}},
		{"certificate as key", []string{"-client", "-ca=" + caPath, "-key=" + caPath}, []string{"no PEM private key block"}},
		{"extra argument", append([]string{"-server", "extra"}, withCA...), []string{"takes no arguments"}},
		{"unknown flag", []string{"-serverr"}, []string{"-serverr"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			code, out, errOut := runTLS(t, dir, "cert", tc.args...)
			if code != 1 || strings.Contains(out, "Saved") {
				t.Errorf("exit %d, output %q: want 1 and nothing saved", code, out)
			}
			oneLineError(t, errOut, tc.want...)
			if got := dirFiles(t, dir); len(got) != 0 {
				t.Errorf("files written: %q", got)
			}
		})
	}
}

func TestTLSCommandsRegistered(t *testing.T) {
	cmds := Commands(cli.NewMockUi())
	for _, name := range []string{"tls", "tls ca", "tls ca create", "tls cert", "tls cert create"} {
		f, ok := cmds[name]
		if !ok {
			t.Errorf("%q is not registered", name)
			continue
		}
		c, err := f()
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if c.Synopsis() == "" || !strings.HasPrefix(c.Help(), "Usage: meridian "+name) {
			t.Errorf("%q: synopsis %q, help starts %q", name, c.Synopsis(), strings.SplitN(c.Help(), "\n", 2)[0])
		}
	}
	for _, name := range []string{"tls", "tls ca", "tls cert"} {
		c, _ := cmds[name]()
		if got := c.Run(nil); got != cli.RunResultHelp {
			t.Errorf("%q Run = %d, want RunResultHelp", name, got)
		}
	}
}

// TestTLSWriteNewFileRefuses checks the last guard against overwriting: a
// file that appears between the existence check and the write.
func TestTLSWriteNewFileRefuses(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.pem")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := writeNewFile(p, []byte("new"), 0o600)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("err %v, want already exists", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Errorf("file overwritten: %q", b)
	}
	// The key cannot be written: the certificate of the pair goes too.
	if err := os.WriteFile(filepath.Join(dir, "k.pem"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ui := cli.NewMockUi()
	if err := writePair(ui, dir, "c.pem", "cert", "k.pem", "key"); err == nil {
		t.Errorf("writePair over an existing key succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "c.pem")); !os.IsNotExist(err) {
		t.Errorf("certificate left behind: %v", err)
	}
	if ui.OutputWriter.String() != "" {
		t.Errorf("output %q after a failed write", ui.OutputWriter.String())
	}
}
