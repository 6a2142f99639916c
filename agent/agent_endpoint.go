package agent

import (
	"net/http"
	"strings"

	"github.com/hashicorp/serf/coordinate"
	"github.com/hashicorp/serf/serf"

	"github.com/meridian-sd/meridian/structs"
	"github.com/meridian-sd/meridian/version"
)

// selfConfig is the Config section of /v1/agent/self, in Consul's shape.
type selfConfig struct {
	Datacenter        string
	PrimaryDatacenter string
	NodeName          string
	NodeID            string
	Revision          string
	Server            bool
	Version           string
	BuildDate         string
	BindAddr          string
}

type agentSelfResponse struct {
	Config      selfConfig
	DebugConfig map[string]any
	Coord       *coordinate.Coordinate
	Member      serf.Member
	Stats       map[string]map[string]string
	Meta        map[string]string
}

// agentVersion answers GET /v1/agent/version as Consul's: the build's
// commit, date and version.
func (a *Agent) agentVersion(resp http.ResponseWriter, req *http.Request) (any, error) {
	return struct {
		SHA          string
		BuildDate    string
		HumanVersion string
		FIPS         string
	}{SHA: version.GitCommit, BuildDate: version.BuildDate(), HumanVersion: version.Human(), FIPS: ""}, nil
}

func (a *Agent) agentSelf(resp http.ResponseWriter, req *http.Request) (any, error) {
	rc := a.cfg()
	coord, _ := a.delegate.LANSerf().GetCoordinate()
	stats := a.delegate.Stats()
	stats["build"] = map[string]string{
		"version":    version.Version,
		"prerelease": version.Prerelease,
		"revision":   version.GitCommit,
	}
	// The node's meta as the catalog has it, with the keys the agent
	// fills in, as Consul shows it.
	meta := map[string]string{}
	for k, v := range rc.NodeMeta {
		meta[k] = v
	}
	meta[structs.MetaSegmentKey] = ""
	meta[structs.MetaConsulVersion] = version.Version
	return agentSelfResponse{
		Config: selfConfig{
			Datacenter:        rc.Datacenter,
			PrimaryDatacenter: rc.Datacenter,
			NodeName:          rc.NodeName,
			NodeID:            rc.NodeID,
			Revision:          version.GitCommit,
			Server:            rc.ServerMode,
			Version:           version.Version,
			BindAddr:          rc.BindAddr.String(),
		},
		DebugConfig: rc.Sanitized(),
		Coord:       coord,
		Member:      a.delegate.LocalMember(),
		Stats:       stats,
		Meta:        meta,
	}, nil
}

func (a *Agent) agentMembers(resp http.ResponseWriter, req *http.Request) (any, error) {
	q := reqQuery(req)
	wan := isTrue(q, "wan")
	// Network segments are a Consul Enterprise feature: as OSS Consul,
	// the default segment ("") and all segments ("_all") are the whole
	// LAN pool, and any other segment is refused.
	switch segment := q.Get("segment"); {
	case segment != "" && wan:
		return nil, badRequest("Cannot provide a segment with wan=true")
	case segment != "" && segment != "_all":
		return nil, badRequest("Network segments are not supported in this version of Consul")
	}
	f, err := localFilter[serf.Member](req)
	if err != nil {
		return nil, err
	}
	var members []serf.Member
	if wan {
		if a.server == nil {
			// Consul answers a client's WAN member list with an empty list.
			return []serf.Member{}, nil
		}
		members = a.server.WANMembers()
	} else {
		members = a.delegate.LANMembers()
	}
	if members == nil {
		members = []serf.Member{}
	}
	return f.Slice(members)
}

// isTrue reads a boolean query flag: present without a value, or 1/true.
func isTrue(q map[string][]string, name string) bool {
	v, ok := q[name]
	if !ok {
		return false
	}
	return len(v) == 0 || v[0] == "" || v[0] == "1" || strings.EqualFold(v[0], "true")
}

func (a *Agent) agentJoin(resp http.ResponseWriter, req *http.Request) (any, error) {
	addr := pathSuffix(req, "/v1/agent/join/")
	if addr == "" {
		return nil, badRequest("Missing address to join")
	}
	if isTrue(reqQuery(req), "wan") {
		if a.server == nil {
			return nil, badRequest("Cannot join the WAN pool: this agent is a client, and only servers are in the WAN pool")
		}
		if _, err := a.server.JoinWAN([]string{addr}); err != nil {
			return nil, err
		}
		return nil, nil
	}
	if _, err := a.delegate.JoinLAN([]string{addr}); err != nil {
		return nil, err
	}
	return nil, nil
}

func (a *Agent) agentLeave(resp http.ResponseWriter, req *http.Request) (any, error) {
	// ?wan (Meridian's addition) takes a server out of the WAN pool only;
	// it stays in its datacenter and keeps running.
	if isTrue(reqQuery(req), "wan") {
		if a.server == nil {
			return nil, badRequest("Cannot leave the WAN pool: this agent is a client, and only servers are in the WAN pool")
		}
		if err := a.server.LeaveWAN(); err != nil {
			return nil, err
		}
		return nil, nil
	}
	if err := a.Leave(); err != nil {
		return nil, err
	}
	// Shut down after the response is written, as Consul's agent does.
	go a.Shutdown()
	return nil, nil
}

func (a *Agent) agentForceLeave(resp http.ResponseWriter, req *http.Request) (any, error) {
	node := pathSuffix(req, "/v1/agent/force-leave/")
	if node == "" {
		return nil, badRequest("Missing node name")
	}
	q := reqQuery(req)
	prune := isTrue(q, "prune")
	wan := isTrue(q, "wan")
	var members []serf.Member
	switch {
	case wan && a.server == nil:
		return nil, badRequest("Cannot force-leave from the WAN pool: this agent is a client")
	case wan:
		members = a.server.WANMembers()
	default:
		members = a.delegate.LANMembers()
	}
	found := false
	for _, m := range members {
		if m.Name == node {
			found = true
			break
		}
	}
	if !found {
		return nil, notFound("No node found with name '%s'", node)
	}
	var err error
	switch {
	case a.server != nil:
		err = a.server.RemoveFailedNode(node, prune, wan)
	default:
		err = a.client.RemoveFailedNode(node, prune)
	}
	if err != nil {
		return nil, err
	}
	return nil, nil
}

func (a *Agent) agentReload(resp http.ResponseWriter, req *http.Request) (any, error) {
	if err := a.Reload(); err != nil {
		return nil, err
	}
	return nil, nil
}
