package state

import (
	"maps"
	"slices"

	"github.com/meridian-sd/meridian/structs"
)

// The store never hands out the objects it keeps in memdb, and never keeps
// the objects it is given: these helpers make the deep copies.

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return slices.Clone(s)
}

func cloneMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return nil
	}
	return maps.Clone(m)
}

func cloneNode(n *structs.Node) *structs.Node {
	c := *n
	c.TaggedAddresses = cloneMap(n.TaggedAddresses)
	c.Meta = cloneMap(n.Meta)
	return &c
}

func cloneNodeService(s *structs.NodeService) *structs.NodeService {
	c := *s
	c.Tags = cloneStrings(s.Tags)
	c.Meta = cloneMap(s.Meta)
	c.TaggedAddresses = cloneMap(s.TaggedAddresses)
	c.Ports = cloneSlice(s.Ports)
	c.Proxy = cloneSlice(s.Proxy)
	c.Connect = cloneSlice(s.Connect)
	c.AI = cloneSlice(s.AI)
	c.Locality = clonePtr(s.Locality)
	return &c
}

// cloneSlice copies a slice of values, nil staying nil.
func cloneSlice[S ~[]E, E any](s S) S {
	if s == nil {
		return nil
	}
	return slices.Clone(s)
}

// clonePtr copies the value behind a pointer, nil staying nil.
func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

func cloneServiceNode(s *structs.ServiceNode) *structs.ServiceNode {
	c := *s
	c.TaggedAddresses = cloneMap(s.TaggedAddresses)
	c.NodeMeta = cloneMap(s.NodeMeta)
	c.ServiceTaggedAddresses = cloneMap(s.ServiceTaggedAddresses)
	c.ServiceTags = cloneStrings(s.ServiceTags)
	c.ServiceMeta = cloneMap(s.ServiceMeta)
	c.ServicePorts = cloneSlice(s.ServicePorts)
	c.ServiceProxy = cloneSlice(s.ServiceProxy)
	c.ServiceConnect = cloneSlice(s.ServiceConnect)
	c.ServiceAI = cloneSlice(s.ServiceAI)
	c.ServiceLocality = clonePtr(s.ServiceLocality)
	return &c
}

func cloneCheck(h *structs.HealthCheck) *structs.HealthCheck {
	c := *h
	c.ServiceTags = cloneStrings(h.ServiceTags)
	if h.Definition.Header != nil {
		c.Definition.Header = make(map[string][]string, len(h.Definition.Header))
		for k, v := range h.Definition.Header {
			c.Definition.Header[k] = cloneStrings(v)
		}
	}
	return &c
}

func cloneDirEntry(e *structs.DirEntry) *structs.DirEntry {
	c := *e
	if e.Value != nil {
		c.Value = slices.Clone(e.Value)
	}
	return &c
}

func cloneSession(s *structs.Session) *structs.Session {
	c := *s
	c.NodeChecks = cloneStrings(s.NodeChecks)
	c.Checks = cloneStrings(s.Checks)
	if s.ServiceChecks != nil {
		c.ServiceChecks = slices.Clone(s.ServiceChecks)
	}
	return &c
}

func cloneCoordinate(c *structs.Coordinate) *structs.Coordinate {
	out := *c
	if c.Coord != nil {
		out.Coord = c.Coord.Clone()
	}
	return &out
}

// toNodeService converts a stored service record to the NodeService shape.
func toNodeService(s *structs.ServiceNode) *structs.NodeService {
	return &structs.NodeService{
		Kind:              s.ServiceKind,
		Ports:             cloneSlice(s.ServicePorts),
		SocketPath:        s.ServiceSocketPath,
		Proxy:             cloneSlice(s.ServiceProxy),
		Connect:           cloneSlice(s.ServiceConnect),
		AI:                cloneSlice(s.ServiceAI),
		Locality:          clonePtr(s.ServiceLocality),
		ID:                s.ServiceID,
		Service:           s.ServiceName,
		Tags:              cloneStrings(s.ServiceTags),
		Meta:              cloneMap(s.ServiceMeta),
		Port:              s.ServicePort,
		Address:           s.ServiceAddress,
		TaggedAddresses:   cloneMap(s.ServiceTaggedAddresses),
		Weights:           s.ServiceWeights,
		EnableTagOverride: s.ServiceEnableTagOverride,
		CreateIndex:       s.CreateIndex,
		ModifyIndex:       s.ModifyIndex,
	}
}

// toServiceRecord converts a NodeService to the stored record: service
// fields and the node name only, node fields are joined on read.
func toServiceRecord(node string, s *structs.NodeService) *structs.ServiceNode {
	return &structs.ServiceNode{
		Node:                     node,
		ServiceKind:              s.Kind,
		ServicePorts:             cloneSlice(s.Ports),
		ServiceSocketPath:        s.SocketPath,
		ServiceProxy:             cloneSlice(s.Proxy),
		ServiceConnect:           cloneSlice(s.Connect),
		ServiceAI:                cloneSlice(s.AI),
		ServiceLocality:          clonePtr(s.Locality),
		ServiceID:                s.ID,
		ServiceName:              s.Service,
		ServiceAddress:           s.Address,
		ServiceTaggedAddresses:   cloneMap(s.TaggedAddresses),
		ServiceTags:              cloneStrings(s.Tags),
		ServiceMeta:              cloneMap(s.Meta),
		ServicePort:              s.Port,
		ServiceWeights:           s.Weights,
		ServiceEnableTagOverride: s.EnableTagOverride,
		CreateIndex:              s.CreateIndex,
		ModifyIndex:              s.ModifyIndex,
	}
}

// joinServiceNode returns a copy of a stored service record with its
// node's fields filled in.
func joinServiceNode(s *structs.ServiceNode, n *structs.Node) *structs.ServiceNode {
	c := cloneServiceNode(s)
	if n != nil {
		c.ID = n.ID
		c.Node = n.Node
		c.Address = n.Address
		c.Datacenter = n.Datacenter
		c.TaggedAddresses = cloneMap(n.TaggedAddresses)
		c.NodeMeta = cloneMap(n.Meta)
	}
	return c
}
