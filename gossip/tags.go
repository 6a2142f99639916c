package gossip

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/hashicorp/serf/serf"

	"github.com/meridian-sd/meridian/version"
)

// Member tag names and values. They follow Consul's so that tools reading
// /v1/agent/members see familiar tags.
const (
	TagRole        = "role"
	TagDatacenter  = "dc"
	TagPort        = "port"
	TagBuild       = "build"
	TagVsn         = "vsn"
	TagVsnMin      = "vsn_min"
	TagVsnMax      = "vsn_max"
	TagBootstrap   = "bootstrap"
	TagExpect      = "expect"
	TagID          = "id"
	TagRaftVsn     = "raft_vsn"
	TagSegment     = "segment"
	TagWANJoinPort = "wan_join_port"

	// RoleServer is the role tag of servers ("consul", as Consul's).
	RoleServer = "consul"
	// RoleClient is the role tag of client agents.
	RoleClient = "node"
)

// TagsConfig describes the agent for its member tags.
type TagsConfig struct {
	// NodeID is the agent's persistent UUID.
	NodeID string
	// Datacenter is the agent's DC.
	Datacenter string
	// Server marks a server agent.
	Server bool
	// ServerPort is the server RPC port (servers only).
	ServerPort int
	// Bootstrap marks a -bootstrap server.
	Bootstrap bool
	// BootstrapExpect is the -bootstrap-expect value (servers only).
	BootstrapExpect int
	// WANJoinPort is the WAN serf port, advertised in the LAN pool so that
	// servers can flood-join each other to the WAN.
	WANJoinPort int
}

// Tags returns the member tags for an agent.
func Tags(c TagsConfig) map[string]string {
	t := map[string]string{
		TagRole:       RoleClient,
		TagDatacenter: c.Datacenter,
		TagID:         c.NodeID,
		TagBuild:      version.BuildTag(),
		TagVsn:        strconv.Itoa(version.ProtocolVersion),
		TagVsnMin:     strconv.Itoa(version.ProtocolVersionMin),
		TagVsnMax:     strconv.Itoa(version.ProtocolVersionMax),
		TagSegment:    "",
	}
	if c.Server {
		t[TagRole] = RoleServer
		t[TagPort] = strconv.Itoa(c.ServerPort)
		t[TagRaftVsn] = "3"
		if c.Bootstrap {
			t[TagBootstrap] = "1"
		}
		if c.BootstrapExpect > 0 {
			t[TagExpect] = strconv.Itoa(c.BootstrapExpect)
		}
		if c.WANJoinPort > 0 {
			t[TagWANJoinPort] = strconv.Itoa(c.WANJoinPort)
		}
	}
	return t
}

// ServerMeta is what a server advertises about itself through gossip.
type ServerMeta struct {
	// Name is the node name (without the ".dc" suffix of the WAN pool).
	Name string
	// ID is the node ID, which is also the server's Raft ID.
	ID string
	// Datacenter is the server's DC.
	Datacenter string
	// Addr is the server RPC address (member IP and the `port` tag).
	Addr *net.TCPAddr
	// Bootstrap is set for -bootstrap servers.
	Bootstrap bool
	// Expect is the -bootstrap-expect value, 0 if none.
	Expect int
	// Build is the version part of the build tag.
	Build string
	// WANJoinPort is the WAN serf port, 0 if unknown.
	WANJoinPort int
	// Status is the gossip status of the member.
	Status serf.MemberStatus
}

// String names the server for logs.
func (m *ServerMeta) String() string {
	return fmt.Sprintf("%s (Addr: %s) (DC: %s)", m.Name, m.Addr, m.Datacenter)
}

// IsServer reports whether m is a server and parses its metadata. A member
// whose server tags are malformed is treated as not a server.
func IsServer(m serf.Member) (*ServerMeta, bool) {
	if m.Tags[TagRole] != RoleServer {
		return nil, false
	}
	port, err := strconv.Atoi(m.Tags[TagPort])
	if err != nil || port <= 0 || port > 65535 {
		return nil, false
	}
	meta := &ServerMeta{
		Name:       m.Name,
		ID:         m.Tags[TagID],
		Datacenter: m.Tags[TagDatacenter],
		Addr:       &net.TCPAddr{IP: m.Addr, Port: port},
		Bootstrap:  m.Tags[TagBootstrap] == "1",
		Build:      BuildVersion(m.Tags[TagBuild]),
		Status:     m.Status,
	}
	if e, ok := m.Tags[TagExpect]; ok {
		if meta.Expect, err = strconv.Atoi(e); err != nil {
			return nil, false
		}
	}
	if w, ok := m.Tags[TagWANJoinPort]; ok {
		meta.WANJoinPort, _ = strconv.Atoi(w)
	}
	// In the WAN pool members are named node.dc; strip the suffix.
	if dc := meta.Datacenter; dc != "" && strings.HasSuffix(m.Name, "."+dc) {
		meta.Name = strings.TrimSuffix(m.Name, "."+dc)
	}
	return meta, true
}

// BuildVersion returns the version part of a build tag ("0.1.0:abc" ->
// "0.1.0").
func BuildVersion(tag string) string {
	v, _, _ := strings.Cut(tag, ":")
	return v
}

// WANName is a server's member name in the WAN pool.
func WANName(node, dc string) string {
	return node + "." + dc
}
