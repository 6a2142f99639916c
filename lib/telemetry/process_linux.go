package telemetry

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// The process_* families on Linux, from /proc/self, with the names and
// types Prometheus' process collector gives. A figure that cannot be read
// is left out.

// userHZ is the kernel's clock tick for /proc times (USER_HZ), 100 on
// every Linux architecture Go supports.
const userHZ = 100

// processFamilies returns the process's figures.
func processFamilies() []promFamily {
	var fams []promFamily
	if stat, err := os.ReadFile("/proc/self/stat"); err == nil {
		fams = append(fams, statFamilies(stat)...)
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		fams = append(fams, gauge("process_open_fds", "Open file descriptors.", float64(len(fds))))
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		fams = append(fams, gauge("process_max_fds", "The limit of open file descriptors.", float64(lim.Cur)))
	}
	if syscall.Getrlimit(syscall.RLIMIT_AS, &lim) == nil {
		fams = append(fams, gauge("process_virtual_memory_max_bytes", "The limit of virtual memory, in bytes.", float64(lim.Cur)))
	}
	if netstat, err := os.ReadFile("/proc/self/net/netstat"); err == nil {
		in, out, ok := ipOctets(netstat)
		if ok {
			fams = append(fams,
				counter("process_network_receive_bytes_total", "Bytes received over the network (the process's network namespace).", in),
				counter("process_network_transmit_bytes_total", "Bytes sent over the network (the process's network namespace).", out))
		}
	}
	return fams
}

// statFamilies reads CPU time, memory and start time from the content of
// /proc/self/stat (proc(5)).
func statFamilies(stat []byte) []promFamily {
	// The command name, in parentheses, may hold spaces: fields start
	// after its last ")", with field 3 (state) first.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return nil
	}
	f := strings.Fields(string(stat[i+1:]))
	field := func(n int) (float64, bool) {
		if n-3 >= len(f) {
			return 0, false
		}
		v, err := strconv.ParseUint(f[n-3], 10, 64)
		return float64(v), err == nil
	}
	var fams []promFamily
	utime, ok1 := field(14)
	stime, ok2 := field(15)
	if ok1 && ok2 {
		fams = append(fams, counter("process_cpu_seconds_total", "User and system CPU time used, in seconds.", (utime+stime)/userHZ))
	}
	if vsize, ok := field(23); ok {
		fams = append(fams, gauge("process_virtual_memory_bytes", "Virtual memory size, in bytes.", vsize))
	}
	if rss, ok := field(24); ok {
		fams = append(fams, gauge("process_resident_memory_bytes", "Resident memory size, in bytes.", rss*float64(os.Getpagesize())))
	}
	if start, ok := field(22); ok {
		if btime, ok := bootTime(); ok {
			fams = append(fams, gauge("process_start_time_seconds", "When the process started, in seconds since the Unix epoch.", btime+start/userHZ))
		}
	}
	return fams
}

// bootTime is the btime line of /proc/stat: the boot time in seconds
// since the Unix epoch.
func bootTime() (float64, bool) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(stat), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return float64(n), err == nil
		}
	}
	return 0, false
}

// ipOctets reads InOctets and OutOctets from the IpExt lines of
// /proc/self/net/netstat (a header line of names, then one of values).
func ipOctets(netstat []byte) (in, out float64, ok bool) {
	var names []string
	for _, line := range strings.Split(string(netstat), "\n") {
		rest, found := strings.CutPrefix(line, "IpExt:")
		if !found {
			continue
		}
		if names == nil {
			names = strings.Fields(rest)
			continue
		}
		var gotIn, gotOut bool
		for i, v := range strings.Fields(rest) {
			if i >= len(names) {
				break
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				continue
			}
			switch names[i] {
			case "InOctets":
				in, gotIn = float64(n), true
			case "OutOctets":
				out, gotOut = float64(n), true
			}
		}
		return in, out, gotIn && gotOut
	}
	return 0, 0, false
}
