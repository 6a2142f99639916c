package server

// Outage recovery from peers.json, as Consul documents it: when a majority
// of a datacenter's servers is lost for good, the operator stops every
// remaining server, writes the same data_dir/raft/peers.json on each of
// them listing the servers that remain, and starts them. Each server
// reads the file at start, rewrites its Raft configuration to it
// (raft.RecoverCluster) and deletes the file, so a later restart does not
// recover again.
//
// The format is Raft protocol 3's:
//
//	[
//	  {"id": "<node ID>", "address": "10.1.0.1:8300", "non_voter": false},
//	  ...
//	]

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
)

// peersInfo is written beside the Raft data so that an operator looking
// there finds how recovery works.
const peersInfo = `This directory holds Meridian's Raft data.

To recover from an outage that lost a majority of this datacenter's
servers, stop every remaining server, write a file named peers.json here
on each of them, with the same content, listing the servers that remain:

[
  {"id": "<node ID of the server>", "address": "<IP>:<server port>", "non_voter": false}
]

and start them. Each server rewrites its Raft configuration to the list
and deletes peers.json. Node IDs are in data_dir/node-id and in
'meridian operator raft list-peers -stale'.
`

// maxPeersJSON bounds the recovery file: a few hundred servers at most.
const maxPeersJSON = 1 << 20

// recoverFromPeersJSON applies dir/peers.json when it exists. It reports
// whether it recovered.
func (s *Server) recoverFromPeersJSON(dir string, rc *raft.Config, logs raft.LogStore, stable raft.StableStore, snaps raft.SnapshotStore) (bool, error) {
	infoFile := filepath.Join(dir, "peers.info")
	if _, err := os.Stat(infoFile); errors.Is(err, fs.ErrNotExist) {
		if err := os.WriteFile(infoFile, []byte(peersInfo), 0o600); err != nil {
			return false, fmt.Errorf("write %s: %w", infoFile, err)
		}
	}
	file := filepath.Join(dir, "peers.json")
	fi, err := os.Stat(file)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", file, err)
	}
	if fi.Size() > maxPeersJSON {
		return false, fmt.Errorf("recovery from %s: the file is %d bytes, more than the %d a list of servers takes", file, fi.Size(), maxPeersJSON)
	}
	s.logger.Info("found peers.json, recovering the raft configuration", "file", file)
	conf, err := raft.ReadConfigJSON(file)
	if err != nil {
		return false, fmt.Errorf("recovery from %s: %w", file, err)
	}
	self := false
	for _, srv := range conf.Servers {
		if string(srv.ID) == s.config.NodeID {
			self = true
		}
	}
	if !self {
		return false, fmt.Errorf("recovery from %s: this server's ID %s is not in the list; every remaining server must be", file, s.config.NodeID)
	}
	// Recovery replays the log into a scratch FSM to find the last
	// snapshot-worthy state; the real FSM is restored from it by Raft.
	scratch, err := newFSM(s.logger.Named("recovery"))
	if err != nil {
		return false, err
	}
	if err := raft.RecoverCluster(rc, scratch, logs, stable, snaps, s.raftTransport, conf); err != nil {
		return false, fmt.Errorf("recovery from %s: %w", file, err)
	}
	if err := os.Remove(file); err != nil {
		return false, fmt.Errorf("recovered, but could not delete %s (delete it by hand before the next start): %w", file, err)
	}
	s.logger.Info("recovered the raft configuration from peers.json and deleted it", "servers", len(conf.Servers))
	return true, nil
}
