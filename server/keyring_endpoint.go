package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/hashicorp/serf/serf"

	"github.com/meridian-sd/meridian/gossip"
	"github.com/meridian-sd/meridian/structs"
)

// Gossip key rotation across datacenters.
//
// A keyring operation reaches every gossip pool: the server that receives
// it runs serf's key query (list, install, use, remove) in the WAN pool and
// in its own LAN pool, and sends the request, marked Forwarded, to one
// server of every other datacenter known to its router, which runs it in
// its LAN pool only. The three kinds run concurrently; the answer holds one
// KeyringResponse per pool: the WAN pool first, then the local LAN pool,
// then the other datacenters by name. A pool whose members did not all
// answer, or answered with an error, carries that in Error; a datacenter
// that could not be reached gets a response with only Error set.
//
// After a change, the server asks every member of the pool to write its
// keyring file and waits for their answers (gossip.Pool.ConfirmKeyring),
// so that a change reported as done survives any member's restart.
//
// Any server can run an operation (nothing goes through Raft), so there is
// no forwarding to the leader.

// maxForwardedKeyringResponses bounds what another datacenter's server may
// make this one hold: it answers for its LAN pool, one response.
const maxForwardedKeyringResponses = 4

// KeyringOperation lists, installs, uses or removes a gossip key in every
// pool.
func (o *Operator) KeyringOperation(ctx context.Context, args *structs.KeyringRequest, reply *structs.KeyringResponses) error {
	if err := validateKeyringRequest(args); err != nil {
		return err
	}
	s := o.s
	// Any server answers: the check runs here (and again in every other
	// datacenter the request is forwarded to, with the same token).
	if err := s.aclPreCheck(ctx); err != nil {
		return err
	}
	if !args.Forwarded {
		if err := s.keyringPrecheck(args); err != nil {
			return err
		}
	}
	if args.Forwarded || args.LocalOnly || s.wanLeft.Load() {
		reply.Responses = []*structs.KeyringResponse{s.keyringOpPool(args, s.serfLAN, false)}
		return nil
	}

	fwd := *args
	fwd.Forwarded = true
	var remote []string
	for _, dc := range s.router.Datacenters() {
		if dc != s.config.Datacenter {
			remote = append(remote, dc)
		}
	}
	sort.Strings(remote)
	// Slots: WAN, local LAN, then one per remote datacenter.
	slots := make([][]*structs.KeyringResponse, 2+len(remote))
	var wg sync.WaitGroup
	run := func(i int, fn func() []*structs.KeyringResponse) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots[i] = fn()
		}()
	}
	run(0, func() []*structs.KeyringResponse {
		return []*structs.KeyringResponse{s.keyringOpPool(args, s.wan(), true)}
	})
	run(1, func() []*structs.KeyringResponse {
		return []*structs.KeyringResponse{s.keyringOpPool(args, s.serfLAN, false)}
	})
	for i, dc := range remote {
		run(2+i, func() []*structs.KeyringResponse { return s.keyringOpRemote(ctx, &fwd, dc) })
	}
	wg.Wait()
	reply.Responses = nil
	for _, rs := range slots {
		reply.Responses = append(reply.Responses, rs...)
	}
	return nil
}

// validateKeyringRequest checks a request before anything is sent.
func validateKeyringRequest(args *structs.KeyringRequest) error {
	switch args.Operation {
	case structs.KeyringList:
		if args.Key != "" {
			return structs.BadRequest("invalid keyring request: listing takes no key")
		}
	case structs.KeyringInstall, structs.KeyringUse, structs.KeyringRemove:
		if args.Key == "" {
			return structs.BadRequest("missing key: give the base64 gossip key to %s", args.Operation)
		}
		if _, err := gossip.DecodeKey(args.Key); err != nil {
			return structs.BadRequest("invalid key: %w", err)
		}
		if args.LocalOnly {
			return structs.BadRequest("invalid keyring request: local-only can only be set for list requests")
		}
	default:
		return structs.BadRequest("invalid keyring operation %q: must be list, install, use or remove", args.Operation)
	}
	if args.RelayFactor > structs.MaxRelayFactor {
		return structs.BadRequest("invalid relay factor %d: must be in range [0, %d]", args.RelayFactor, structs.MaxRelayFactor)
	}
	return nil
}

// Texts of serf's own answers when a member has no keyring, which Consul
// shows too.
const (
	errKeyringEmpty    = "Keyring is empty (encryption not enabled)"
	errNoKeyringModify = "No keyring to modify (encryption not enabled)"
)

