package agent

// The agent's service and check endpoints, in Consul's shapes:
// /v1/agent/service/..., /v1/agent/check/..., /v1/agent/services,
// /v1/agent/checks, /v1/agent/health/service/..., and maintenance mode.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-sd/meridian/agent/config"
	"github.com/meridian-sd/meridian/filter"
	"github.com/meridian-sd/meridian/structs"
)

// maxDefinitionBody caps the body of a registration.
const maxDefinitionBody = 1 << 20

// agentServiceOut is a service as /v1/agent/services and
// /v1/agent/service/<id> return it (Consul's AgentService).
type agentServiceOut struct {
	*structs.NodeService
	ContentHash string `json:",omitempty"`
}

// agentServiceChecksInfo is one entry of /v1/agent/health/service
// (Consul's AgentServiceChecksInfo).
type agentServiceChecksInfo struct {
	AggregatedStatus string
	Service          *structs.NodeService
	Checks           structs.HealthChecks
}

// serviceOut prepares a local service for output: empty lists and maps
// rather than null, and the datacenter, as Consul shows them.
func (a *Agent) serviceOut(s *structs.NodeService) *structs.NodeService {
	if s.Tags == nil {
		s.Tags = []string{}
	}
	if s.Meta == nil {
		s.Meta = map[string]string{}
	}
	s.Datacenter = a.datacenter()
	return s
}

func (a *Agent) agentServicesList(resp http.ResponseWriter, req *http.Request) (any, error) {
	f, err := localFilter[*structs.NodeService](req)
	if err != nil {
		return nil, err
	}
	out := map[string]*structs.NodeService{}
	for id, s := range a.svc.state.Services() {
		out[id] = a.serviceOut(s)
	}
	return filter.Map(f, out)
}

// agentServiceGet answers /v1/agent/service/<id>: the service with its
// ContentHash, in the body and the X-Consul-ContentHash header. With
// ?hash=<hash> it is a blocking query, as Consul's: it answers once the
// hash differs from the one given, or when ?wait (default_query_time
// without it, at most max_query_time) has passed.
func (a *Agent) agentServiceGet(resp http.ResponseWriter, req *http.Request) (any, error) {
	id := pathSuffix(req, "/v1/agent/service/")
	if id == "" {
		return nil, badRequest("Missing service ID")
	}
	q := reqQuery(req)
	want := q.Get("hash")
	var deadline <-chan time.Time
	if want != "" {
		rc := a.cfg()
		wait := rc.DefaultQueryTime
		if v := q.Get("wait"); v != "" {
			d, err := parseWait(v)
			if err != nil {
				return nil, badRequest("Invalid wait time %q: %v", v, err)
			}
			if d > 0 {
				wait = d
			}
		}
		wait = min(wait, rc.MaxQueryTime)
		t := time.NewTimer(wait)
		defer t.Stop()
		deadline = t.C
	}
	for {
		changed := a.svc.state.Changed()
		s := a.svc.state.Service(id)
		if s == nil {
			return nil, notFound("unknown service ID: %s", id)
		}
		s = a.serviceOut(s)
		hash, err := serviceHash(s)
		if err != nil {
			return nil, err
		}
		if want == "" || hash != want {
			resp.Header().Set("X-Consul-ContentHash", hash)
			return agentServiceOut{NodeService: s, ContentHash: hash}, nil
		}
		select {
		case <-changed:
		case <-deadline:
			want = ""
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
}

// serviceHash is the ContentHash of a service as the agent shows it: 16
// hex digits of the SHA-256 of its JSON, changing with any field.
func serviceHash(s *structs.NodeService) (string, error) {
	buf, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("encode service: %w", err)
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:8]), nil
}

func (a *Agent) agentChecksList(resp http.ResponseWriter, req *http.Request) (any, error) {
	f, err := localFilter[*structs.HealthCheck](req)
	if err != nil {
		return nil, err
	}
	out := a.svc.state.Checks()
	for _, c := range out {
		if c.ServiceTags == nil {
			c.ServiceTags = []string{}
		}
	}
	return filter.Map(f, out)
}

// readDefinition reads a registration body and rewrites what Consul
// accepts but the definition parser does not: a service's name given as
// Service (the AgentService shape, as /v1/agent/service/<id> returns it),
// the read-only fields of that shape, and durations given as numbers of
// nanoseconds.
func readDefinition(req *http.Request, service bool) ([]byte, error) {
	if req.Body == nil {
		return nil, badRequest("Request body is empty")
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxDefinitionBody+1))
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if len(body) > maxDefinitionBody {
		return nil, badRequest("Request body is larger than %d bytes", maxDefinitionBody)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, badRequest("Request body is empty")
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, badRequest("Request decode failed: %v", err)
	}
	if service {
		if v, ok := takeKey(m, "service"); ok {
			if _, has := findKey(m, "name"); !has {
				m["Name"] = v
			}
		}
		for _, k := range []string{"contenthash", "createindex", "modifyindex", "datacenter", "peername"} {
			takeKey(m, k)
		}
		if c, ok := findKey(m, "check"); ok {
			fixDurations(m[c])
		}
		if c, ok := findKey(m, "checks"); ok {
			if list, ok := m[c].([]any); ok {
				for _, item := range list {
					fixDurations(item)
				}
			}
		}
	} else {
		fixDurations(m)
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode definition: %w", err)
	}
	return out, nil
}

