package bench

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Plan says which cases a suite runs.
type Plan struct {
	Measurements []string // default: all
	Systems      []string // gentcp, gonet, kernel, otp (default: all)
	MTUs         []int    // memlink MTUs (default 1500, 65520)
	Conns        []int    // bulk connections (default 1, 8)
	Dirs         []string // bulk directions (default up, down)
	Idle         int      // memory's idle connections (default 10,000)
	// TAPMTUs, if set, add bulk (one connection) and rtt cases on a TAP
	// device against the kernel at these MTUs, for gentcp, gonet and
	// gonet on gVisor's fdbased link (Fdbased).
	TAPMTUs []int
}

func (p Plan) withDefaults() Plan {
	if len(p.Measurements) == 0 {
		p.Measurements = Measurements
	}
	if len(p.Systems) == 0 {
		p.Systems = []string{Gentcp, Gonet, Kernel, OTP}
	}
	if len(p.MTUs) == 0 {
		p.MTUs = []int{1500, 65520}
	}
	if len(p.Conns) == 0 {
		p.Conns = []int{1, 8}
	}
	if len(p.Dirs) == 0 {
		p.Dirs = []string{Up, Down}
	}
	if p.Idle <= 0 {
		p.Idle = 10000
	}
	return p
}

// Cases lists the plan's cases, grouped by measurement, gentcp first in
// each group and its baselines after it; TAP cases come last, because the
// kernel tears a namespace down in the background after each, which would
// slow the case that follows.
func (p Plan) Cases() []Case {
	p = p.withDefaults()
	var out, tapCases []Case
	has := func(s string) bool { return slices.Contains(p.Systems, s) }
	// add appends base for each system, at each MTU for the memlink ones;
	// modes are gentcp's (and OTP's when otpModes).
	add := func(base Case, modes []string, otpModes bool) {
		mtus := p.MTUs
		if base.Measurement == IdleMemory {
			// An idle connection holds no frames: the MTU does not
			// matter, so memory runs at the first only.
			mtus = mtus[:1]
		}
		for _, mtu := range mtus {
			if has(Gentcp) {
				for _, m := range modes {
					c := base
					c.System, c.MTU, c.Mode = Gentcp, mtu, m
					out = append(out, c)
				}
			}
			if has(Gonet) {
				c := base
				c.System, c.MTU = Gonet, mtu
				out = append(out, c)
			}
		}
		if has(Kernel) {
			c := base
			c.System = Kernel
			out = append(out, c)
		}
		if has(OTP) && base.Measurement != IdleMemory {
			oms := []string{""}
			if otpModes {
				oms = modes
			}
			for _, m := range oms {
				c := base
				c.System, c.Mode = OTP, m
				out = append(out, c)
			}
		}
	}
	addTAP := func(base Case, modes []string) {
		for _, mtu := range p.TAPMTUs {
			base.Link, base.MTU = TAP, mtu
			if has(Gentcp) {
				for _, m := range modes {
					c := base
					c.System, c.Mode = Gentcp, m
					tapCases = append(tapCases, c)
				}
			}
			if has(Gonet) {
				for _, sys := range []string{Gonet, Fdbased} {
					c := base
					c.System = sys
					tapCases = append(tapCases, c)
				}
			}
		}
	}
	for _, m := range p.Measurements {
		switch m {
		case Bulk:
			for _, n := range p.Conns {
				for _, d := range p.Dirs {
					add(Case{Measurement: Bulk, Conns: n, Dir: d}, []string{"", Release, Append, NetConn}, false)
				}
			}
			for _, d := range p.Dirs {
				addTAP(Case{Measurement: Bulk, Conns: 1, Dir: d}, []string{"", Release, Append, NetConn})
			}
		case RoundTrip, ConnRate:
			add(Case{Measurement: m}, []string{""}, false)
			if m == RoundTrip {
				addTAP(Case{Measurement: m}, []string{""})
			}
		case MessageRate:
			add(Case{Measurement: m}, []string{ActiveOnce, Passive}, true)
		case IdleMemory:
			add(Case{Measurement: m, Conns: p.Idle}, []string{Passive, ActiveTrue}, false)
		case LinkBulk:
			for _, mtu := range p.MTUs {
				out = append(out, Case{Measurement: m, System: Memlink, MTU: mtu}, Case{Measurement: m, System: Pipe, MTU: mtu})
			}
		}
	}
	return append(out, tapCases...)
}

