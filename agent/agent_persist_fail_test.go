package agent

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
)

// blockDir puts a regular file where the data dir's subdirectory dir
// would be, so that no file can be written in it; permissions would not
// do, as the tests may run as root.
func blockDir(t *testing.T, dataDir, dir string) {
	t.Helper()
	path := filepath.Join(dataDir, dir)
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// pinFile replaces a saved file with a non-empty directory, which no one
// (root included) can remove with a file removal.
func pinFile(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(path, "pin"), 0o700); err != nil {
		t.Fatal(err)
	}
}

func unpinFile(t *testing.T, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
}

// mustFail sends a request and wants a 500 whose text contains says.
func mustFail(t *testing.T, a *TestAgent, method, path string, body any, says string) {
	t.Helper()
	var buf []byte
	if body != nil {
		var err error
		if buf, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	code, text, _ := httpDo(t, a, method, path, buf)
	if code != http.StatusInternalServerError || !strings.Contains(text, says) {
		t.Fatalf("%s %s: %d %q, want 500 saying %q", method, path, code, text, says)
	}
}

func serviceIDs(t *testing.T, a *TestAgent) []string {
	t.Helper()
	svcs, err := a.Client.Agent().Services()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for id := range svcs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func checkIDs(t *testing.T, a *TestAgent) []string {
	t.Helper()
	checks, err := a.Client.Agent().Checks()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for id := range checks {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// TestRegistrationThatCannotBeSavedIsNotApplied: when the data dir
// refuses a registration's file, the API answers 500 with a sentence and
// the agent's services and checks stay as they were, files included: a
// new service is not registered, an updated one keeps its old definition,
// and a service whose check cannot be saved is not registered either.
func TestRegistrationThatCannotBeSavedIsNotApplied(t *testing.T) {
	dataDir := t.TempDir()
	a := StartTestAgent(t, "-server", "-bootstrap", "-data-dir="+dataDir)
	ag := a.Client.Agent()
	if err := ag.ServiceRegister(&api.AgentServiceRegistration{ID: "old", Name: "old", Tags: []string{"v1"}}); err != nil {
		t.Fatal(err)
	}
	oldFile := filepath.Join(dataDir, servicesDir, fileName("old"))
	saved, err := os.ReadFile(oldFile)
	if err != nil {
		t.Fatal(err)
	}

	// The checks dir refuses: a service with a check is refused whole,
	// and its service file, written first, is taken back.
	blockDir(t, dataDir, checksDir)
	mustFail(t, a, "PUT", "/v1/agent/service/register", &api.AgentServiceRegistration{
		ID: "web", Name: "web", Check: &api.AgentServiceCheck{TTL: "30s"},
	}, `save check "service:web" in the data dir`)
	if _, err := os.Stat(filepath.Join(dataDir, servicesDir, fileName("web"))); !os.IsNotExist(err) {
		t.Fatalf("the service file of the refused registration is left behind: %v", err)
	}
	mustFail(t, a, "PUT", "/v1/agent/check/register", &api.AgentCheckRegistration{
		Name: "node-ttl", AgentServiceCheck: api.AgentServiceCheck{TTL: "30s"},
	}, `save check "node-ttl" in the data dir`)
	mustFail(t, a, "PUT", "/v1/agent/maintenance?enable=true", nil, `save check "_node_maintenance"`)

	// The services dir refuses: neither a new service nor an update.
	blockDir(t, dataDir, servicesDir)
	mustFail(t, a, "PUT", "/v1/agent/service/register", &api.AgentServiceRegistration{ID: "db", Name: "db"},
		`save service "db" in the data dir`)
	mustFail(t, a, "PUT", "/v1/agent/service/register", &api.AgentServiceRegistration{ID: "old", Name: "old", Tags: []string{"v2"}},
		`save service "old" in the data dir`)

	if got := serviceIDs(t, a); !slices.Equal(got, []string{"old"}) {
		t.Fatalf("services after refused registrations = %v, want only old", got)
	}
	if got := checkIDs(t, a); len(got) != 0 {
		t.Fatalf("checks after refused registrations = %v, want none", got)
	}
	svcs, err := ag.Services()
	if err != nil {
		t.Fatal(err)
	}
	if tags := svcs["old"].Tags; !slices.Equal(tags, []string{"v1"}) {
		t.Fatalf("the refused update of old was applied: tags %v", tags)
	}

	// Once the data dir is writable again, the same registration works
	// and a restarted agent brings back exactly what was acknowledged.
	for _, dir := range []string{servicesDir, checksDir} {
		if err := os.Remove(filepath.Join(dataDir, dir)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dataDir, servicesDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(oldFile, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ag.ServiceRegister(&api.AgentServiceRegistration{ID: "web", Name: "web", Check: &api.AgentServiceCheck{TTL: "30s"}}); err != nil {
		t.Fatalf("registration once the data dir is writable: %v", err)
	}
	a.Shutdown()
	b := StartTestAgent(t, "-server", "-bootstrap", "-data-dir="+dataDir)
	if got := serviceIDs(t, b); !slices.Equal(got, []string{"old", "web"}) {
		t.Fatalf("services after a restart = %v, want old and web", got)
	}
	if got := checkIDs(t, b); !slices.Equal(got, []string{"service:web"}) {
		t.Fatalf("checks after a restart = %v, want service:web", got)
	}
}

// TestDeregistrationThatCannotRemoveItsFile: when a deregistration cannot
// remove the saved file, the API answers 500 and the service (or check)
// stays registered, with all its files, so that a restart cannot bring
// back what the API said was gone; once the file can go, it goes.
func TestDeregistrationThatCannotRemoveItsFile(t *testing.T) {
	dataDir := t.TempDir()
	a := StartTestAgent(t, "-server", "-bootstrap", "-data-dir="+dataDir)
	ag := a.Client.Agent()
	if err := ag.ServiceRegister(&api.AgentServiceRegistration{ID: "web", Name: "web", Check: &api.AgentServiceCheck{TTL: "30s"}}); err != nil {
		t.Fatal(err)
	}
	if err := ag.CheckRegister(&api.AgentCheckRegistration{Name: "node-ttl", AgentServiceCheck: api.AgentServiceCheck{TTL: "30s"}}); err != nil {
		t.Fatal(err)
	}
	svcFile := filepath.Join(dataDir, servicesDir, fileName("web"))
	svcCheckFile := filepath.Join(dataDir, checksDir, fileName("service:web"))
	nodeCheckFile := filepath.Join(dataDir, checksDir, fileName("node-ttl"))

	// The service's check file cannot go: the service file, removed
	// first, is put back, and nothing is deregistered.
	savedCheck, err := os.ReadFile(svcCheckFile)
	if err != nil {
		t.Fatal(err)
	}
	pinFile(t, svcCheckFile)
	mustFail(t, a, "PUT", "/v1/agent/service/deregister/web", nil, "the service stays registered")
	if _, err := os.Stat(svcFile); err != nil {
		t.Fatalf("the service file was not put back: %v", err)
	}
	unpinFile(t, svcCheckFile)
	if err := os.WriteFile(svcCheckFile, savedCheck, 0o600); err != nil {
		t.Fatal(err)
	}

	pinFile(t, nodeCheckFile)
	mustFail(t, a, "PUT", "/v1/agent/check/deregister/node-ttl", nil, "the check stays registered")
	if got := serviceIDs(t, a); !slices.Equal(got, []string{"web"}) {
		t.Fatalf("services after refused deregistrations = %v, want web", got)
	}
	if got := checkIDs(t, a); !slices.Equal(got, []string{"node-ttl", "service:web"}) {
		t.Fatalf("checks after refused deregistrations = %v", got)
	}

	// Once the files can go, the deregistrations work, and a restart
	// brings nothing back.
	unpinFile(t, nodeCheckFile)
	if err := ag.CheckDeregister("node-ttl"); err != nil {
		t.Fatal(err)
	}
	if err := ag.ServiceDeregister("web"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{svcFile, svcCheckFile, nodeCheckFile} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Fatalf("%s is left after the deregistrations: %v", filepath.Base(f), err)
		}
	}
	a.Shutdown()
	b := StartTestAgent(t, "-server", "-bootstrap", "-data-dir="+dataDir)
	if got := serviceIDs(t, b); len(got) != 0 {
		t.Fatalf("services after a restart = %v, want none", got)
	}
	if got := checkIDs(t, b); len(got) != 0 {
		t.Fatalf("checks after a restart = %v, want none", got)
	}
}

// TestRestoreDoesNotRewriteFiles: at start the agent registers again what
// its data dir holds without writing those files again, so that a full or
// read-only disk at start cannot make it drop them (a registration that
// cannot be saved is refused).
func TestRestoreDoesNotRewriteFiles(t *testing.T) {
	dataDir := t.TempDir()
	a := StartTestAgent(t, "-server", "-bootstrap", "-data-dir="+dataDir)
	if err := a.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "web", Name: "web", Check: &api.AgentServiceCheck{TTL: "30s"}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Client.Agent().EnableNodeMaintenance("drain"); err != nil {
		t.Fatal(err)
	}
	files := []string{
		filepath.Join(dataDir, servicesDir, fileName("web")),
		filepath.Join(dataDir, checksDir, fileName("service:web")),
		filepath.Join(dataDir, checksDir, fileName("_node_maintenance")),
	}
	before := make([]os.FileInfo, len(files))
	for i, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		before[i] = fi
	}
	a.Shutdown()
	b := StartTestAgent(t, "-server", "-bootstrap", "-data-dir="+dataDir)
	if got := checkIDs(t, b); !slices.Equal(got, []string{"_node_maintenance", "service:web"}) {
		t.Fatalf("checks after a restart = %v", got)
	}
	for i, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		// An atomic write replaces the file: a new inode.
		if !os.SameFile(before[i], fi) {
			t.Errorf("%s was written again at start", filepath.Base(filepath.Dir(f))+"/"+fi.Name())
		}
	}
}
