package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// collectHostInfo reads the host's figures from /proc, uname and statfs;
// a section that cannot be read is left out with a sentence in Errors.
func collectHostInfo(path string) *hostInfo {
	info := &hostInfo{}
	var err error
	if info.Memory, err = readMemInfo(); err != nil {
		info.Errors = append(info.Errors, err.Error())
	}
	if info.CPU, err = readCPUInfo(); err != nil {
		info.Errors = append(info.Errors, err.Error())
	}
	if info.Host, err = readHostSystem(); err != nil {
		info.Errors = append(info.Errors, err.Error())
	}
	if info.Disk, err = readDiskUsage(path); err != nil {
		info.Errors = append(info.Errors, err.Error())
	}
	return info
}

// readMemInfo reads /proc/meminfo (kB) into bytes.
func readMemInfo() (*hostMemory, error) {
	buf, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return nil, fmt.Errorf("read memory: %w", err)
	}
	kv := map[string]uint64{}
	for _, line := range strings.Split(string(buf), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		kv[name] = n
	}
	m := &hostMemory{
		Total: kv["MemTotal"], Free: kv["MemFree"], Available: kv["MemAvailable"],
		Active: kv["Active"], Inactive: kv["Inactive"], Buffers: kv["Buffers"],
		Cached: kv["Cached"] + kv["SReclaimable"], Shared: kv["Shmem"], Slab: kv["Slab"],
		Dirty: kv["Dirty"], WriteBack: kv["Writeback"], Mapped: kv["Mapped"],
		PageTables: kv["PageTables"], SwapCached: kv["SwapCached"], CommitLimit: kv["CommitLimit"],
		CommittedAS: kv["Committed_AS"], SwapTotal: kv["SwapTotal"], SwapFree: kv["SwapFree"],
	}
	if m.Total == 0 {
		return nil, fmt.Errorf("read memory: /proc/meminfo has no MemTotal")
	}
	// As gopsutil computes it: what is neither free nor cache.
	if used := m.Total - m.Free - m.Buffers - m.Cached; used <= m.Total {
		m.Used = used
	}
	m.UsedPercent = percent(m.Used, m.Total)
	return m, nil
}

// readCPUInfo reads /proc/cpuinfo: one entry per logical CPU.
func readCPUInfo() ([]hostCPU, error) {
	buf, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return nil, fmt.Errorf("read cpus: %w", err)
	}
	var out []hostCPU
	var cur *hostCPU
	for _, block := range bytes.Split(buf, []byte("\n\n")) {
		sc := bufio.NewScanner(bytes.NewReader(block))
		sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
		cur = nil
		for sc.Scan() {
			name, val, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			name, val = strings.TrimSpace(name), strings.TrimSpace(val)
			if name == "processor" {
				n, _ := strconv.ParseInt(val, 10, 32)
				out = append(out, hostCPU{CPU: int32(n), Cores: 1})
				cur = &out[len(out)-1]
				continue
			}
			if cur == nil {
				continue
			}
			switch name {
			case "vendor_id":
				cur.VendorID = val
			case "cpu family":
				cur.Family = val
			case "model":
				cur.Model = val
			case "model name":
				cur.ModelName = val
			case "stepping":
				n, _ := strconv.ParseInt(val, 10, 32)
				cur.Stepping = int32(n)
			case "physical id":
				cur.PhysicalID = val
			case "core id":
				cur.CoreID = val
			case "cpu MHz":
				cur.Mhz, _ = strconv.ParseFloat(val, 64)
			case "cache size":
				n, _ := strconv.ParseInt(strings.TrimSuffix(val, " KB"), 10, 32)
				cur.CacheSize = int32(n)
			case "flags", "Features":
				cur.Flags = strings.Fields(val)
			case "microcode":
				cur.Microcode = val
			}
		}
	}
	if len(out) == 0 {
		// Some systems (containers, some ARM kernels) list no
		// processors: fall back to what Go sees.
		for i := 0; i < runtime.NumCPU(); i++ {
			out = append(out, hostCPU{CPU: int32(i), Cores: 1})
		}
	}
	return out, nil
}

// readHostSystem reads the host name, uptime, boot time, process count,
// kernel and distribution.
func readHostSystem() (*hostSystem, error) {
	h := &hostSystem{OS: runtime.GOOS}
	var errs []string
	h.Hostname, _ = os.Hostname()
	if buf, err := os.ReadFile("/proc/uptime"); err == nil {
		if f := strings.Fields(string(buf)); len(f) > 0 {
			up, _ := strconv.ParseFloat(f[0], 64)
			h.Uptime = uint64(up)
			h.BootTime = uint64(time.Now().Unix()) - h.Uptime
		}
	} else {
		errs = append(errs, "uptime: "+err.Error())
	}
	if entries, err := os.ReadDir("/proc"); err == nil {
		for _, e := range entries {
			if _, err := strconv.ParseUint(e.Name(), 10, 64); err == nil && e.IsDir() {
				h.Procs++
			}
		}
	}
	var uts syscall.Utsname
	if err := syscall.Uname(&uts); err == nil {
		h.KernelVersion = utsString(uts.Release[:])
		h.KernelArch = utsString(uts.Machine[:])
	} else {
		errs = append(errs, "uname: "+err.Error())
	}
	if buf, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, line := range strings.Split(string(buf), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			v = strings.Trim(v, `"'`)
			switch k {
			case "ID":
				h.Platform = v
			case "ID_LIKE":
				h.PlatformFamily = strings.Fields(v + " ")[0]
			case "VERSION_ID":
				h.PlatformVersion = v
			}
		}
		if h.PlatformFamily == "" {
			h.PlatformFamily = h.Platform
		}
	}
	if buf, err := os.ReadFile("/etc/machine-id"); err == nil {
		h.HostID = strings.TrimSpace(string(buf))
	}
	if len(errs) > 0 {
		return h, fmt.Errorf("read host: %s", strings.Join(errs, "; "))
	}
	return h, nil
}

// utsString turns a NUL-terminated uname field into a string.
func utsString[T int8 | uint8](f []T) string {
	b := make([]byte, 0, len(f))
	for _, c := range f {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

// readDiskUsage is statfs of path, with its file system type from
// /proc/mounts.
func readDiskUsage(path string) (*hostDiskUsage, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return nil, fmt.Errorf("read disk usage of %s: %w", path, err)
	}
	bs := uint64(st.Bsize)
	d := &hostDiskUsage{
		Path:        path,
		Total:       st.Blocks * bs,
		Free:        st.Bavail * bs,
		InodesTotal: st.Files,
		InodesFree:  st.Ffree,
	}
	d.Used = (st.Blocks - st.Bfree) * bs
	d.UsedPercent = percent(d.Used, d.Used+d.Free)
	d.InodesUsed = d.InodesTotal - d.InodesFree
	d.InodesUsedPercent = percent(d.InodesUsed, d.InodesTotal)
	d.Fstype = mountType(path)
	return d, nil
}

// mountType is the file system type of the longest mount point holding
// path, from /proc/mounts; empty when unknown.
func mountType(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return ""
	}
	buf, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return ""
	}
	best, typ := -1, ""
	for _, line := range strings.Split(string(buf), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mp := f[1]
		if abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/") {
			if len(mp) > best {
				best, typ = len(mp), f[2]
			}
		}
	}
	return typ
}