// findKey returns the key of m that matches name, ignoring case and
// underscores.
func findKey(m map[string]any, name string) (string, bool) {
	for k := range m {
		if strings.EqualFold(strings.ReplaceAll(k, "_", ""), name) {
			return k, true
		}
	}
	return "", false
}

// takeKey removes the key matching name and returns its value.
func takeKey(m map[string]any, name string) (any, bool) {
	k, ok := findKey(m, name)
	if !ok {
		return nil, false
	}
	v := m[k]
	delete(m, k)
	return v, true
}

// fixDurations turns durations given as numbers (nanoseconds, which
// Consul's API also takes) into strings in a check object.
func fixDurations(v any) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	for _, name := range []string{"interval", "timeout", "ttl", "deregistercriticalserviceafter"} {
		k, ok := findKey(m, name)
		if !ok {
			continue
		}
		if n, ok := m[k].(float64); ok {
			m[k] = strconv.FormatInt(int64(n), 10) + "ns"
		}
	}
}

// definitionError words a definition parse error as one line.
func definitionError(err error) error {
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	return badRequest("Invalid %s", msg)
}

func (a *Agent) agentServiceRegister(resp http.ResponseWriter, req *http.Request) (any, error) {
	body, err := readDefinition(req, true)
	if err != nil {
		return nil, err
	}
	def, warnings, err := config.ParseServiceDefinition(body)
	if err != nil {
		return nil, definitionError(err)
	}
	for _, w := range warnings {
		a.logger.Warn(w)
	}
	replace := isTrue(reqQuery(req), "replace-existing-checks")
	// The service syncs with the token it was registered with.
	if err := a.addServiceToken(def, sourceAPI, replace, explicitToken(req)); err != nil {
		return nil, err
	}
	return nil, nil
}

func (a *Agent) agentServiceDeregister(resp http.ResponseWriter, req *http.Request) (any, error) {
	id := pathSuffix(req, "/v1/agent/service/deregister/")
	if id == "" {
		return nil, badRequest("Missing service ID")
	}
	if err := a.removeService(id); err != nil {
		return nil, err
	}
	return nil, nil
}

func (a *Agent) agentCheckRegister(resp http.ResponseWriter, req *http.Request) (any, error) {
	body, err := readDefinition(req, false)
	if err != nil {
		return nil, err
	}
	def, warnings, err := config.ParseCheckDefinition(body)
	if err != nil {
		return nil, definitionError(err)
	}
	for _, w := range warnings {
		a.logger.Warn(w)
	}
	if def.Name == "" {
		return nil, badRequest("Missing check name")
	}
	if err := a.addCheckToken(def, sourceAPI, explicitToken(req)); err != nil {
		return nil, err
	}
	return nil, nil
}

func (a *Agent) agentCheckDeregister(resp http.ResponseWriter, req *http.Request) (any, error) {
	id := pathSuffix(req, "/v1/agent/check/deregister/")
	if id == "" {
		return nil, badRequest("Missing check ID")
	}
	if isMaintCheck(id) {
		// Through the maintenance endpoints only, so that their state and
		// the checks agree.
		return nil, badRequest("Check %q is a maintenance check: use the maintenance endpoints to lift it", id)
	}
	if err := a.removeCheck(id); err != nil {
		return nil, err
	}
	return nil, nil
}

// agentCheckTTL returns the handler of /v1/agent/check/pass|warn|fail/<id>.
func (a *Agent) agentCheckTTL(prefix, status string) handlerFunc {
	return func(resp http.ResponseWriter, req *http.Request) (any, error) {
		id := pathSuffix(req, prefix)
		if id == "" {
			return nil, badRequest("Missing check ID")
		}
		if err := a.updateTTL(id, status, reqQuery(req).Get("note")); err != nil {
			return nil, err
		}
		return nil, nil
	}
}

// checkUpdate is the body of /v1/agent/check/update/<id>.
type checkUpdate struct {
	Status string
	Output string
}

func (a *Agent) agentCheckUpdate(resp http.ResponseWriter, req *http.Request) (any, error) {
	id := pathSuffix(req, "/v1/agent/check/update/")
	if id == "" {
		return nil, badRequest("Missing check ID")
	}
	var update checkUpdate
	if err := decodeBody(req, &update); err != nil {
		return nil, err
	}
	if !structs.ValidHealthStatus(update.Status) {
		return nil, badRequest("Invalid check status: %q (want passing, warning or critical)", update.Status)
	}
	if err := a.updateTTL(id, update.Status, update.Output); err != nil {
		return nil, err
	}
	return nil, nil
}