// Stat is one metric over the runs of a suite.
type Stat struct {
	Median float64   `json:"median"` // the middle run (the mean of the two middle ones)
	Min    float64   `json:"min"`    // the lowest run
	Max    float64   `json:"max"`    // the highest run
	Runs   []float64 `json:"runs"`   // every run's value, in run order
}

// NewStat summarizes the values of the runs.
func NewStat(runs []float64) Stat {
	s := Stat{Runs: runs}
	if len(runs) == 0 {
		return s
	}
	sorted := slices.Clone(runs)
	slices.Sort(sorted)
	s.Min, s.Max = sorted[0], sorted[len(sorted)-1]
	if n := len(sorted); n%2 == 1 {
		s.Median = sorted[n/2]
	} else {
		s.Median = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return s
}

// Result is what a suite measured of one case.
type Result struct {
	Name string `json:"name"` // Case.Name
	Case
	Metrics map[string]Stat `json:"metrics,omitempty"` // by metric (BytesPerSec, P50, ...)
	// Quantiles of the round trips in ns, 0% to 100% in 0.1% steps (rtt,
	// when asked for; pooled over the runs).
	Quantiles []float64 `json:"quantiles,omitempty"`
	// Skipped says why the case did not run (no escript, ...).
	Skipped string `json:"skipped,omitempty"`
}

// higherIsBetter reports the direction of a metric.
func higherIsBetter(metric string) bool {
	switch metric {
	case BytesPerSec, ConnsPerSec, MsgsPerSec:
		return true
	}
	return false
}

// Headline returns the metrics a measurement is judged by.
func Headline(measurement string) []string {
	switch measurement {
	case Bulk, LinkBulk:
		return []string{BytesPerSec}
	case RoundTrip:
		return []string{P50, P99}
	case ConnRate:
		return []string{ConnsPerSec}
	case MessageRate:
		return []string{MsgsPerSec}
	case IdleMemory:
		return []string{BytesPerCon}
	}
	return nil
}

// Target is one of the goals BENCHMARKS.md sets (its Targets section): a
// ratio to a baseline (or, with no baseline, a limit on the value itself).
type Target struct {
	Op    string  `json:"op"`    // ">=" or "<="
	Ratio float64 `json:"ratio"` // or the limit, without a baseline
	// EveryRun says the goal holds for the worst run's ratio, not only
	// for the median (the message rate's goal holds "in every round").
	EveryRun bool `json:"every_run,omitempty"`
	Met      bool `json:"met"` // whether the median ratio (or value; the worst run's with EveryRun) meets it
}

// String is the goal as a ratio ("<= 1.1x", ">= 2.0x in every run").
func (t Target) String() string {
	s := fmt.Sprintf("%s %.1fx", t.Op, t.Ratio)
	if t.EveryRun {
		s += " in every run"
	}
	return s
}

// Judged is the figure of s the target judges: the median, or with
// EveryRun the worst run (the least for >=, the most for <=).
func (t Target) Judged(s Stat) float64 {
	switch {
	case !t.EveryRun:
		return s.Median
	case t.Op == ">=":
		return s.Min
	}
	return s.Max
}

// Comparison is one figure of the project's against one baseline.
type Comparison struct {
	Case     string `json:"case"`               // the project's case name (Case.Name)
	Metric   string `json:"metric"`             // the metric compared (BytesPerSec, P50, ...)
	Higher   bool   `json:"higher_is_better"`   // the metric's direction
	Value    Stat   `json:"value"`              // the project's figure
	Baseline string `json:"baseline,omitempty"` // the baseline's system
	// BaselineCase is the baseline's case name; BaselineValue its figure.
	BaselineCase  string `json:"baseline_case,omitempty"`
	BaselineValue *Stat  `json:"baseline_value,omitempty"`
	// Ratio is value/baseline, run by run (the i-th run of each is
	// paired), summarized.
	Ratio *Stat `json:"ratio,omitempty"`
	// Target is the goal for this comparison and whether it was met;
	// nil when none is set.
	Target *Target `json:"target,omitempty"`
}

// MemoryLimit is the bound on memory per idle connection (both ends), in
// bytes, that BENCHMARKS.md sets: 15.5 KB, taking KB as 1000 bytes.
const MemoryLimit = 15500

// TAPRoundTripLimit is the bound on the median round trip over TAP to the
// kernel, in ns, that BENCHMARKS.md sets.
const TAPRoundTripLimit = 40000

// GentcpAppend is the baseline name of a comparison of gentcp's Recv
// (with or without Release) with its RecvAppend in the same case: the
// target is Recv at 0.9x RecvAppend.
const GentcpAppend = Gentcp + "-" + Append

// recvMode reports whether a gentcp bulk mode reads with Recv, the
// Erlang-shaped path that returns a binary per call.
func recvMode(mode string) bool { return mode == "" || mode == Release }

// target returns the goal for a gentcp figure against a baseline, if the
// issue sets one: issue 21's targets, and the earlier ones it keeps (bulk
// through the caller's buffer at 1.0x gonet, TAP at MTU 1500 at 2x
// fdbased, the TAP round trip, idle memory).
func target(c Case, metric, baseline string) *Target {
	switch {
	case c.Link == TAP && c.Measurement == Bulk && baseline == Fdbased && c.MTU == 1500:
		return &Target{Op: ">=", Ratio: 2.0}
	case c.Link == TAP && c.Measurement == Bulk && baseline == Fdbased && c.MTU == 65520:
		return &Target{Op: ">=", Ratio: 1.2}
	case c.Link == TAP && c.Measurement == RoundTrip && baseline == "" && metric == P50:
		return &Target{Op: "<=", Ratio: TAPRoundTripLimit}
	case c.Link == TAP && baseline != Gonet:
		return nil
	case c.Measurement == Bulk && baseline == Gonet && recvMode(c.Mode):
		return &Target{Op: ">=", Ratio: 0.9}
	case c.Measurement == Bulk && baseline == Gonet:
		return &Target{Op: ">=", Ratio: 1.0}
	case c.Measurement == Bulk && baseline == GentcpAppend:
		return &Target{Op: ">=", Ratio: 0.9}
	case c.Measurement == Bulk && baseline == Kernel && c.MTU == 65520:
		return &Target{Op: ">=", Ratio: 1.8}
	case c.Measurement == Bulk && baseline == OTP:
		return &Target{Op: ">=", Ratio: 2.0}
	case c.Measurement == RoundTrip && baseline == Gonet:
		return &Target{Op: "<=", Ratio: 1.1}
	case c.Measurement == ConnRate && baseline == Gonet:
		return &Target{Op: ">=", Ratio: 1.0}
	case c.Measurement == MessageRate && baseline == OTP:
		return &Target{Op: ">=", Ratio: 2.0, EveryRun: true}
	case c.Measurement == IdleMemory && baseline == "":
		// Passive and active alike: an idle socket holds no goroutine
		// in either mode, and Erlang servers keep theirs active.
		return &Target{Op: "<=", Ratio: MemoryLimit}
	}
	return nil
}

func (t *Target) judge(s Stat) {
	v := t.Judged(s)
	if t.Op == ">=" {
		t.Met = v >= t.Ratio
	} else {
		t.Met = v <= t.Ratio
	}
}

// Compare pairs each gentcp result (and memlink's, for link) with its
// baselines: gonet at the same MTU, the kernel, OTP in the same mode
// (pipe at the same MTU for link; gonet on link/tap and on fdbased for
// TAP), and a bulk figure read with Recv also with RecvAppend's figure
// of the same case (GentcpAppend); it computes the ratios run by run and
// judges the targets.
func Compare(results []Result) []Comparison {
	byName := map[string]Result{}
	for _, r := range results {
		if r.Skipped == "" {
			byName[r.Case.Name()] = r
		}
	}
	var out []Comparison
	for _, r := range results {
		if r.Skipped != "" || (r.System != Gentcp && r.System != Memlink) {
			continue
		}
		var baselines []Case
		switch r.System {
		case Memlink:
			b := r.Case
			b.System = Pipe
			baselines = append(baselines, b)
		case Gentcp:
			if r.Measurement == Bulk && recvMode(r.Mode) {
				// Recv against RecvAppend on the same sockets' path.
				a := r.Case
				a.Mode = Append
				baselines = append(baselines, a)
			}
			g := r.Case
			g.System, g.Mode = Gonet, ""
			if r.Link == TAP {
				// On TAP: gonet on the same link, gonet on fdbased.
				f := g
				f.System = Fdbased
				baselines = append(baselines, g, f)
				break
			}
			k := g
			k.System, k.MTU = Kernel, 0
			o := k
			o.System = OTP
			if r.Measurement == MessageRate {
				o.Mode = r.Mode
			}
			baselines = append(baselines, g, k, o)
		}
		for _, metric := range Headline(r.Measurement) {
			v, ok := r.Metrics[metric]
			if !ok {
				continue
			}
			if t := target(r.Case, metric, ""); t != nil {
				t.judge(v)
				out = append(out, Comparison{Case: r.Case.Name(), Metric: metric, Higher: higherIsBetter(metric), Value: v, Target: t})
			}
			for _, bc := range baselines {
				b, ok := byName[bc.Name()]
				if !ok {
					continue
				}
				bv, ok := b.Metrics[metric]
				if !ok {
					continue
				}
				ratio := pairedRatio(v, bv)
				name := bc.System
				if bc.System == Gentcp {
					name = GentcpAppend
				}
				cmp := Comparison{Case: r.Case.Name(), Metric: metric, Higher: higherIsBetter(metric), Value: v,
					Baseline: name, BaselineCase: bc.Name(), BaselineValue: &bv, Ratio: &ratio}
				if t := target(r.Case, metric, name); t != nil {
					t.judge(ratio)
					cmp.Target = t
				}
				out = append(out, cmp)
			}
		}
	}
	return out
}

// pairedRatio divides run i of v by run i of b.
func pairedRatio(v, b Stat) Stat {
	var rs []float64
	for i := range min(len(v.Runs), len(b.Runs)) {
		if b.Runs[i] > 0 {
			rs = append(rs, v.Runs[i]/b.Runs[i])
		}
	}
	return NewStat(rs)
}

// Machine describes where a suite ran.
type Machine struct {
	Cores      int    `json:"cores"`         // logical CPUs (runtime.NumCPU)
	GOMAXPROCS int    `json:"gomaxprocs"`    // runtime.GOMAXPROCS at the start
	CPU        string `json:"cpu"`           // the model name from /proc/cpuinfo
	Kernel     string `json:"kernel"`        // uname's system and release
	Go         string `json:"go"`            // runtime.Version
	OTP        string `json:"otp,omitempty"` // the OTP release, if erl is installed
	MemoryGiB  int    `json:"memory_gib"`    // total RAM, rounded to GiB
	NoFile     uint64 `json:"rlimit_nofile"` // the soft limit on open files
}

// ThisMachine describes the machine the process runs on.
func ThisMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(), OTP: OTPRelease()}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		m.Kernel = utsString(u.Sysname[:]) + " " + utsString(u.Release[:])
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) == nil {
		m.MemoryGiB = int((uint64(si.Totalram)*uint64(si.Unit) + 1<<29) >> 30)
	}
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) == nil {
		m.NoFile = r.Cur
	}
	return m
}

func utsString(b []int8) string {
	var sb strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		sb.WriteByte(byte(c))
	}
	return sb.String()
}

// QuantileCurve returns the 0%..100% quantiles of samples in 0.1% steps,
// in ns, for plots.
func QuantileCurve(samples []time.Duration) []float64 {
	if len(samples) == 0 {
		return nil
	}
	qs := make([]float64, 1001)
	for i := range qs {
		qs[i] = float64(i) / 1000
	}
	ds := Quantiles(samples, qs...)
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d)
	}
	return out
}
