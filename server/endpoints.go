package server

import "fmt"

// registerEndpoints registers every RPC endpoint with the server's
// dispatcher, one type per API area. The dispatcher validates every
// request before its method runs and refuses to register a method whose
// arguments cannot be validated (see rpc.Dispatcher).
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
		"Internal":   &Internal{s},

		"PreparedQuery": &PreparedQuery{s},
	}
	for name, e := range endpoints {
		if err := s.dispatcher.Register(name, e); err != nil {
			return fmt.Errorf("register rpc endpoint %s: %w", name, err)
		}
	}
	// Every method's ACL entry (acl_rpc.go): with ACLs on, a method
	// without one is refused.
	s.rpcRules = rpcACLRules()
	s.dispatcher.SetInterceptor(s.aclIntercept)
	return nil
}
