package cli

import (
	"os"
	"runtime/debug"
)

// Garbage collector settings for the long-running servers, unless the
// operator set GOGC or GOMEMLIMIT. Go's default (GOGC=100) collects whenever
// the heap doubles: a node's live heap is small (tens of MiB) but it
// allocates per request, so it collected many times a second under load and
// spent about a tenth of its CPU there. GOGC=400 collects a quarter as
// often; the soft memory limit makes the collector work harder before the
// process grows past it, so the larger GOGC cannot push a node over its
// memory budget.
const (
	serverGCPercent   = 400
	serverMemoryLimit = 192 << 20
)

// TuneServerGC applies the settings above where the environment does not
// override them.
func TuneServerGC() { tuneGC(serverGCPercent, serverMemoryLimit) }

// The load tester's settings: tillbench shares the box with the cluster it
// measures, and its fleet allocates per transaction (messages, answers,
// history) over a heap that grows with the run (the history of every
// request stays in memory for the checker). At GOGC=100 it collected
// several times a second, a tenth of its CPU; its memory is not budgeted
// like a node's, so the limit is only a backstop.
const (
	benchGCPercent   = 400
	benchMemoryLimit = 4 << 30
)

// TuneBenchGC applies the load tester's settings where the environment
// does not override them.
func TuneBenchGC() { tuneGC(benchGCPercent, benchMemoryLimit) }

// tuneGC sets what the environment (GOGC, GOMEMLIMIT) leaves unset.
func tuneGC(percent int, limit int64) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(percent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(limit)
	}
}
