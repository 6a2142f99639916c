package agent

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/hashicorp/go-hclog"

	"github.com/meridian-sd/meridian/agent/config"
)

// Reloading (SIGHUP, /v1/agent/reload): the configuration is loaded again
// and only what can change while the agent runs is taken from it; every
// other field keeps its running value, and a change to one of them is
// logged as needing a restart. So the agent never reports one identity
// (/v1/agent/self) while gossiping under another.

// Reload re-reads the configuration and applies what can change at run
// time: the log level, the node's meta and tagged addresses, the services
// and checks of the config files, check_update_interval and the DNS
// answer settings. Configuration warnings already logged by this agent
// are not logged again.
func (a *Agent) Reload() error {
	if a.opts.Reload == nil {
		return errors.New("reloading is not available")
	}
	next, warnings, err := a.opts.Reload()
	if err != nil {
		return fmt.Errorf("reload configuration: %w", err)
	}
	a.logWarnings(warnings)
	level := hclog.LevelFromString(next.LogLevel)
	if level == hclog.NoLevel {
		return fmt.Errorf("reload configuration: invalid log level %q", next.LogLevel)
	}
	// Certificates first: a reload whose TLS files are bad changes nothing.
	if err := a.reloadTLS(next); err != nil {
		return fmt.Errorf("reload configuration: %w", err)
	}
	a.cfgLock.Lock()
	merged, restart := mergeReload(a.config, next)
	a.config = merged
	a.cfgLock.Unlock()
	for _, w := range restart {
		a.logger.Warn(w)
	}
	a.logger.SetLevel(level)
	a.httpConns.setMax(merged.HTTPMaxConnsPerClient)
	sampleHeapIfServed(merged)
	// Services and checks of the config files: add, update, remove.
	if err := a.reloadServices(merged); err != nil {
		return fmt.Errorf("reload services and checks: %w", err)
	}
	a.logger.Info("configuration reloaded", "log_level", merged.LogLevel)
	return nil
}

// logWarnings logs the configuration warnings this agent has not logged
// before: those of the first load at New, and on a reload only new ones,
// so that an ignored key is reported once, not on every reload.
func (a *Agent) logWarnings(warnings []string) {
	a.warnedLock.Lock()
	defer a.warnedLock.Unlock()
	if a.warned == nil {
		a.warned = map[string]bool{}
	}
	for _, w := range warnings {
		if a.warned[w] {
			continue
		}
		a.warned[w] = true
		a.logger.Warn(w)
	}
}

// reloadField says how a reload treats one RuntimeConfig field.
type reloadField struct {
	// reloadable fields are taken from the reloaded configuration.
	reloadable bool
	// key names the field for the operator (its config key).
	key string
	// from lists the fields this one is derived from: when one of them
	// changed, that change is the one reported.
	from []string
}

