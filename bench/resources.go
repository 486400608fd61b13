package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
)

// NodeResources is what one node (or acqsim) used during the load phase.
type NodeResources struct {
	Node string `json:"node"`
	// CPUSeconds is user + system CPU over the load phase, summed over
	// the node's processes (a killed and restarted node has several).
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUPer1000 is CPUSeconds per 1,000 completed transactions.
	CPUPer1000 float64 `json:"cpu_s_per_1000_tx"`
	// MaxRSS is the peak resident set in bytes: VmHWM of the processes
	// tillbench started, or the largest process_resident_memory_bytes
	// sampled once a second from /metrics.
	MaxRSS int64 `json:"max_rss_bytes"`
	// MaxAnon is the largest RssAnon sampled (proc only): the resident
	// set without the pages of mapped files. bbolt maps its files, so
	// VmHWM grows with the data a node has touched, which the kernel can
	// drop and re-read at will; RssAnon is the memory the node holds.
	MaxAnon int64  `json:"max_rss_anon_bytes,omitempty"`
	Source  string `json:"source"` // "proc" or "metrics"
	Samples int    `json:"samples"`
	Err     string `json:"error,omitempty"` // of the last reading, if it failed
}

// usage is one reading of a process or node: cumulative CPU seconds and
// the resident set (peak for /proc, current for /metrics).
type usage struct {
	key  string // identifies the process: a restart starts a new baseline
	cpu  float64
	rss  int64
	anon int64
	err  error
	node string
}

// resourceSource reads every node once.
type resourceSource interface {
	read(ctx context.Context) []usage
	name() string
}

// sampler reads a source every second during the load phase.
type sampler struct {
	src    resourceSource
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	nodes map[string]*nodeAcc
	order []string
}

type nodeAcc struct {
	base, last map[string]float64 // per process key
	maxRSS     int64
	maxAnon    int64
	samples    int
	err        string
}

func startSampling(ctx context.Context, src resourceSource) *sampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &sampler{src: src, cancel: cancel, nodes: map[string]*nodeAcc{}}
	s.done = pollEvery(ctx, time.Second, func(first bool) { s.sample(ctx, first) })
	return s
}

// pollEvery calls fn(true) now and fn(false) every period until ctx ends;
// the channel is closed once the last call has returned.
func pollEvery(ctx context.Context, period time.Duration, fn func(first bool)) chan struct{} {
	done := make(chan struct{})
	fn(true)
	go func() {
		defer close(done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fn(false)
			}
		}
	}()
	return done
}

// sample takes one reading; first marks the baseline of processes running
// at the start (a process first seen later starts from zero).
func (s *sampler) sample(ctx context.Context, first bool) {
	for _, u := range s.src.read(ctx) {
		s.mu.Lock()
		a := s.nodes[u.node]
		if a == nil {
			a = &nodeAcc{base: map[string]float64{}, last: map[string]float64{}}
			s.nodes[u.node] = a
			s.order = append(s.order, u.node)
		}
		if u.err != nil {
			a.err = u.err.Error() // the last reading failed
		} else {
			a.err = ""
			if _, ok := a.base[u.key]; !ok {
				a.base[u.key] = 0
				if first {
					a.base[u.key] = u.cpu
				}
			}
			a.last[u.key], a.maxRSS, a.maxAnon = u.cpu, max(a.maxRSS, u.rss), max(a.maxAnon, u.anon)
			a.samples++
		}
		s.mu.Unlock()
	}
}

// stop takes a last reading and returns the figures per node.
func (s *sampler) stop(completed int64) []NodeResources {
	s.cancel()
	<-s.done
	s.sample(context.Background(), false)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []NodeResources
	for _, n := range s.order {
		a := s.nodes[n]
		r := NodeResources{Node: n, MaxRSS: a.maxRSS, MaxAnon: a.maxAnon, Source: s.src.name(), Samples: a.samples, Err: a.err}
		for k, v := range a.last {
			r.CPUSeconds += v - a.base[k]
		}
		if completed > 0 {
			r.CPUPer1000 = r.CPUSeconds / (float64(completed) / 1000)
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b NodeResources) int { return strings.Compare(a.Node, b.Node) })
	return out
}

