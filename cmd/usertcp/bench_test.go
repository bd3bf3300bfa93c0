package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/usertcp/usertcp/bench"
)

// TestBenchQuickJSON runs the whole suite as a smoke run and checks the
// shape of the JSON: every measurement there, every figure positive, every
// gentcp figure compared with its baselines. Timings are not judged.
func TestBenchQuickJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every benchmark briefly; skipped with -short")
	}
	defer goleak.VerifyNone(t)
	code, out, errs := runCLI(t, "bench", "--quick", "--json")
	require.Equal(t, 0, code, errs)

	var rep struct {
		Machine struct {
			Cores  int    `json:"cores"`
			Go     string `json:"go"`
			Kernel string `json:"kernel"`
		} `json:"machine"`
		Settings struct {
			Command string `json:"command"`
			Runs    int    `json:"runs"`
		} `json:"settings"`
		Results []struct {
			Name        string `json:"name"`
			Measurement string `json:"measurement"`
			System      string `json:"system"`
			Skipped     string `json:"skipped"`
			Metrics     map[string]struct {
				Median, Min, Max float64
				Runs             []float64
			} `json:"metrics"`
		} `json:"results"`
		Comparisons []struct {
			Case          string `json:"case"`
			Metric        string `json:"metric"`
			Baseline      string `json:"baseline"`
			BaselineValue *struct {
				Median float64 `json:"median"`
			} `json:"baseline_value"`
			Ratio *struct {
				Median float64 `json:"median"`
			} `json:"ratio"`
			Target *struct {
				Op    string  `json:"op"`
				Ratio float64 `json:"ratio"`
			} `json:"target"`
		} `json:"comparisons"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep), "stdout is one JSON document")

	assert.Greater(t, rep.Machine.Cores, 0)
	assert.NotEmpty(t, rep.Machine.Go)
	assert.NotEmpty(t, rep.Machine.Kernel)
	assert.Equal(t, "usertcp bench --quick --json", rep.Settings.Command)
	assert.Equal(t, 1, rep.Settings.Runs)

	measured := map[string]map[string]bool{}
	for _, r := range rep.Results {
		if r.Skipped != "" {
			assert.Equal(t, "otp", r.System, "only OTP may be skipped (no escript): %s", r.Skipped)
			continue
		}
		require.NotEmpty(t, r.Metrics, r.Name)
		for k, m := range r.Metrics {
			assert.Greater(t, m.Median, 0.0, "%s %s", r.Name, k)
			assert.Len(t, m.Runs, 1, "%s %s", r.Name, k)
		}
		if measured[r.Measurement] == nil {
			measured[r.Measurement] = map[string]bool{}
		}
		measured[r.Measurement][r.System] = true
	}
	for _, m := range []string{"bulk", "rtt", "connrate", "msgrate", "memory"} {
		for _, sys := range []string{"gentcp", "gonet", "kernel"} {
			assert.True(t, measured[m][sys], "%s of %s measured", m, sys)
		}
	}
	assert.True(t, measured["link"]["memlink"] && measured["link"]["pipe"], "link measured")

	baselines := map[string]bool{}
	targets := 0
	for _, c := range rep.Comparisons {
		if c.Target != nil {
			targets++
		}
		if c.Baseline == "" {
			continue
		}
		baselines[c.Baseline] = true
		require.NotNil(t, c.Ratio, c.Case)
		require.NotNil(t, c.BaselineValue, c.Case)
		assert.Greater(t, c.Ratio.Median, 0.0, "%s vs %s", c.Case, c.Baseline)
		assert.Greater(t, c.BaselineValue.Median, 0.0, "%s vs %s", c.Case, c.Baseline)
	}
	assert.True(t, baselines["gonet"] && baselines["kernel"] && baselines["pipe"], "baselines: %v", baselines)
	assert.Zero(t, targets, "a --quick run's figures are noise: no target is judged")
}

func TestBenchTableAndFlags(t *testing.T) {
	defer goleak.VerifyNone(t)
	code, out, errs := runCLI(t, "bench", "--quick", "--only", "rtt", "--systems", "gentcp,gonet,kernel", "--mtus", "1500")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "rtt: 1-byte ping-pong")
	assert.Regexp(t, `mtu 1500 .* [0-9.]+x`, out)
	assert.Contains(t, errs, "rtt/gentcp/mtu=1500:", "progress goes to stderr")
	assert.Contains(t, out, "targets (BENCHMARKS.md): not judged")
	assert.NotContains(t, out, "MISSED")

	code, _, errs = runCLI(t, "bench", "--only", "nope")
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, `unknown "nope"`)
	code, _, errs = runCLI(t, "bench", "--mtus", "100")
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, "576..65520")
	for _, args := range [][]string{
		{"--json", "--markdown"},
		{"--quick", "--time", "-1s"},
		{"--time", "-1s"},
		{"--time", "0s"},
		{"--quick", "--time", "5s"},
		{"--quick", "--idle", "10"},
		{"--runs", "0"},
		{"--idle", "0"},
		{"--tap-mtus", "100"},
		{"--tap-mtus", "1500"},
		{"--samples"},
		{"--conns", "0"},
		{"--dirs", "sideways"},
		{"--systems", ""},
	} {
		code, out, errs := runCLI(t, append([]string{"bench"}, args...)...)
		assert.Equal(t, 2, code, "bench %v: %s", args, errs)
		assert.Empty(t, out, "bench %v measured nothing", args)
	}
}

// TestBenchTargets: a full run's report judges the targets BENCHMARKS.md
// sets, naming it, and says by how much a figure missed, with the digits
// it takes; a --quick report judges nothing.
func TestBenchTargets(t *testing.T) {
	ratio := func(v float64) *bench.Stat { return &bench.Stat{Median: v} }
	rep := benchReport{Comparisons: []bench.Comparison{
		{Case: "rtt/gentcp/mtu=1500", Metric: bench.P50, Baseline: bench.Gonet, Ratio: ratio(1.0), BaselineValue: ratio(1), Target: &bench.Target{Op: "<=", Ratio: 1.1, Met: true}},
		{Case: "connrate/gentcp/mtu=1500", Metric: bench.ConnsPerSec, Baseline: bench.Gonet, Ratio: ratio(0.996), BaselineValue: ratio(1), Target: &bench.Target{Op: ">=", Ratio: 1.0}},
		{Case: "bulk/gentcp/mtu=1500", Metric: bench.BytesPerSec, Baseline: bench.OTP, Ratio: ratio(1.3), BaselineValue: ratio(1), Target: &bench.Target{Op: ">=", Ratio: 2.0}},
		{Case: "msgrate/gentcp-once/mtu=1500", Metric: bench.MsgsPerSec, Baseline: bench.OTP, Ratio: &bench.Stat{Median: 3.1, Min: 1.5, Max: 4, Runs: []float64{1.5, 3.1, 4}},
			BaselineValue: ratio(1), Target: &bench.Target{Op: ">=", Ratio: 2.0, EveryRun: true}},
	}}
	var b bytes.Buffer
	writeTargets(&b, rep, false)
	out := b.String()
	assert.Contains(t, out, "BENCHMARKS.md")
	assert.NotContains(t, out, "issue")
	assert.Regexp(t, `rtt/gentcp/mtu=1500 p50-ns\s+vs gonet\s+1.00x\s+<= 1.1x\s+met`, out)
	assert.Regexp(t, `connrate/gentcp/mtu=1500\s+vs gonet\s+0.996x\s+>= 1.0x\s+MISSED by 0.4%`, out)
	assert.Contains(t, out, "MISSED by 35%")
	assert.Regexp(t, `msgrate/gentcp-once/mtu=1500\s+vs otp\s+1.50x \(worst run; median 3.10x\)\s+>= 2.0x in every run\s+MISSED by 25%`, out)
	assert.NotContains(t, out, "by 0%")

	b.Reset()
	rep.Settings.Quick = true
	writeTargets(&b, rep, false)
	assert.Contains(t, b.String(), "not judged")
	assert.NotContains(t, b.String(), "MISSED")
}
