package agent

import (
	"net/http"

	"github.com/meridian-sd/meridian/structs"
)

func (a *Agent) statusLeader(resp http.ResponseWriter, req *http.Request) (any, error) {
	args := &structs.StatusRequest{Datacenter: a.parseDC(req)}
	var out string
	if err := a.RPCContext(req.Context(), "Status.Leader", args, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (a *Agent) statusPeers(resp http.ResponseWriter, req *http.Request) (any, error) {
	args := &structs.StatusRequest{Datacenter: a.parseDC(req)}
	var out []string
	if err := a.RPCContext(req.Context(), "Status.Peers", args, &out); err != nil {
		return nil, err
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}
