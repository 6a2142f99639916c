package telemetry

import (
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"time"
)

// The go_* families, with the names and types Prometheus' Go collector
// gives, so that dashboards built on them keep working. Read at scrape
// time only.

// gcQuantileLabels are go_gc_duration_seconds' quantiles: the minimum,
// the quartiles and the maximum of the recent pauses.
var gcQuantileLabels = []string{"0", "0.25", "0.5", "0.75", "1"}

// goFamilies returns the Go runtime's figures.
func goFamilies() []promFamily {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gc := debug.GCStats{PauseQuantiles: make([]time.Duration, len(gcQuantileLabels))}
	debug.ReadGCStats(&gc)
	threads, _ := runtime.ThreadCreateProfile(nil)

	gcQ := make([]float64, len(gc.PauseQuantiles))
	for i, d := range gc.PauseQuantiles {
		gcQ[i] = d.Seconds()
	}
	fams := []promFamily{
		{name: "go_gc_duration_seconds", help: "Garbage collection pauses (stop the world), in seconds: quantiles of the recent ones, total and count of all.",
			kind: kindSummary, metrics: []promMetric{{quantiles: gcQ, quantileLabels: gcQuantileLabels,
				sum: gc.PauseTotal.Seconds(), count: uint64(gc.NumGC)}}},
		gauge("go_goroutines", "Goroutines that exist now.", float64(runtime.NumGoroutine())),
		gauge("go_threads", "Operating system threads created.", float64(threads)),
		{name: "go_info", help: "The Go version the binary was built with.", kind: kindGauge,
			metrics: []promMetric{{labels: []labelPair{{name: "version", value: runtime.Version()}}, value: 1}}},
		gauge("go_memstats_alloc_bytes", "Bytes of allocated heap objects.", float64(ms.Alloc)),
		counter("go_memstats_alloc_bytes_total", "Bytes allocated for heap objects, ever.", float64(ms.TotalAlloc)),
		gauge("go_memstats_buck_hash_sys_bytes", "Bytes of profiling bucket hash tables.", float64(ms.BuckHashSys)),
		counter("go_memstats_frees_total", "Heap objects freed, ever.", float64(ms.Frees)),
		gauge("go_memstats_gc_sys_bytes", "Bytes of garbage collection metadata.", float64(ms.GCSys)),
		gauge("go_memstats_heap_alloc_bytes", "Bytes of allocated heap objects.", float64(ms.HeapAlloc)),
		gauge("go_memstats_heap_idle_bytes", "Bytes in idle (unused) heap spans.", float64(ms.HeapIdle)),
		gauge("go_memstats_heap_inuse_bytes", "Bytes in in-use heap spans.", float64(ms.HeapInuse)),
		gauge("go_memstats_heap_objects", "Allocated heap objects.", float64(ms.HeapObjects)),
		gauge("go_memstats_heap_released_bytes", "Bytes of heap memory returned to the operating system.", float64(ms.HeapReleased)),
		gauge("go_memstats_heap_sys_bytes", "Bytes of heap memory obtained from the operating system.", float64(ms.HeapSys)),
		gauge("go_memstats_last_gc_time_seconds", "When the last garbage collection finished, in seconds since the Unix epoch.", float64(ms.LastGC)/1e9),
		counter("go_memstats_mallocs_total", "Heap objects allocated, ever.", float64(ms.Mallocs)),
		gauge("go_memstats_mcache_inuse_bytes", "Bytes of allocated mcache structures.", float64(ms.MCacheInuse)),
		gauge("go_memstats_mcache_sys_bytes", "Bytes of memory obtained from the operating system for mcache structures.", float64(ms.MCacheSys)),
		gauge("go_memstats_mspan_inuse_bytes", "Bytes of allocated mspan structures.", float64(ms.MSpanInuse)),
		gauge("go_memstats_mspan_sys_bytes", "Bytes of memory obtained from the operating system for mspan structures.", float64(ms.MSpanSys)),
		gauge("go_memstats_next_gc_bytes", "Heap size at which the next garbage collection starts.", float64(ms.NextGC)),
		gauge("go_memstats_other_sys_bytes", "Bytes of other runtime memory obtained from the operating system.", float64(ms.OtherSys)),
		gauge("go_memstats_stack_inuse_bytes", "Bytes in stack spans.", float64(ms.StackInuse)),
		gauge("go_memstats_stack_sys_bytes", "Bytes of stack memory obtained from the operating system.", float64(ms.StackSys)),
		gauge("go_memstats_sys_bytes", "Bytes of memory obtained from the operating system.", float64(ms.Sys)),
	}
	// The settings runtime/metrics knows, when it knows them.
	samples := []rtmetrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}, {Name: "/sched/gomaxprocs:threads"}}
	rtmetrics.Read(samples)
	names := []struct{ name, help string }{
		{"go_gc_gogc_percent", "The garbage collector's target heap growth, in percent (GOGC)."},
		{"go_gc_gomemlimit_bytes", "The runtime's memory limit, in bytes (GOMEMLIMIT)."},
		{"go_sched_gomaxprocs_threads", "Threads that may run Go code at once (GOMAXPROCS)."},
	}
	for i, s := range samples {
		if s.Value.Kind() == rtmetrics.KindUint64 {
			fams = append(fams, gauge(names[i].name, names[i].help, float64(s.Value.Uint64())))
		}
	}
	return fams
}

// gauge is a family of one unlabelled gauge.
func gauge(name, help string, v float64) promFamily {
	return promFamily{name: name, help: help, kind: kindGauge, metrics: []promMetric{{value: v}}}
}

// counter is a family of one unlabelled counter.
func counter(name, help string, v float64) promFamily {
	return promFamily{name: name, help: help, kind: kindCounter, metrics: []promMetric{{value: v}}}
}
