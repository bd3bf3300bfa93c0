package bench

import (
	"errors"
	"time"
)

// SuiteOptions says how to run a plan.
type SuiteOptions struct {
	// Time is how long each case runs (memory cases ignore it).
	Time time.Duration
	// Runs repeats the whole plan, round by round, so slow drifts of the
	// machine touch every case alike; figures are then median, min, max.
	Runs int
	// Quantiles keeps the round-trip distributions (Result.Quantiles).
	Quantiles bool
	// Progress, if set, is called after each case of each round.
	Progress func(round int, c Case, m map[string]float64, err error)
}

// RunSuite runs every case of the plan opts.Runs times. A case that
// cannot run here (ErrUnavailable) is reported as skipped; any other
// failure stops the suite.
func RunSuite(p Plan, opts SuiteOptions) ([]Result, error) {
	cases := p.Cases()
	runs := max(opts.Runs, 1)
	values := make([]map[string][]float64, len(cases))
	samples := make([][]time.Duration, len(cases))
	skipped := make([]string, len(cases))
	for round := range runs {
		for i, c := range cases {
			if skipped[i] != "" {
				continue
			}
			m, s, err := Measure(c, opts.Time)
			if opts.Progress != nil {
				opts.Progress(round, c, m, err)
			}
			if errors.Is(err, ErrUnavailable) {
				skipped[i] = err.Error()
				continue
			}
			if err != nil {
				return nil, err
			}
			if values[i] == nil {
				values[i] = map[string][]float64{}
			}
			for k, v := range m {
				values[i][k] = append(values[i][k], v)
			}
			if opts.Quantiles {
				samples[i] = append(samples[i], s...)
			}
		}
	}
	out := make([]Result, len(cases))
	for i, c := range cases {
		r := Result{Name: c.Name(), Case: c, Skipped: skipped[i]}
		if skipped[i] == "" {
			r.Metrics = map[string]Stat{}
			for k, vs := range values[i] {
				r.Metrics[k] = NewStat(vs)
			}
			r.Quantiles = QuantileCurve(samples[i])
		}
		out[i] = r
	}
	return out, nil
}
