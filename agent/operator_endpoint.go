package agent

import (
	"net/http"

	"github.com/meridian-sd/meridian/structs"
)

func (a *Agent) operatorRaftConfiguration(resp http.ResponseWriter, req *http.Request) (any, error) {
	args, err := a.dcRequest(req)
	if err != nil {
		return nil, err
	}
	var out structs.RaftConfigurationResponse
	if err := a.RPCContext(req.Context(), "Operator.RaftGetConfiguration", args, &out); err != nil {
		return nil, err
	}
	if out.Servers == nil {
		out.Servers = []*structs.RaftServer{}
	}
	return out, nil
}

func (a *Agent) operatorRaftPeer(resp http.ResponseWriter, req *http.Request) (any, error) {
	q := reqQuery(req)
	args := &structs.RaftRemovePeerRequest{Datacenter: a.parseDC(req), Address: q.Get("address"), ID: q.Get("id")}
	if args.ID == "" && args.Address == "" {
		return nil, badRequest("Must specify either ?id with the server's ID or ?address with IP:port of peer to remove")
	}
	if args.ID != "" && args.Address != "" {
		return nil, badRequest("Must specify only one of ?id or ?address")
	}
	var out struct{}
	if err := a.RPCContext(req.Context(), "Operator.RaftRemovePeer", args, &out); err != nil {
		return nil, err
	}
	return nil, nil
}

func (a *Agent) operatorFederation(resp http.ResponseWriter, req *http.Request) (any, error) {
	args := &structs.DCSpecificRequest{Datacenter: a.parseDC(req)}
	var out []structs.FederationDC
	if err := a.RPCContext(req.Context(), "Operator.FederationStatus", args, &out); err != nil {
		return nil, err
	}
	if out == nil {
		out = []structs.FederationDC{}
	}
	return out, nil
}
