package server

import "fmt"

// registerEndpoints registers every RPC endpoint on the server's net/rpc
// server, one type per API area.
func (s *Server) registerEndpoints() error {
	endpoints := map[string]any{
		"Status":     &Status{s},
		"Catalog":    &Catalog{s},
		"Health":     &Health{s},
		"KVS":        &KVS{s},
		"Session":    &Session{s},
		"Txn":        &Txn{s},
		"Coordinate": &Coordinate{s},
		"Operator":   &Operator{s},
		"ACL":        &ACL{s},
	}
	for name, e := range endpoints {
		if err := s.rpcServer.RegisterName(name, e); err != nil {
			return fmt.Errorf("register rpc endpoint %s: %w", name, err)
		}
	}
	return nil
}
