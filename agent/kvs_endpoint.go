package agent

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/meridian-sd/meridian/structs"
)

// kvsEndpoint serves /v1/kv/<key> for GET, PUT and DELETE.
func (a *Agent) kvsEndpoint(resp http.ResponseWriter, req *http.Request) (any, error) {
	key := strings.TrimPrefix(req.URL.Path, "/v1/kv/")
	switch req.Method {
	case http.MethodGet:
		if _, ok := req.URL.Query()["keys"]; ok {
			return a.kvsListKeys(resp, req, key)
		}
		return a.kvsGet(resp, req, key)
	case http.MethodPut, http.MethodPost:
		return a.kvsPut(resp, req, key)
	case http.MethodDelete:
		return a.kvsDelete(resp, req, key)
	}
	return nil, HTTPError{Code: http.StatusMethodNotAllowed, Reason: "method not allowed"}
}

func (a *Agent) kvsGet(resp http.ResponseWriter, req *http.Request, key string) (any, error) {
	args := &structs.KeyRequest{Key: key}
	dc, err := a.parseQuery(req, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	args.Datacenter = dc
	q := req.URL.Query()
	_, recurse := q["recurse"]
	method := "KVS.Get"
	if recurse {
		method = "KVS.List"
	} else if key == "" {
		return nil, badRequest("Missing key name")
	}
	var out structs.IndexedDirEntries
	if err := a.RPC(method, args, &out); err != nil {
		return nil, err
	}
	setMeta(resp, &out.QueryMeta)
	if len(out.Entries) == 0 {
		resp.WriteHeader(http.StatusNotFound)
		return nil, nil
	}
	if _, raw := q["raw"]; raw && !recurse {
		return rawResponse{contentType: "text/plain; charset=utf-8", body: out.Entries[0].Value}, nil
	}
	return out.Entries, nil
}

func (a *Agent) kvsListKeys(resp http.ResponseWriter, req *http.Request, prefix string) (any, error) {
	args := &structs.KeyListRequest{Prefix: prefix, Seperator: req.URL.Query().Get("separator")}
	dc, err := a.parseQuery(req, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	args.Datacenter = dc
	var out structs.IndexedKeyList
	if err := a.RPC("KVS.ListKeys", args, &out); err != nil {
		return nil, err
	}
	setMeta(resp, &out.QueryMeta)
	if len(out.Keys) == 0 {
		resp.WriteHeader(http.StatusNotFound)
		return nil, nil
	}
	return out.Keys, nil
}

// parseUintParam reads a numeric query parameter.
func parseUintParam(req *http.Request, name string) (uint64, bool, error) {
	vals, ok := req.URL.Query()[name]
	if !ok {
		return 0, false, nil
	}
	v := ""
	if len(vals) > 0 {
		v = vals[0]
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, true, badRequest("Invalid %s %q: must be a non-negative integer", name, v)
	}
	return n, true, nil
}

func (a *Agent) kvsPut(resp http.ResponseWriter, req *http.Request, key string) (any, error) {
	if key == "" {
		return nil, badRequest("Missing key name")
	}
	if strings.Contains(key, "//") {
		return nil, badRequest("Invalid key name %q: it contains an empty path segment", key)
	}
	args := &structs.KVSRequest{Datacenter: a.parseDC(req), Op: structs.KVSSet, DirEnt: structs.DirEntry{Key: key}}
	q := req.URL.Query()
	flags, _, err := parseUintParam(req, "flags")
	if err != nil {
		return nil, err
	}
	args.DirEnt.Flags = flags
	if cas, ok, err := parseUintParam(req, "cas"); err != nil {
		return nil, err
	} else if ok {
		args.Op = structs.KVSCAS
		args.DirEnt.ModifyIndex = cas
	}
	if _, ok := q["acquire"]; ok {
		if q.Get("acquire") == "" {
			return nil, badRequest("Missing session in ?acquire")
		}
		args.Op = structs.KVSLock
		args.DirEnt.Session = q.Get("acquire")
	}
	if _, ok := q["release"]; ok {
		if q.Get("release") == "" {
			return nil, badRequest("Missing session in ?release")
		}
		args.Op = structs.KVSUnlock
		args.DirEnt.Session = q.Get("release")
	}
	// Read one byte past the limit to tell "at the limit" from "over it".
	var buf bytes.Buffer
	if req.Body != nil {
		if _, err := io.Copy(&buf, io.LimitReader(req.Body, structs.MaxKVSize+1)); err != nil {
			return nil, badRequest("Read request body: %v", err)
		}
	}
	if buf.Len() > structs.MaxKVSize {
		return nil, HTTPError{Code: http.StatusRequestEntityTooLarge,
			Reason: fmt.Sprintf("Value exceeds %d byte limit", structs.MaxKVSize)}
	}
	args.DirEnt.Value = buf.Bytes()
	var out bool
	if err := a.RPC("KVS.Apply", args, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (a *Agent) kvsDelete(resp http.ResponseWriter, req *http.Request, key string) (any, error) {
	args := &structs.KVSRequest{Datacenter: a.parseDC(req), Op: structs.KVSDelete, DirEnt: structs.DirEntry{Key: key}}
	q := req.URL.Query()
	if _, ok := q["recurse"]; ok {
		args.Op = structs.KVSDeleteTree
	} else if key == "" {
		return nil, badRequest("Missing key name")
	}
	if cas, ok, err := parseUintParam(req, "cas"); err != nil {
		return nil, err
	} else if ok {
		if args.Op == structs.KVSDeleteTree {
			return nil, badRequest("Conflicting flags: cas cannot be used with recurse")
		}
		args.Op = structs.KVSDeleteCAS
		args.DirEnt.ModifyIndex = cas
	}
	var out bool
	if err := a.RPC("KVS.Apply", args, &out); err != nil {
		return nil, err
	}
	if args.Op == structs.KVSDeleteCAS {
		return out, nil
	}
	return true, nil
}