// keyringPrecheck refuses, before any query goes out, what would fail on
// every member: any operation while this server's gossip is not encrypted,
// and removing the key this server's pools encrypt with (each member would
// refuse it: "removing the primary key is not allowed").
func (s *Server) keyringPrecheck(args *structs.KeyringRequest) error {
	if !s.serfLAN.Serf().EncryptionEnabled() {
		if args.Operation == structs.KeyringList {
			return errors.New(errKeyringEmpty)
		}
		return errors.New(errNoKeyringModify)
	}
	if args.Operation != structs.KeyringRemove {
		return nil
	}
	key, _ := gossip.DecodeKey(args.Key)
	pools := []*gossip.Pool{s.serfLAN}
	if !s.wanLeft.Load() {
		pools = append(pools, s.wan())
	}
	for _, p := range pools {
		if bytes.Equal(p.PrimaryKey(), key) {
			return structs.BadRequest("invalid key: removing the primary key is not allowed; make another key primary (keyring -use) first")
		}
	}
	return nil
}

// keyringOpPool runs the operation in one of this server's pools.
func (s *Server) keyringOpPool(args *structs.KeyringRequest, pool *gossip.Pool, wan bool) *structs.KeyringResponse {
	km := pool.Serf().KeyManager()
	opts := &serf.KeyRequestOptions{RelayFactor: args.RelayFactor}
	r, err := gossip.RetryMissingAnswers(func() (*serf.KeyResponse, error) {
		switch args.Operation {
		case structs.KeyringList:
			return km.ListKeysWithOptions(opts)
		case structs.KeyringInstall:
			return km.InstallKeyWithOptions(args.Key, opts)
		case structs.KeyringUse:
			return km.UseKeyWithOptions(args.Key, opts)
		case structs.KeyringRemove:
			return km.RemoveKeyWithOptions(args.Key, opts)
		}
		return nil, fmt.Errorf("unknown keyring operation %q", args.Operation)
	})
	out := &structs.KeyringResponse{WAN: wan, Datacenter: s.config.Datacenter}
	if r != nil {
		out.Messages, out.Keys, out.PrimaryKeys, out.NumNodes = r.Messages, r.Keys, r.PrimaryKeys, r.NumNodes
	}
	if err != nil {
		out.Error = err.Error()
	}
	if args.Operation != structs.KeyringList && out.Error == "" {
		// Every member changed its keyring in memory; have each write its
		// keyring file before the operation is reported as done. (After a
		// failure the operation must be repeated anyway; the members that
		// took it write their files at their next check.)
		c, err := pool.ConfirmKeyring(args.RelayFactor)
		if out.Messages == nil {
			out.Messages = map[string]string{}
		}
		for node, msg := range c.Failures {
			out.Messages[node] = msg
		}
		switch {
		case err != nil:
			out.Error = err.Error()
		case len(c.Failures) > 0:
			out.Error = fmt.Sprintf("%d/%d nodes could not write their keyring file", len(c.Failures), c.Expected)
		case c.Answered < c.Expected:
			out.Error = fmt.Sprintf("%d/%d nodes confirmed writing their keyring file", c.Answered, c.Expected)
		}
	}
	if args.Operation != structs.KeyringList {
		if out.Error != "" {
			s.logger.Warn("keyring operation failed", "operation", args.Operation, "wan", wan, "members", out.NumNodes, "error", out.Error)
		} else {
			s.logger.Info("keyring operation", "operation", args.Operation, "wan", wan, "members", out.NumNodes)
		}
	}
	return out
}

// keyringOpRemote has one server of dc run the operation in its LAN pool.
func (s *Server) keyringOpRemote(ctx context.Context, args *structs.KeyringRequest, dc string) []*structs.KeyringResponse {
	var rr structs.KeyringResponses
	if err := s.forwardDC(ctx, "Operator.KeyringOperation", dc, args, &rr); err != nil {
		return []*structs.KeyringResponse{{Datacenter: dc, Error: fmt.Sprintf("no answer from datacenter %s: %v", dc, err)}}
	}
	var out []*structs.KeyringResponse
	for _, r := range rr.Responses {
		if r == nil || r.WAN || r.Datacenter != dc || len(out) == maxForwardedKeyringResponses {
			continue
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return []*structs.KeyringResponse{{Datacenter: dc, Error: fmt.Sprintf("datacenter %s answered for no pool of its own", dc)}}
	}
	return out
}