// procSource reads /proc/PID/stat (utime + stime) and /proc/PID/status
// (VmHWM) of the processes tillbench started.
type procSource struct {
	pids func() map[string]int // node -> pid of its running process
}

func (procSource) name() string { return "proc" }

func (p procSource) read(context.Context) []usage {
	var out []usage
	for node, pid := range p.pids() {
		cpu, err := procCPU(pid)
		var mem procMem
		if err == nil {
			mem, err = readProcMem(pid)
		}
		out = append(out, usage{node: node, key: strconv.Itoa(pid), cpu: cpu, rss: mem.hwm, anon: mem.anon, err: err})
	}
	return out
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// procCPU returns utime + stime of pid in seconds.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: cpu of pid %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces: fields count from ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: /proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	st, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bench: /proc/%d/stat: bad utime/stime", pid)
	}
	return float64(ut+st) / clockTicks, nil
}

// procMem is what /proc/PID/status says of a process's memory, in bytes.
type procMem struct{ hwm, anon int64 }

// readProcMem reads VmHWM and RssAnon of pid.
func readProcMem(pid int) (procMem, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{}, fmt.Errorf("bench: rss of pid %d: %w", pid, err)
	}
	defer f.Close()
	var m procMem
	found := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmHWM" && name != "RssAnon") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err != nil {
			return procMem{}, fmt.Errorf("bench: /proc/%d/status %s %q: %w", pid, name, v, err)
		}
		if name == "VmHWM" {
			m.hwm, found = kb*1024, true
		} else {
			m.anon = kb * 1024
		}
	}
	if !found {
		return procMem{}, fmt.Errorf("bench: /proc/%d/status: no VmHWM", pid)
	}
	return m, nil
}

// metricsSource reads process_cpu_seconds_total and
// process_resident_memory_bytes from each node's /metrics.
type metricsSource struct {
	nodes []*adminapi.Client
}

func newMetricsSource(nodes []*adminapi.Client) metricsSource {
	return metricsSource{nodes: nodes}
}

func (metricsSource) name() string { return "metrics" }

func (m metricsSource) read(ctx context.Context) []usage {
	out := make([]usage, len(m.nodes))
	var wg sync.WaitGroup
	for i, n := range m.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = m.readOne(ctx, n)
		}()
	}
	wg.Wait()
	return out
}

func (m metricsSource) readOne(ctx context.Context, n *adminapi.Client) usage {
	// The node as its address, as the report always named it.
	u := usage{node: strings.TrimPrefix(strings.TrimPrefix(n.Base, "http://"), "https://")}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	b, err := n.Metrics(ctx)
	if err != nil {
		u.err = fmt.Errorf("bench: metrics of %s: %w", n.Base, err)
		return u
	}
	vals, err := parseMetrics(bytes.NewReader(b), "process_cpu_seconds_total", "process_resident_memory_bytes", "process_start_time_seconds")
	if err != nil {
		u.err = fmt.Errorf("bench: metrics of %s: %w", n.Base, err)
		return u
	}
	u.cpu, u.rss = vals[0], int64(vals[1])
	u.key = strconv.FormatFloat(vals[2], 'f', -1, 64) // a restart is a new process
	return u
}

// parseMetrics returns the values of the unlabelled samples names, in
// order, from the Prometheus text format.
func parseMetrics(r io.Reader, names ...string) ([]float64, error) {
	vals := make([]float64, len(names))
	found := make([]bool, len(names))
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		for i, n := range names {
			if name == n {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil {
					return nil, fmt.Errorf("%s %q: %w", n, v, err)
				}
				vals[i], found[i] = f, true
			}
		}
	}
	for i, ok := range found {
		if !ok {
			return nil, fmt.Errorf("no %s", names[i])
		}
	}
	return vals, sc.Err()
}

// baseURL makes host:port an http URL; a URL stays as it is.
func baseURL(addr string) string {
	addr = strings.TrimRight(addr, "/")
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return addr
}
