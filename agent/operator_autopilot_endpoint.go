package agent

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/meridian-sd/meridian/agent/config"
	"github.com/meridian-sd/meridian/structs"
)

// operatorAutopilotConfiguration serves GET and PUT
// /v1/operator/autopilot/configuration. A PUT body's missing fields take
// their defaults (as api.NewAutopilotConfiguration's); ?cas=<index> writes
// only when the stored configuration's ModifyIndex is index and answers
// true or false.
func (a *Agent) operatorAutopilotConfiguration(resp http.ResponseWriter, req *http.Request) (any, error) {
	if req.Method == http.MethodGet {
		args, err := a.dcRequest(req)
		if err != nil {
			return nil, err
		}
		var out structs.AutopilotConfig
		if err := a.RPCContext(req.Context(), "Operator.AutopilotGetConfiguration", args, &out); err != nil {
			return nil, err
		}
		return out, nil
	}
	args := &structs.AutopilotSetConfigRequest{Datacenter: a.parseDC(req), Config: structs.DefaultAutopilotConfig()}
	if err := decodeBody(req, &args.Config); err != nil {
		return nil, err
	}
	args.Config.CreateIndex, args.Config.ModifyIndex = 0, 0
	if v, ok := reqQuery(req)["cas"]; ok {
		idx, err := strconv.ParseUint(v[0], 10, 64)
		if err != nil {
			return nil, badRequest("Error parsing cas value: %q is not a non-negative integer", v[0])
		}
		args.CAS = true
		args.Config.ModifyIndex = idx
	}
	if err := args.Config.Validate(); err != nil {
		return nil, badRequest("%v", err)
	}
	var ok bool
	if err := a.RPCContext(req.Context(), "Operator.AutopilotSetConfiguration", args, &ok); err != nil {
		return nil, err
	}
	return ok, nil
}

// operatorAutopilotHealth serves GET /v1/operator/autopilot/health: 200
// when every server is healthy, 429 (with the same body) when not, as
// Consul's, so that a load balancer check can use it.
func (a *Agent) operatorAutopilotHealth(resp http.ResponseWriter, req *http.Request) (any, error) {
	args, err := a.dcRequest(req)
	if err != nil {
		return nil, err
	}
	var out structs.AutopilotHealthReply
	if err := a.RPCContext(req.Context(), "Operator.ServerHealth", args, &out); err != nil {
		return nil, err
	}
	if out.Servers == nil {
		out.Servers = []structs.AutopilotServerHealth{}
	}
	if out.Healthy {
		return out, nil
	}
	buf, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode server health: %w", err)
	}
	resp.Header().Set("Content-Type", "application/json")
	resp.WriteHeader(http.StatusTooManyRequests)
	resp.Write(buf)
	return nil, nil
}

// operatorAutopilotState serves GET /v1/operator/autopilot/state.
func (a *Agent) operatorAutopilotState(resp http.ResponseWriter, req *http.Request) (any, error) {
	args, err := a.dcRequest(req)
	if err != nil {
		return nil, err
	}
	var out structs.AutopilotState
	if err := a.RPCContext(req.Context(), "Operator.AutopilotState", args, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// operatorRaftTransferLeader serves POST /v1/operator/raft/transfer-leader
// (?id= names the new leader).
func (a *Agent) operatorRaftTransferLeader(resp http.ResponseWriter, req *http.Request) (any, error) {
	args := &structs.TransferLeaderRequest{Datacenter: a.parseDC(req), ID: reqQuery(req).Get("id")}
	var out structs.TransferLeaderResponse
	if err := a.RPCContext(req.Context(), "Operator.RaftTransferLeader", args, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// serverAutopilotConfig is the autopilot block as the server stores it.
func serverAutopilotConfig(rc *config.RuntimeConfig) structs.AutopilotConfig {
	ap := rc.Autopilot
	return structs.AutopilotConfig{
		CleanupDeadServers:      ap.CleanupDeadServers,
		LastContactThreshold:    structs.Duration(ap.LastContactThreshold),
		MaxTrailingLogs:         uint64(ap.MaxTrailingLogs),
		MinQuorum:               uint(ap.MinQuorum),
		ServerStabilizationTime: structs.Duration(ap.ServerStabilizationTime),
		RedundancyZoneTag:       ap.RedundancyZoneTag,
		DisableUpgradeMigration: ap.DisableUpgradeMigration,
		UpgradeVersionTag:       ap.UpgradeVersionTag,
	}
}
