package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/usertcp/usertcp/bench"
)

// benchReport is what `usertcp bench --json` prints.
type benchReport struct {
	Machine     bench.Machine      `json:"machine"`
	Settings    benchSettings      `json:"settings"`
	Results     []bench.Result     `json:"results"`
	Comparisons []bench.Comparison `json:"comparisons"`
}

type benchSettings struct {
	Command      string   `json:"command"`
	Measurements []string `json:"measurements"`
	Systems      []string `json:"systems"`
	MTUs         []int    `json:"mtus"`
	TAPMTUs      []int    `json:"tap_mtus,omitempty"`
	Conns        []int    `json:"conns"`
	Dirs         []string `json:"dirs"`
	Idle         int      `json:"idle"`
	TimeNS       int64    `json:"time_ns"`
	Runs         int      `json:"runs"`
	Quick        bool     `json:"quick"`
}

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	only := fs.String("only", strings.Join(bench.Measurements, ","), "measurements to run: "+strings.Join(bench.Measurements, ","))
	systems := fs.String("systems", "gentcp,gonet,kernel,otp", "systems to run (otp is skipped without escript)")
	mtus := fs.String("mtus", "1500,65520", "memlink MTUs")
	conns := fs.String("conns", "1,8", "bulk: parallel connections")
	dirs := fs.String("dirs", "up,down", "bulk: directions (up: the connecting side sends)")
	idle := fs.Int("idle", 10000, "memory: idle connections")
	tapOn := fs.Bool("tap", false, "also bulk (1 connection) and rtt on a TAP device against the kernel in a namespace it makes (root)")
	tapMTUs := fs.String("tap-mtus", "1500,65520", "with --tap: TAP MTUs")
	per := fs.Duration("time", time.Second, "how long each case runs")
	runs := fs.Int("runs", 1, "repeat everything this many times; figures are median, min, max")
	quick := fs.Bool("quick", false, "a smoke run: 20ms per case, 200 idle connections (for tests; figures are noise, so targets are not judged)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	markdown := fs.Bool("markdown", false, "print Markdown tables (for BENCHMARKS.md)")
	samples := fs.Bool("samples", false, "with --json: keep each round trip distribution (0.1% quantiles, for plots)")
	from := fs.String("from", "", "measure nothing: print the report of an earlier --json run from this file")
	help := `Usage: usertcp bench [flags]

Measures gentcp on a memlink against gVisor's gonet on the same link, Go's net over
kernel loopback and OTP's gen_tcp (escript) over kernel loopback; prints every
figure with its baselines and ratios (gentcp / baseline), and judges the figures
against the targets BENCHMARKS.md sets. Progress goes to stderr.
With --tap (root) it also measures gentcp and gonet on a TAP device against the
kernel in a network namespace, with gonet on gVisor's fdbased link as the baseline.

Flags:
`
	if err := parseFlags(fs, args, help, stdout); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	plan := bench.Plan{Idle: *idle}
	var err error
	if plan.Measurements, err = oneOf("--only", *only, bench.Measurements); err != nil {
		return err
	}
	if plan.Systems, err = oneOf("--systems", *systems, []string{bench.Gentcp, bench.Gonet, bench.Kernel, bench.OTP}); err != nil {
		return err
	}
	if plan.Dirs, err = oneOf("--dirs", *dirs, []string{bench.Up, bench.Down}); err != nil {
		return err
	}
	if plan.MTUs, err = ints("--mtus", *mtus, 576, 65520); err != nil {
		return err
	}
	if plan.Conns, err = ints("--conns", *conns, 1, 1024); err != nil {
		return err
	}
	tapPlanMTUs, err := ints("--tap-mtus", *tapMTUs, 576, 65520)
	if err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	switch {
	case *per <= 0:
		return usageError{fmt.Errorf("--time %v: want a positive duration", *per)}
	case *runs < 1:
		return usageError{fmt.Errorf("--runs %d: want 1 or more", *runs)}
	case *idle < 1:
		return usageError{fmt.Errorf("--idle %d: want 1 or more", *idle)}
	case *quick && (given["time"] || given["idle"]):
		return usageError{errors.New("--quick sets --time and --idle itself: give --quick or those")}
	case given["tap-mtus"] && !*tapOn:
		return usageError{errors.New("--tap-mtus is for --tap")}
	case *samples && !*asJSON:
		return usageError{errors.New("--samples is for --json")}
	case *asJSON && *markdown:
		return usageError{errors.New("--json and --markdown exclude each other")}
	}
	if *tapOn {
		plan.TAPMTUs = tapPlanMTUs
		if why := bench.TAPUnavailable(); why != "" {
			return fmt.Errorf("--tap: %s", why)
		}
	}
	if *quick {
		*per, *idle = 20*time.Millisecond, 200
		plan.Idle = *idle
	}
	if *from != "" {
		b, err := os.ReadFile(*from)
		if err != nil {
			return err
		}
		var rep benchReport
		if err := json.Unmarshal(b, &rep); err != nil {
			return fmt.Errorf("%s: %w", *from, err)
		}
		if rep.Settings.Quick {
			ungrade(rep.Comparisons)
		}
		return printReport(stdout, rep, *asJSON, *markdown)
	}

	cases := plan.Cases()
	total := len(cases) * *runs
	done := 0
	results, err := bench.RunSuite(plan, bench.SuiteOptions{
		Time:      *per,
		Runs:      *runs,
		Quantiles: *samples,
		Progress: func(round int, c bench.Case, m map[string]float64, err error) {
			done++
			var got string
			switch {
			case err != nil:
				got = err.Error()
			default:
				var parts []string
				for _, k := range metricOrder(m) {
					parts = append(parts, formatMetric(k, m[k]))
				}
				got = strings.Join(parts, " ")
			}
			fmt.Fprintf(stderr, "[%d/%d] %s: %s\n", done, total, c.Name(), got)
		},
	})
	if err != nil {
		return err
	}
	rep := benchReport{
		Machine: bench.ThisMachine(),
		Settings: benchSettings{
			Command:      strings.Join(append([]string{"usertcp", "bench"}, args...), " "),
			Measurements: plan.Measurements, Systems: plan.Systems, MTUs: plan.MTUs, TAPMTUs: plan.TAPMTUs, Conns: plan.Conns,
			Dirs: plan.Dirs, Idle: plan.Idle, TimeNS: per.Nanoseconds(), Runs: *runs, Quick: *quick,
		},
		Results:     results,
		Comparisons: bench.Compare(results),
	}
	if *quick {
		ungrade(rep.Comparisons)
	}
	return printReport(stdout, rep, *asJSON, *markdown)
}

