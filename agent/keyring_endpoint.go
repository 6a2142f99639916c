package agent

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/meridian-sd/meridian/gossip"
	"github.com/meridian-sd/meridian/structs"
)

// keyringOut is one pool's answer in /v1/operator/keyring, in the shape of
// Consul's (api.KeyringResponse).
type keyringOut struct {
	WAN         bool
	Datacenter  string
	Segment     string
	Messages    map[string]string `json:",omitempty"`
	Keys        map[string]int
	PrimaryKeys map[string]int
	NumNodes    int
}

// maxKeyringBody bounds a keyring request body ({"Key": "<base64>"}).
const maxKeyringBody = 64 << 10

// operatorKeyring serves /v1/operator/keyring: GET lists the keys of every
// gossip pool, POST installs a key, PUT makes it primary, DELETE removes
// it. Any agent takes the request and hands it to a server of its
// datacenter, which covers the WAN pool and the LAN pools of all
// datacenters (server/keyring_endpoint.go). As with Consul, the answer is
// an error (500) unless every member of every pool answered without one.
func (a *Agent) operatorKeyring(resp http.ResponseWriter, req *http.Request) (any, error) {
	args := structs.KeyringRequest{}
	switch req.Method {
	case http.MethodGet:
		args.Operation = structs.KeyringList
	case http.MethodPost:
		args.Operation = structs.KeyringInstall
	case http.MethodPut:
		args.Operation = structs.KeyringUse
	case http.MethodDelete:
		args.Operation = structs.KeyringRemove
	}
	q := reqQuery(req)
	if v := q.Get("relay-factor"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > structs.MaxRelayFactor {
			return nil, badRequest("Invalid relay-factor %q: must be an integer in range [0, %d]", v, structs.MaxRelayFactor)
		}
		args.RelayFactor = uint8(n)
	}
	if v := q.Get("local-only"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, badRequest("Invalid local-only %q: must be true or false", v)
		}
		if b && args.Operation != structs.KeyringList {
			return nil, badRequest("Invalid use of local-only: it can only be set for list requests")
		}
		args.LocalOnly = b
	}
	if args.Operation != structs.KeyringList {
		var body struct{ Key string }
		req.Body = http.MaxBytesReader(resp, req.Body, maxKeyringBody)
		if err := decodeBody(req, &body); err != nil {
			return nil, err
		}
		if body.Key == "" {
			return nil, badRequest(`Missing key: the body must be {"Key": "<base64 gossip key>"}`)
		}
		if _, err := gossip.DecodeKey(body.Key); err != nil {
			return nil, badRequest("Invalid key: %v", err)
		}
		args.Key = body.Key
	}

	var out structs.KeyringResponses
	if err := a.RPCContext(req.Context(), "Operator.KeyringOperation", &args, &out); err != nil {
		return nil, err
	}
	if err := keyringError(out.Responses); err != nil {
		return nil, err
	}
	if args.Operation != structs.KeyringList {
		return nil, nil
	}
	list := make([]keyringOut, 0, len(out.Responses))
	for _, r := range out.Responses {
		o := keyringOut{WAN: r.WAN, Datacenter: r.Datacenter, Segment: r.Segment, Messages: r.Messages,
			Keys: r.Keys, PrimaryKeys: r.PrimaryKeys, NumNodes: r.NumNodes}
		if o.Keys == nil {
			o.Keys = map[string]int{}
		}
		if o.PrimaryKeys == nil {
			o.PrimaryKeys = map[string]int{}
		}
		list = append(list, o)
	}
	return list, nil
}

// keyringPoolName names a pool as Consul's keyring output does.
func keyringPoolName(r *structs.KeyringResponse) string {
	if r.WAN {
		return "WAN"
	}
	return r.Datacenter + " (LAN)"
}

// maxNamesPerMessage bounds how many member names an error lists for one
// message.
const maxNamesPerMessage = 3

// keyringError turns the pools' failures into one line: per failed pool,
// the pool, serf's summary and the members' messages, each message once
// after the members that sent it, for example
//
//	dc1 (LAN) error: 1/3 nodes reported failure (c1: requested key is not in the keyring)
//
// Nil when no pool failed.
func keyringError(rs []*structs.KeyringResponse) error {
	var parts []string
	for _, r := range rs {
		if r.Error == "" {
			continue
		}
		part := fmt.Sprintf("%s error: %s", keyringPoolName(r), r.Error)
		byMsg := map[string][]string{}
		for node, msg := range r.Messages {
			byMsg[msg] = append(byMsg[msg], node)
		}
		var notes []string
		msgs := make([]string, 0, len(byMsg))
		for msg := range byMsg {
			msgs = append(msgs, msg)
		}
		sort.Strings(msgs)
		for _, msg := range msgs {
			nodes := byMsg[msg]
			sort.Strings(nodes)
			shown := nodes
			if len(shown) > maxNamesPerMessage {
				shown = shown[:maxNamesPerMessage]
			}
			who := strings.Join(shown, ", ")
			if more := len(nodes) - len(shown); more > 0 {
				who += fmt.Sprintf(" and %d more", more)
			}
			notes = append(notes, who+": "+msg)
		}
		if len(notes) > 0 {
			part += " (" + strings.Join(notes, "; ") + ")"
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return nil
	}
	return errors.New(strings.Join(parts, "; "))
}