// aggregatedStatus folds the checks of a service into one status, as
// Consul does: maintenance first, then critical, warning, passing.
func aggregatedStatus(checks structs.HealthChecks) string {
	var warning, critical, maint bool
	for _, c := range checks {
		if isMaintCheck(c.CheckID) {
			maint = true
			continue
		}
		switch c.Status {
		case structs.HealthWarning:
			warning = true
		case structs.HealthCritical:
			critical = true
		}
	}
	switch {
	case maint:
		return structs.HealthMaint
	case critical:
		return structs.HealthCritical
	case warning:
		return structs.HealthWarning
	}
	return structs.HealthPassing
}

// statusCode is the HTTP status of an aggregated status: 200 passing, 429
// warning, 503 critical or maintenance.
func statusCode(status string) int {
	switch status {
	case structs.HealthPassing:
		return http.StatusOK
	case structs.HealthWarning:
		return http.StatusTooManyRequests
	}
	return http.StatusServiceUnavailable
}

// wantsText reports whether the caller asked for ?format=text.
func wantsText(req *http.Request) bool {
	return reqQuery(req).Get("format") == "text"
}

// writeCoded writes a result with its own status code: the status as text
// with ?format=text, JSON otherwise.
func writeCoded(resp http.ResponseWriter, req *http.Request, code int, text string, obj any) error {
	if wantsText(req) {
		writeText(resp, code, text)
		return nil
	}
	buf, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	resp.Header().Set("Content-Type", "application/json")
	resp.WriteHeader(code)
	resp.Write(buf)
	return nil
}

// serviceHealth returns the health of one local service, node checks
// included.
func (a *Agent) serviceHealth(s *structs.NodeService) agentServiceChecksInfo {
	checks := a.svc.state.ChecksForService(s.ID, true)
	for _, c := range checks {
		if c.ServiceTags == nil {
			c.ServiceTags = []string{}
		}
	}
	return agentServiceChecksInfo{AggregatedStatus: aggregatedStatus(checks), Service: a.serviceOut(s), Checks: checks}
}

func (a *Agent) agentHealthServiceByID(resp http.ResponseWriter, req *http.Request) (any, error) {
	id := pathSuffix(req, "/v1/agent/health/service/id/")
	if id == "" {
		return nil, badRequest("Missing service ID")
	}
	s := a.svc.state.Service(id)
	if s == nil {
		reason := fmt.Sprintf("ServiceId %s not found", id)
		return nil, writeCoded(resp, req, http.StatusNotFound, reason,
			agentServiceChecksInfo{AggregatedStatus: structs.HealthCritical, Checks: structs.HealthChecks{}})
	}
	info := a.serviceHealth(s)
	return nil, writeCoded(resp, req, statusCode(info.AggregatedStatus), info.AggregatedStatus, info)
}

func (a *Agent) agentHealthServiceByName(resp http.ResponseWriter, req *http.Request) (any, error) {
	name := pathSuffix(req, "/v1/agent/health/service/name/")
	if name == "" {
		return nil, badRequest("Missing service name")
	}
	var ids []string
	services := a.svc.state.Services()
	for id, s := range services {
		if s.Service == name {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	out := []agentServiceChecksInfo{}
	if len(ids) == 0 {
		reason := fmt.Sprintf("ServiceName %s Not Found", name)
		return nil, writeCoded(resp, req, http.StatusNotFound, reason, out)
	}
	// The worst instance decides the code.
	worst := structs.HealthPassing
	rank := map[string]int{structs.HealthPassing: 0, structs.HealthWarning: 1, structs.HealthCritical: 2, structs.HealthMaint: 3}
	for _, id := range ids {
		info := a.serviceHealth(services[id])
		if rank[info.AggregatedStatus] > rank[worst] {
			worst = info.AggregatedStatus
		}
		out = append(out, info)
	}
	return nil, writeCoded(resp, req, statusCode(worst), worst, out)
}

// parseEnable reads ?enable= of the maintenance endpoints.
func parseEnable(req *http.Request) (bool, error) {
	q := reqQuery(req)
	if _, ok := q["enable"]; !ok {
		return false, badRequest("Missing value for enable")
	}
	v := q.Get("enable")
	enable, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("Invalid value for enable: %q (want true or false)", v)
	}
	return enable, nil
}

func (a *Agent) agentNodeMaintenance(resp http.ResponseWriter, req *http.Request) (any, error) {
	enable, err := parseEnable(req)
	if err != nil {
		return nil, err
	}
	if enable {
		return nil, a.enableNodeMaintenance(reqQuery(req).Get("reason"))
	}
	return nil, a.disableNodeMaintenance()
}

func (a *Agent) agentServiceMaintenance(resp http.ResponseWriter, req *http.Request) (any, error) {
	id := pathSuffix(req, "/v1/agent/service/maintenance/")
	if id == "" {
		return nil, badRequest("Missing service ID")
	}
	enable, err := parseEnable(req)
	if err != nil {
		return nil, err
	}
	if enable {
		return nil, a.enableServiceMaintenance(id, reqQuery(req).Get("reason"))
	}
	return nil, a.disableServiceMaintenance(id)
}
