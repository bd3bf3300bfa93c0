package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
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
	assert.Greater(t, targets, 0, "the issue's targets are judged")
}

func TestBenchTableAndFlags(t *testing.T) {
	defer goleak.VerifyNone(t)
	code, out, errs := runCLI(t, "bench", "--quick", "--only", "rtt", "--systems", "gentcp,gonet,kernel", "--mtus", "1500")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "rtt: 1-byte ping-pong")
	assert.Regexp(t, `mtu 1500 .* [0-9.]+x`, out)
	assert.Contains(t, errs, "rtt/gentcp/mtu=1500:", "progress goes to stderr")
	assert.Contains(t, out, "targets")

	code, _, errs = runCLI(t, "bench", "--only", "nope")
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, `unknown "nope"`)
	code, _, errs = runCLI(t, "bench", "--mtus", "100")
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, "576..65520")
	code, _, _ = runCLI(t, "bench", "--json", "--markdown")
	assert.Equal(t, 2, code)
}
