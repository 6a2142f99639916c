package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/meridian-sd/meridian/lib/fsutil"
)

// The agent's own ACL tokens (acl.tokens in the configuration) can be
// replaced while it runs through PUT /v1/agent/token/<kind>, as Consul's
// (api.Agent().UpdateAgentACLToken and friends, meridian acl
// set-agent-token). A token set this way wins over the configuration;
// with acl.enable_token_persistence it is kept in <data_dir>/acl-tokens.json
// and used again after a restart.

// aclTokensFile holds the persisted tokens in the data dir.
const aclTokensFile = "acl-tokens.json"

// agentTokenKinds maps the kinds the API accepts, Consul's current and
// legacy names, to the canonical one.
var agentTokenKinds = map[string]string{
	"default": "default", "acl_token": "default",
	"agent": "agent", "acl_agent_token": "agent",
	"agent_recovery": "agent_recovery", "agent_master": "agent_recovery", "acl_agent_master_token": "agent_recovery",
	"replication": "replication", "acl_replication_token": "replication",
}

// agentTokens are the tokens set through the API.
type agentTokens struct {
	once sync.Once
	mu   sync.Mutex
	set  map[string]string
}

// load reads the persisted tokens once, when persistence is on.
func (a *Agent) loadAgentTokens() {
	a.acl.tokens.once.Do(func() {
		a.acl.tokens.set = map[string]string{}
		rc := a.cfg()
		if !rc.ACL.EnableTokenPersistence || rc.DataDir == "" {
			return
		}
		path := filepath.Join(rc.DataDir, aclTokensFile)
		buf, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return
		}
		var saved map[string]string
		if err == nil {
			err = json.Unmarshal(buf, &saved)
		}
		if err != nil {
			a.logger.Error("ignoring the persisted ACL tokens", "file", path, "error", err)
			return
		}
		for k, v := range saved {
			if kind, ok := agentTokenKinds[k]; ok && v != "" {
				a.acl.tokens.set[kind] = v
			}
		}
	})
}

// agentToken is the agent's token of kind: set through the API, or from
// the configuration.
func (a *Agent) agentToken(kind string) string {
	a.loadAgentTokens()
	a.acl.tokens.mu.Lock()
	v, ok := a.acl.tokens.set[kind]
	a.acl.tokens.mu.Unlock()
	if ok {
		return v
	}
	c := a.cfg().ACL
	switch kind {
	case "default":
		return c.DefaultToken
	case "agent":
		return c.AgentToken
	case "agent_recovery":
		return c.AgentRecoveryToken
	case "replication":
		return c.ReplicationToken
	}
	return ""
}

// agentTokenUpdate serves PUT /v1/agent/token/<kind>; the guard has
// checked acl:write.
func (a *Agent) agentTokenUpdate(resp http.ResponseWriter, req *http.Request) (any, error) {
	if !a.cfg().ACL.Enabled {
		return nil, HTTPError{Code: http.StatusUnauthorized, Reason: "ACL support disabled"}
	}
	name := pathSuffix(req, "/v1/agent/token/")
	kind, ok := agentTokenKinds[name]
	if !ok {
		return nil, notFound("Token %q is unknown", name)
	}
	var body struct{ Token string }
	if err := decodeACLBody(req, &body); err != nil {
		return nil, err
	}
	if len(body.Token) > 256 {
		return nil, badRequest("Token is %d characters long, more than the 256 allowed", len(body.Token))
	}
	a.loadAgentTokens()
	t := &a.acl.tokens
	t.mu.Lock()
	defer t.mu.Unlock()
	t.set[kind] = body.Token
	rc := a.cfg()
	if rc.ACL.EnableTokenPersistence && rc.DataDir != "" {
		buf, err := json.Marshal(t.set)
		if err != nil {
			return nil, err
		}
		if err := fsutil.WriteFileAtomic(filepath.Join(rc.DataDir, aclTokensFile), buf, 0o600); err != nil {
			return nil, fmt.Errorf("persist the agent's ACL tokens: %w", err)
		}
	}
	if kind == "replication" && a.server != nil {
		a.server.SetACLReplicationToken(body.Token)
	}
	if (kind == "agent" || kind == "default") && a.svc.state != nil {
		// Anti-entropy reads the tokens at each sync: one now retries
		// what the old token could not write.
		a.svc.state.TriggerSync()
	}
	a.logger.Info("ACL token updated", "kind", kind)
	return nil, nil
}

// isAgentTokenRoute says whether a path is the agent token API, which the
// agent recovery token does not open.
func isAgentTokenRoute(pattern string) bool { return strings.HasPrefix(pattern, "/v1/agent/token/") }