func printReport(w io.Writer, rep benchReport, asJSON, markdown bool) error {
	switch {
	case asJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case markdown:
		writeMarkdown(w, rep)
	default:
		writeTable(w, rep)
	}
	return nil
}

// oneOf splits a comma list and checks each item against allowed.
func oneOf(flagName, list string, allowed []string) ([]string, error) {
	var out []string
	for s := range strings.SplitSeq(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(allowed, s) {
			return nil, usageError{fmt.Errorf("%s: unknown %q (want some of %s)", flagName, s, strings.Join(allowed, ","))}
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, usageError{fmt.Errorf("%s: empty", flagName)}
	}
	return out, nil
}

func ints(flagName, list string, lo, hi int) ([]int, error) {
	var out []int
	for s := range strings.SplitSeq(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < lo || n > hi {
			return nil, usageError{fmt.Errorf("%s: %q is not a number in %d..%d", flagName, s, lo, hi)}
		}
		out = append(out, n)
	}
	return out, nil
}

// metricOrder lists a case's metrics in a fixed order.
func metricOrder[V any](m map[string]V) []string {
	order := []string{bench.BytesPerSec, bench.P50, bench.P99, bench.Mean, bench.ConnsPerSec, bench.MsgsPerSec, bench.BytesPerCon, bench.IdleConns}
	var out []string
	for _, k := range order {
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

// formatMetric prints a figure with its unit, scaled for reading.
func formatMetric(metric string, v float64) string {
	switch metric {
	case bench.BytesPerSec:
		return scaled(v, "B/s")
	case bench.P50, bench.P99, bench.Mean:
		return time.Duration(v).Round(100 * time.Nanosecond).String()
	case bench.ConnsPerSec:
		return scaled(v, "conn/s")
	case bench.MsgsPerSec:
		return scaled(v, "msg/s")
	case bench.BytesPerCon:
		return scaled(v, "B/conn")
	case bench.IdleConns:
		return fmt.Sprintf("(%d conns)", int(v))
	}
	return strconv.FormatFloat(v, 'g', 4, 64) + " " + metric
}

// scaled prints v with a decimal prefix and three significant digits.
func scaled(v float64, unit string) string {
	prefixes := []string{"", "k", "M", "G", "T"}
	i := 0
	for math.Abs(v) >= 1000 && i < len(prefixes)-1 {
		v /= 1000
		i++
	}
	return strconv.FormatFloat(v, 'f', max(0, 2-int(math.Floor(math.Log10(max(math.Abs(v), 1))))), 64) + " " + prefixes[i] + unit
}

var measurementTitles = map[string]string{
	bench.Bulk:        "bulk: one-way throughput, 64 KiB writes and reads",
	bench.RoundTrip:   "rtt: 1-byte ping-pong round trip (lower is better)",
	bench.ConnRate:    "connrate: connect, accept, close on both ends, one at a time",
	bench.MessageRate: "msgrate: 64-byte {packet,4} messages, one way",
	bench.IdleMemory:  "memory: heap (+ kernel slab) per idle connection, both ends (lower is better)",
	bench.LinkBulk:    "link: bulk over gonet, memlink against gVisor's pipe link",
}

// row is one project figure with its baselines.
type row struct {
	label string
	value bench.Stat
	cmps  map[string]bench.Comparison // by baseline system
}

// rowsOf groups the comparisons by case, in result order.
func rowsOf(rep benchReport, measurement, metric string) []row {
	var rows []row
	for _, r := range rep.Results {
		if r.Measurement != measurement || (r.System != bench.Gentcp && r.System != bench.Memlink) || r.Skipped != "" {
			continue
		}
		v, ok := r.Metrics[metric]
		if !ok {
			continue
		}
		rw := row{label: rowLabel(r.Case), value: v, cmps: map[string]bench.Comparison{}}
		for _, c := range rep.Comparisons {
			if c.Case == r.Name && c.Metric == metric && c.Baseline != "" {
				rw.cmps[c.Baseline] = c
			}
		}
		rows = append(rows, rw)
	}
	return rows
}

func rowLabel(c bench.Case) string {
	var parts []string
	if c.Measurement == bench.Bulk {
		parts = append(parts, fmt.Sprintf("%d conn %s", c.Conns, c.Dir))
	}
	if c.Mode != "" {
		parts = append(parts, c.Mode)
	}
	if c.Measurement == bench.IdleMemory {
		parts = append(parts, fmt.Sprintf("%d conns", c.Conns))
	}
	if c.Link != "" {
		parts = append(parts, c.Link)
	}
	parts = append(parts, fmt.Sprintf("mtu %d", c.MTU))
	return strings.Join(parts, ", ")
}

// baselinesOf lists the baseline systems a measurement's rows have.
func baselinesOf(rows []row) []string {
	var out []string
	for _, s := range []string{bench.GentcpAppend, bench.Gonet, bench.Kernel, bench.OTP, bench.Pipe, bench.Fdbased} {
		for _, r := range rows {
			if _, ok := r.cmps[s]; ok {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

func project(measurement string) string {
	if measurement == bench.LinkBulk {
		return bench.Memlink
	}
	return bench.Gentcp
}

func writeTable(w io.Writer, rep benchReport) {
	m := rep.Machine
	fmt.Fprintf(w, "usertcp bench: %d cores (%s), %s, %s", m.Cores, m.CPU, m.Kernel, m.Go)
	if m.OTP != "" {
		fmt.Fprintf(w, ", OTP %s", m.OTP)
	}
	fmt.Fprintf(w, "; %v per case, %d run(s)\n", time.Duration(rep.Settings.TimeNS), rep.Settings.Runs)
	fmt.Fprintln(w, "ratio = project / baseline; with several runs, [min-max] of the run-by-run ratios")
	spread := rep.Settings.Runs > 1
	for _, ms := range bench.Measurements {
		for _, metric := range bench.Headline(ms) {
			rows := rowsOf(rep, ms, metric)
			if len(rows) == 0 {
				continue
			}
			title := measurementTitles[ms]
			if ms == bench.RoundTrip {
				title += ", " + metric
			}
			fmt.Fprintf(w, "\n%s\n", title)
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			bases := baselinesOf(rows)
			fmt.Fprintf(tw, "  case\t%s", project(ms))
			for _, b := range bases {
				fmt.Fprintf(tw, "\t%s\tratio", b)
			}
			fmt.Fprintln(tw)
			for _, r := range rows {
				fmt.Fprintf(tw, "  %s\t%s", r.label, formatMetric(metric, r.value.Median))
				for _, b := range bases {
					c, ok := r.cmps[b]
					if !ok {
						fmt.Fprint(tw, "\t-\t-")
						continue
					}
					fmt.Fprintf(tw, "\t%s\t%s", formatMetric(metric, c.BaselineValue.Median), formatRatio(*c.Ratio, spread))
				}
				fmt.Fprintln(tw)
			}
			tw.Flush()
		}
	}
	writeTargets(w, rep, false)
	for _, r := range rep.Results {
		if r.Skipped != "" {
			fmt.Fprintf(w, "skipped %s: %s\n", r.Name, r.Skipped)
		}
	}
}

func formatRatio(r bench.Stat, spread bool) string {
	s := fmt.Sprintf("%.2fx", r.Median)
	if spread && len(r.Runs) > 1 {
		s += fmt.Sprintf(" [%.2f-%.2f]", r.Min, r.Max)
	}
	return s
}

// ungrade drops the targets from a --quick run's comparisons: its figures
// are noise (20 ms a case), and a verdict on them would mislead.
func ungrade(cmps []bench.Comparison) {
	for i := range cmps {
		cmps[i].Target = nil
	}
}

// writeTargets lists the targets BENCHMARKS.md sets (its Targets section;
// bench.Compare knows them), met or missed and by how much. A --quick
// report has none and says why.
func writeTargets(w io.Writer, rep benchReport, md bool) {
	if rep.Settings.Quick {
		fmt.Fprintln(w, "\ntargets (BENCHMARKS.md): not judged, a --quick run's figures are noise; run without --quick")
		return
	}
	var lines [][]string
	for _, c := range rep.Comparisons {
		if c.Target == nil {
			continue
		}
		// v is what the target judges: the median, or the worst run's
		// for a goal that must hold in every run.
		judged, against := c.Value, "absolute"
		if c.Ratio != nil {
			judged, against = *c.Ratio, "vs "+c.Baseline
		}
		v := c.Target.Judged(judged)
		got := formatMetric(c.Metric, v)
		if c.Ratio != nil {
			got = fmt.Sprintf("%.2fx", v)
		}
		verdict := "met"
		if !c.Target.Met {
			verdict = "MISSED by " + percent(math.Abs(v-c.Target.Ratio)/c.Target.Ratio*100)
			if c.Ratio != nil && fmt.Sprintf("%.2f", v) == fmt.Sprintf("%.2f", c.Target.Ratio) {
				// Just short: show the digit that makes it short.
				got = fmt.Sprintf("%.3fx", v)
			}
		}
		if c.Target.EveryRun && c.Ratio != nil {
			got += fmt.Sprintf(" (worst run; median %.2fx)", judged.Median)
		}
		metric := ""
		if c.Metric == bench.P50 || c.Metric == bench.P99 {
			metric = " " + c.Metric
		}
		want := c.Target.String()
		if c.Baseline == "" {
			want = c.Target.Op + " " + formatMetric(c.Metric, c.Target.Ratio)
		}
		lines = append(lines, []string{c.Case + metric, against, got, want, verdict})
	}
	if len(lines) == 0 {
		return
	}
	if md {
		fmt.Fprintln(w, "\n| figure | against | got | target (BENCHMARKS.md) | verdict |\n|---|---|---|---|---|")
		for _, l := range lines {
			fmt.Fprintf(w, "| `%s` | %s | %s | %s | %s |\n", l[0], l[1], l[2], l[3], l[4])
		}
		return
	}
	fmt.Fprintln(w, "\ntargets (the goals in BENCHMARKS.md, section Targets)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, l := range lines {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", l[0], l[1], l[2], l[3], l[4])
	}
	tw.Flush()
}

// percent prints a shortfall with the digits it needs: a figure just
// short of its target is "0.4%", not "0%".
func percent(p float64) string {
	switch {
	case p >= 10:
		return fmt.Sprintf("%.0f%%", p)
	case p >= 0.1:
		return fmt.Sprintf("%.1f%%", p)
	}
	return "less than 0.1%"
}

// writeMarkdown prints the tables of writeTable as Markdown, each figure
// as median [min-max].
func writeMarkdown(w io.Writer, rep benchReport) {
	m := rep.Machine
	fmt.Fprintf(w, "Machine: %d cores (%s), %d GiB, %s, %s", m.Cores, m.CPU, m.MemoryGiB, m.Kernel, m.Go)
	if m.OTP != "" {
		fmt.Fprintf(w, ", OTP %s", m.OTP)
	}
	fmt.Fprintf(w, ". Command: `%s` (%d run(s), %v per case).\n", rep.Settings.Command, rep.Settings.Runs, time.Duration(rep.Settings.TimeNS))
	stat := func(metric string, s bench.Stat) string {
		if len(s.Runs) > 1 {
			return fmt.Sprintf("%s [%s - %s]", formatMetric(metric, s.Median), formatMetric(metric, s.Min), formatMetric(metric, s.Max))
		}
		return formatMetric(metric, s.Median)
	}
	for _, ms := range bench.Measurements {
		for _, metric := range bench.Headline(ms) {
			rows := rowsOf(rep, ms, metric)
			if len(rows) == 0 {
				continue
			}
			title := measurementTitles[ms]
			if ms == bench.RoundTrip {
				title += ", " + metric
			}
			bases := baselinesOf(rows)
			fmt.Fprintf(w, "\n**%s**\n\n| case | %s |", title, project(ms))
			for _, b := range bases {
				fmt.Fprintf(w, " %s | ratio |", b)
			}
			fmt.Fprint(w, "\n|---|---|")
			for range bases {
				fmt.Fprint(w, "---|---|")
			}
			fmt.Fprintln(w)
			for _, r := range rows {
				fmt.Fprintf(w, "| %s | %s |", r.label, stat(metric, r.value))
				for _, b := range bases {
					c, ok := r.cmps[b]
					if !ok {
						fmt.Fprint(w, " - | - |")
						continue
					}
					fmt.Fprintf(w, " %s | %s |", stat(metric, *c.BaselineValue), formatRatio(*c.Ratio, true))
				}
				fmt.Fprintln(w)
			}
		}
	}
	writeTargets(w, rep, true)
	for _, r := range rep.Results {
		if r.Skipped != "" {
			fmt.Fprintf(w, "\nSkipped %s: %s\n", r.Name, r.Skipped)
		}
	}
}