// reloadFields classifies every RuntimeConfig field; a field missing from
// it needs a restart and is reported by its Go name (a test keeps the
// table complete).
func reloadFields() map[string]reloadField {
	live := reloadField{reloadable: true}
	restart := func(key string, from ...string) reloadField { return reloadField{key: key, from: from} }
	return map[string]reloadField{
		"NodeMeta":            live,
		"TaggedAddresses":     live,
		"LogLevel":            live,
		"CheckUpdateInterval": live,
		"DNSRecursors":        live,
		"DNSAllowStale":       live,
		"DNSMaxStale":         live,
		"DNSNodeTTL":          live,
		"DNSServiceTTL":       live,
		"DNSOnlyPassing":      live,
		"DNSNodeMetaTXT":      live,
		"DNSUDPAnswerLimit":   live,
		"DNSRecursorTimeout":  live,
		"Services":            live,
		"Checks":              live,
		"Sources":             live,
		"TLS":                 live,
		"UIEnabled":           live, // read per request (ui.go)
		"EnableDebug":         live, // read per request (debug_endpoint.go)

		"HTTPMaxConnsPerClient": live,

		"Datacenter":                restart("datacenter"),
		"NodeName":                  restart("node_name"),
		"NodeID":                    restart("node_id"),
		"DevMode":                   restart("-dev"),
		"ServerMode":                restart("server"),
		"Bootstrap":                 restart("bootstrap", "BootstrapExpect", "DevMode"),
		"BootstrapExpect":           restart("bootstrap_expect"),
		"DataDir":                   restart("data_dir"),
		"PidFile":                   restart("pid_file"),
		"BindAddr":                  restart("bind_addr"),
		"AdvertiseAddrLAN":          restart("advertise_addr", "BindAddr"),
		"AdvertiseAddrWAN":          restart("advertise_addr_wan", "AdvertiseAddrLAN"),
		"ClientAddrs":               restart("client_addr"),
		"HTTPPort":                  restart("ports.http"),
		"DNSPort":                   restart("ports.dns"),
		"ServerPort":                restart("ports.server"),
		"SerfPortLAN":               restart("ports.serf_lan"),
		"SerfPortWAN":               restart("ports.serf_wan"),
		"HTTPAddrs":                 restart("addresses.http", "ClientAddrs", "HTTPPort"),
		"HTTPUnixSockets":           restart("addresses.http"),
		"UnixSockets":               restart("unix_sockets"),
		"DNSAddrs":                  restart("addresses.dns", "ClientAddrs", "DNSPort"),
		"HTTPSPort":                 restart("ports.https"),
		"HTTPSAddrs":                restart("addresses.https", "ClientAddrs", "HTTPSPort"),
		"RPCBindAddr":               restart("the server RPC address", "BindAddr", "ServerPort"),
		"RPCAdvertiseAddr":          restart("the advertised server RPC address", "AdvertiseAddrLAN", "ServerPort"),
		"SerfBindAddrLAN":           restart("serf_lan", "BindAddr", "SerfPortLAN"),
		"SerfAdvertiseAddrLAN":      restart("the advertised LAN gossip address", "AdvertiseAddrLAN", "SerfPortLAN"),
		"SerfBindAddrWAN":           restart("serf_wan", "BindAddr", "SerfPortWAN", "ServerMode"),
		"SerfAdvertiseAddrWAN":      restart("the advertised WAN gossip address", "AdvertiseAddrWAN", "SerfPortWAN", "ServerMode"),
		"StartJoinAddrsLAN":         restart("start_join"),
		"StartJoinAddrsWAN":         restart("start_join_wan"),
		"RetryJoinLAN":              restart("retry_join"),
		"RetryJoinWAN":              restart("retry_join_wan"),
		"RetryJoinIntervalLAN":      restart("retry_interval"),
		"RetryJoinIntervalWAN":      restart("retry_interval_wan"),
		"RetryJoinMaxAttemptsLAN":   restart("retry_max"),
		"RetryJoinMaxAttemptsWAN":   restart("retry_max_wan"),
		"RejoinAfterLeave":          restart("rejoin_after_leave"),
		"EncryptKey":                restart("encrypt"),
		"EncryptVerifyIncoming":     restart("encrypt_verify_incoming"),
		"EncryptVerifyOutgoing":     restart("encrypt_verify_outgoing"),
		"GossipLAN":                 restart("gossip_lan", "DevMode"),
		"GossipWAN":                 restart("gossip_wan", "DevMode"),
		"ReconnectTimeoutLAN":       restart("reconnect_timeout"),
		"ReconnectTimeoutWAN":       restart("reconnect_timeout_wan"),
		"LeaveOnTerm":               restart("leave_on_terminate", "ServerMode"),
		"SkipLeaveOnInt":            restart("skip_leave_on_interrupt", "ServerMode"),
		"RaftMultiplier":            restart("performance.raft_multiplier", "DevMode"),
		"LeaveDrainTime":            restart("performance.leave_drain_time"),
		"RPCHoldTimeout":            restart("performance.rpc_hold_timeout"),
		"LogJSON":                   restart("log_json"),
		"EnableRemoteScriptChecks":  restart("enable_script_checks"),
		"EnableLocalScriptChecks":   restart("enable_local_script_checks"),
		"CheckOutputMaxSize":        restart("check_output_max_size"),
		"SyncCoordinateRateTarget":  restart("sync_coordinate_rate_target"),
		"SyncCoordinateIntervalMin": restart("sync_coordinate_interval_min"),
		"SessionTTLMin":             restart("session_ttl_min"),
		"DefaultQueryTime":          restart("default_query_time"),
		"MaxQueryTime":              restart("max_query_time"),
		"KVMaxValueSize":            restart("limits.kv_max_value_size"),
		"TxnMaxReqLen":              restart("limits.txn_max_req_len"),
		"RPCMaxConnsPerClient":      restart("limits.rpc_max_conns_per_client"),
		"DNSDomain":                 restart("domain"),
		"DNSAltDomain":              restart("alt_domain"),
		"PrimaryDatacenter":         restart("primary_datacenter"),
		"ACL":                       restart("acl"),
		"Autopilot":                 restart("autopilot"),
		"Telemetry":                 restart("telemetry"),
	}
}

// mergeReload returns the configuration to run with after a reload: cur
// with the reloadable fields of next, and a warning for each other field
// next changes (a derived field only when what it derives from did not
// change). cur and next are not modified.
func mergeReload(cur, next *config.RuntimeConfig) (*config.RuntimeConfig, []string) {
	merged := *cur
	// What the agent resolved at start is no change: a node ID read from
	// the data dir when none is configured, and the data dir -dev drops.
	norm := *next
	if norm.NodeID == "" {
		norm.NodeID = cur.NodeID
	}
	if norm.DevMode && cur.DevMode {
		norm.DataDir = cur.DataDir
	}
	fields := reloadFields()
	curV, nextV, mergedV := reflect.ValueOf(cur).Elem(), reflect.ValueOf(&norm).Elem(), reflect.ValueOf(&merged).Elem()
	typ := curV.Type()
	changed := map[string]bool{}
	for i := 0; i < typ.NumField(); i++ {
		name := typ.Field(i).Name
		changed[name] = !reflect.DeepEqual(curV.Field(i).Interface(), nextV.Field(i).Interface())
	}
	var warnings []string
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		rf, known := fields[f.Name]
		if rf.reloadable {
			mergedV.Field(i).Set(nextV.Field(i))
			continue
		}
		if !changed[f.Name] || anyChanged(changed, rf.from) {
			continue
		}
		key := rf.key
		if !known {
			key = f.Name
		}
		if f.Tag.Get("sanitize") == "hidden" {
			warnings = append(warnings, fmt.Sprintf("reload: %s changed; it takes effect only after a restart", key))
			continue
		}
		warnings = append(warnings, fmt.Sprintf("reload: %s changed from %s to %s; it takes effect only after a restart",
			key, showValue(curV.Field(i)), showValue(nextV.Field(i))))
	}
	return &merged, warnings
}

func anyChanged(changed map[string]bool, names []string) bool {
	for _, n := range names {
		if changed[n] {
			return true
		}
	}
	return false
}

// showValue renders a config value for a log line: strings quoted.
func showValue(v reflect.Value) string {
	if v.Kind() == reflect.String {
		return fmt.Sprintf("%q", v.String())
	}
	if s, ok := v.Interface().(fmt.Stringer); ok {
		return fmt.Sprintf("%q", s.String())
	}
	return fmt.Sprintf("%v", v.Interface())
}
