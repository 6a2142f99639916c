// Package command holds Meridian's CLI verbs, one file each. Every verb is
// a small struct with Help, Synopsis and Run and its own flag set; client
// verbs talk to the local agent's HTTP API through the official Consul Go
// client, which Meridian's API is compatible with.
package command

import (
	"os"

	"github.com/hashicorp/cli"
)

// Commands returns the CLI's verbs. ui receives all output; shutdownCh
// (may be nil) stops long-running verbs such as agent and monitor.
func Commands(ui cli.Ui) map[string]cli.CommandFactory {
	cmds := map[string]cli.CommandFactory{
		"agent":                     func() (cli.Command, error) { return &AgentCommand{UI: ui}, nil },
		"members":                   func() (cli.Command, error) { return &MembersCommand{UI: ui}, nil },
		"join":                      func() (cli.Command, error) { return &JoinCommand{UI: ui}, nil },
		"leave":                     func() (cli.Command, error) { return &LeaveCommand{UI: ui}, nil },
		"force-leave":               func() (cli.Command, error) { return &ForceLeaveCommand{UI: ui}, nil },
		"info":                      func() (cli.Command, error) { return &InfoCommand{UI: ui}, nil },
		"version":                   func() (cli.Command, error) { return &VersionCommand{UI: ui}, nil },
		"keygen":                    func() (cli.Command, error) { return &KeygenCommand{UI: ui}, nil },
		"keyring":                   func() (cli.Command, error) { return &KeyringCommand{UI: ui}, nil },
		"reload":                    func() (cli.Command, error) { return &ReloadCommand{UI: ui}, nil },
		"event":                     func() (cli.Command, error) { return &EventCommand{UI: ui}, nil },
		"services":                  func() (cli.Command, error) { return &ServicesCommand{}, nil },
		"services register":         func() (cli.Command, error) { return &ServicesRegisterCommand{UI: ui}, nil },
		"services deregister":       func() (cli.Command, error) { return &ServicesDeregisterCommand{UI: ui}, nil },
		"maint":                     func() (cli.Command, error) { return &MaintCommand{UI: ui}, nil },
		"monitor":                   func() (cli.Command, error) { return &MonitorCommand{UI: ui}, nil },
		"rtt":                       func() (cli.Command, error) { return &RTTCommand{UI: ui}, nil },
		"kv":                        func() (cli.Command, error) { return &KVCommand{}, nil },
		"kv get":                    func() (cli.Command, error) { return &KVGetCommand{UI: ui}, nil },
		"kv put":                    func() (cli.Command, error) { return &KVPutCommand{UI: ui}, nil },
		"kv delete":                 func() (cli.Command, error) { return &KVDeleteCommand{UI: ui}, nil },
		"kv export":                 func() (cli.Command, error) { return &KVExportCommand{UI: ui}, nil },
		"kv import":                 func() (cli.Command, error) { return &KVImportCommand{UI: ui}, nil },
		"lock":                      func() (cli.Command, error) { return &LockCommand{UI: ui}, nil },
		"query":                     func() (cli.Command, error) { return &QueryCommand{}, nil },
		"query list":                func() (cli.Command, error) { return &QueryListCommand{UI: ui}, nil },
		"query read":                func() (cli.Command, error) { return &QueryReadCommand{UI: ui}, nil },
		"query create":              func() (cli.Command, error) { return &QueryCreateCommand{UI: ui}, nil },
		"query delete":              func() (cli.Command, error) { return &QueryDeleteCommand{UI: ui}, nil },
		"query execute":             func() (cli.Command, error) { return &QueryExecuteCommand{UI: ui}, nil },
		"query failover-status":     func() (cli.Command, error) { return &QueryFailoverStatusCommand{UI: ui}, nil },
		"query failback":            func() (cli.Command, error) { return &QueryFailbackCommand{UI: ui}, nil },
		"catalog":                   func() (cli.Command, error) { return &CatalogCommand{}, nil },
		"catalog datacenters":       func() (cli.Command, error) { return &CatalogDatacentersCommand{UI: ui}, nil },
		"catalog nodes":             func() (cli.Command, error) { return &CatalogNodesCommand{UI: ui}, nil },
		"catalog services":          func() (cli.Command, error) { return &CatalogServicesCommand{UI: ui}, nil },
		"operator":                  func() (cli.Command, error) { return &OperatorCommand{}, nil },
		"operator raft":             func() (cli.Command, error) { return &OperatorRaftCommand{}, nil },
		"operator raft list-peers":  func() (cli.Command, error) { return &OperatorRaftListCommand{UI: ui}, nil },
		"operator raft remove-peer": func() (cli.Command, error) { return &OperatorRaftRemoveCommand{UI: ui}, nil },
		"operator federation":       func() (cli.Command, error) { return &OperatorFederationCommand{UI: ui}, nil },
		"snapshot":                  func() (cli.Command, error) { return &SnapshotCommand{}, nil },
		"snapshot save":             func() (cli.Command, error) { return &SnapshotSaveCommand{UI: ui}, nil },
		"snapshot restore":          func() (cli.Command, error) { return &SnapshotRestoreCommand{UI: ui}, nil },
		"snapshot inspect":          func() (cli.Command, error) { return &SnapshotInspectCommand{UI: ui}, nil },
		"tls":                       func() (cli.Command, error) { return &TLSCommand{}, nil },
		"tls ca":                    func() (cli.Command, error) { return &TLSCACommand{}, nil },
		"tls ca create":             func() (cli.Command, error) { return &TLSCACreateCommand{UI: ui}, nil },
		"tls cert":                  func() (cli.Command, error) { return &TLSCertCommand{}, nil },
		"tls cert create":           func() (cli.Command, error) { return &TLSCertCreateCommand{UI: ui}, nil },
		"lab":                       func() (cli.Command, error) { return &LabCommand{}, nil },
		"lab up":                    func() (cli.Command, error) { return &LabUpCommand{UI: ui}, nil },
		"lab partition":             func() (cli.Command, error) { return &LabPartitionCommand{UI: ui}, nil },
		"lab heal":                  func() (cli.Command, error) { return &LabHealCommand{UI: ui}, nil },
		"lab status":                func() (cli.Command, error) { return &LabStatusCommand{UI: ui}, nil },
		"lab down":                  func() (cli.Command, error) { return &LabDownCommand{UI: ui}, nil },
		"bench":                     func() (cli.Command, error) { return &BenchCommand{UI: ui}, nil },
	}
	for name, f := range aclCommands(ui) {
		cmds[name] = f
	}
	for name, f := range operatorAutopilotCommands(ui) {
		cmds[name] = f
	}
	return cmds
}

// DefaultUI is the UI main uses: output to stdout, errors to stderr.
func DefaultUI() cli.Ui {
	return &cli.BasicUi{Reader: os.Stdin, Writer: os.Stdout, ErrorWriter: os.Stderr}
}
