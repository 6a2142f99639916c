package agent

import (
	"net/http"
	"time"
)

// /v1/agent/host: what the machine under the agent looks like, in the
// shape of Consul's answer (which comes from gopsutil): Memory, CPU, Host,
// Disk, CollectionTime (Unix nanoseconds) and Errors. Meridian reads it
// from /proc, uname and statfs itself (host_linux.go); on other systems
// the sections are empty and Errors says why. Errors holds one sentence
// per section that could not be read, where Consul's holds empty objects.

// hostInfo is the answer of /v1/agent/host.
type hostInfo struct {
	Memory         *hostMemory    `json:"Memory"`
	CPU            []hostCPU      `json:"CPU"`
	Host           *hostSystem    `json:"Host"`
	Disk           *hostDiskUsage `json:"Disk"`
	CollectionTime int64          `json:"CollectionTime"`
	Errors         []string       `json:"Errors"`
}

// hostMemory is gopsutil's VirtualMemoryStat (bytes), the fields Linux
// gives.
type hostMemory struct {
	Total       uint64  `json:"total"`
	Available   uint64  `json:"available"`
	Used        uint64  `json:"used"`
	UsedPercent float64 `json:"usedPercent"`
	Free        uint64  `json:"free"`
	Active      uint64  `json:"active"`
	Inactive    uint64  `json:"inactive"`
	Buffers     uint64  `json:"buffers"`
	Cached      uint64  `json:"cached"`
	Shared      uint64  `json:"shared"`
	Slab        uint64  `json:"slab"`
	Dirty       uint64  `json:"dirty"`
	WriteBack   uint64  `json:"writeBack"`
	Mapped      uint64  `json:"mapped"`
	PageTables  uint64  `json:"pageTables"`
	SwapCached  uint64  `json:"swapCached"`
	CommitLimit uint64  `json:"commitLimit"`
	CommittedAS uint64  `json:"committedAS"`
	SwapTotal   uint64  `json:"swapTotal"`
	SwapFree    uint64  `json:"swapFree"`
}

// hostCPU is gopsutil's cpu.InfoStat: one per logical CPU.
type hostCPU struct {
	CPU        int32    `json:"cpu"`
	VendorID   string   `json:"vendorId"`
	Family     string   `json:"family"`
	Model      string   `json:"model"`
	Stepping   int32    `json:"stepping"`
	PhysicalID string   `json:"physicalId"`
	CoreID     string   `json:"coreId"`
	Cores      int32    `json:"cores"`
	ModelName  string   `json:"modelName"`
	Mhz        float64  `json:"mhz"`
	CacheSize  int32    `json:"cacheSize"`
	Flags      []string `json:"flags"`
	Microcode  string   `json:"microcode"`
}

// hostSystem is gopsutil's host.InfoStat.
type hostSystem struct {
	Hostname             string `json:"hostname"`
	Uptime               uint64 `json:"uptime"`
	BootTime             uint64 `json:"bootTime"`
	Procs                uint64 `json:"procs"`
	OS                   string `json:"os"`
	Platform             string `json:"platform"`
	PlatformFamily       string `json:"platformFamily"`
	PlatformVersion      string `json:"platformVersion"`
	KernelVersion        string `json:"kernelVersion"`
	KernelArch           string `json:"kernelArch"`
	VirtualizationSystem string `json:"virtualizationSystem"`
	VirtualizationRole   string `json:"virtualizationRole"`
	HostID               string `json:"hostId"`
}

// hostDiskUsage is gopsutil's disk.UsageStat, for the file system of the
// data directory ("/" without one; Consul always reports "/").
type hostDiskUsage struct {
	Path              string  `json:"path"`
	Fstype            string  `json:"fstype"`
	Total             uint64  `json:"total"`
	Free              uint64  `json:"free"`
	Used              uint64  `json:"used"`
	UsedPercent       float64 `json:"usedPercent"`
	InodesTotal       uint64  `json:"inodesTotal"`
	InodesUsed        uint64  `json:"inodesUsed"`
	InodesFree        uint64  `json:"inodesFree"`
	InodesUsedPercent float64 `json:"inodesUsedPercent"`
}

// agentHost answers /v1/agent/host (operator:read, as Consul).
func (a *Agent) agentHost(resp http.ResponseWriter, req *http.Request) (any, error) {
	path := a.cfg().DataDir
	if path == "" {
		path = "/"
	}
	info := collectHostInfo(path)
	info.CollectionTime = time.Now().UTC().UnixNano()
	if info.Errors == nil {
		info.Errors = []string{}
	}
	return info, nil
}

// percent is part of whole in percent, 0 for an empty whole.
func percent(part, whole uint64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole) * 100
}
