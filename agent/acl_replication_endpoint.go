package agent

import (
	"net/http"

	"github.com/meridian-sd/meridian/structs"
)

// aclReplicationStatus answers GET /v1/acl/replication[?dc=]: the ACL
// replication status of a datacenter, from its leader, in Consul's shape
// (api.ACL().Replication()). It needs no token, as Consul's: it holds
// nothing secret and health checks poll it. With ACLs off it is 401 "ACL
// support disabled".
func (a *Agent) aclReplicationStatus(resp http.ResponseWriter, req *http.Request) (any, error) {
	args := &structs.ACLReplicationStatusRequest{}
	dc, err := a.parseQuery(req, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	args.Datacenter = dc
	args.Token = a.requestToken(req)
	var out structs.ACLReplicationStatus
	if err := a.RPC("ACL.ReplicationStatus", args, &out); err != nil {
		return nil, err
	}
	return out, nil
}
