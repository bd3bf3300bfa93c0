package bench_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/usertcp/usertcp/bench"
)

// TestEveryCaseRuns sets up every case, runs a few operations and checks
// the figures are there and that closing leaves no goroutine behind.
func TestEveryCaseRuns(t *testing.T) {
	defer goleak.VerifyNone(t)
	cases := []struct {
		c    bench.Case
		n    int
		want []string
	}{
		{bench.Case{Measurement: bench.Bulk, System: bench.Gentcp, MTU: 1500, Conns: 2, Dir: bench.Up}, 8, []string{bench.BytesPerSec}},
		{bench.Case{Measurement: bench.Bulk, System: bench.Gentcp, MTU: 65520, Conns: 1, Dir: bench.Down}, 8, []string{bench.BytesPerSec}},
		{bench.Case{Measurement: bench.Bulk, System: bench.Gonet, MTU: 1500, Conns: 2, Dir: bench.Down}, 8, []string{bench.BytesPerSec}},
		{bench.Case{Measurement: bench.Bulk, System: bench.Kernel, Conns: 2, Dir: bench.Up}, 8, []string{bench.BytesPerSec}},
		{bench.Case{Measurement: bench.LinkBulk, System: bench.Memlink, MTU: 9000}, 8, []string{bench.BytesPerSec}},
		{bench.Case{Measurement: bench.LinkBulk, System: bench.Pipe, MTU: 9000}, 8, []string{bench.BytesPerSec}},
		{bench.Case{Measurement: bench.RoundTrip, System: bench.Gentcp, MTU: 1500}, 50, []string{bench.P50, bench.P99, bench.Mean}},
		{bench.Case{Measurement: bench.RoundTrip, System: bench.Gonet, MTU: 1500}, 50, []string{bench.P50, bench.P99, bench.Mean}},
		{bench.Case{Measurement: bench.RoundTrip, System: bench.Kernel}, 50, []string{bench.P50, bench.P99, bench.Mean}},
		{bench.Case{Measurement: bench.ConnRate, System: bench.Gentcp, MTU: 1500}, 20, []string{bench.ConnsPerSec}},
		{bench.Case{Measurement: bench.ConnRate, System: bench.Gonet, MTU: 1500}, 20, []string{bench.ConnsPerSec}},
		{bench.Case{Measurement: bench.ConnRate, System: bench.Kernel}, 20, []string{bench.ConnsPerSec}},
		{bench.Case{Measurement: bench.MessageRate, System: bench.Gentcp, MTU: 1500, Mode: bench.ActiveOnce}, 500, []string{bench.MsgsPerSec}},
		{bench.Case{Measurement: bench.MessageRate, System: bench.Gentcp, MTU: 1500, Mode: bench.Passive}, 500, []string{bench.MsgsPerSec}},
		{bench.Case{Measurement: bench.MessageRate, System: bench.Gonet, MTU: 1500}, 500, []string{bench.MsgsPerSec}},
		{bench.Case{Measurement: bench.MessageRate, System: bench.Kernel}, 500, []string{bench.MsgsPerSec}},
	}
	for _, tc := range cases {
		t.Run(tc.c.Name(), func(t *testing.T) {
			s, err := bench.Start(tc.c)
			require.NoError(t, err)
			defer s.Close()
			require.NoError(t, s.Run(tc.n))
			require.NoError(t, s.Run(tc.n), "a session runs again")
			m := s.Metrics()
			for _, k := range tc.want {
				assert.Greater(t, m[k], 0.0, k)
			}
			require.NoError(t, s.Close())
		})
	}
}

func TestOTPCasesRun(t *testing.T) {
	if _, err := bench.EscriptPath(); err != nil {
		t.Skip(err)
	}
	defer goleak.VerifyNone(t)
	for _, c := range []bench.Case{
		{Measurement: bench.Bulk, System: bench.OTP, Conns: 2, Dir: bench.Down},
		{Measurement: bench.RoundTrip, System: bench.OTP},
		{Measurement: bench.ConnRate, System: bench.OTP},
		{Measurement: bench.MessageRate, System: bench.OTP, Mode: bench.ActiveOnce},
	} {
		t.Run(c.Name(), func(t *testing.T) {
			s, err := bench.Start(c)
			require.NoError(t, err)
			require.NoError(t, s.Run(10))
			assert.NotEmpty(t, s.Metrics())
			if c.Measurement == bench.RoundTrip {
				assert.Len(t, s.Samples(), 10)
			}
			require.NoError(t, s.Close())
		})
	}
}

func TestMeasureMemory(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, c := range []bench.Case{
		{Measurement: bench.IdleMemory, System: bench.Gentcp, MTU: 1500, Conns: 200, Mode: bench.Passive},
		{Measurement: bench.IdleMemory, System: bench.Gentcp, MTU: 1500, Conns: 200, Mode: bench.ActiveTrue},
		{Measurement: bench.IdleMemory, System: bench.Gonet, MTU: 1500, Conns: 200},
		{Measurement: bench.IdleMemory, System: bench.Kernel, Conns: 200},
	} {
		t.Run(c.Name(), func(t *testing.T) {
			m, err := bench.MeasureMemory(c)
			require.NoError(t, err)
			assert.Greater(t, m[bench.BytesPerCon], 0.0)
			assert.Equal(t, 200.0, m[bench.IdleConns])
		})
	}
}

func TestMeasureForADuration(t *testing.T) {
	defer goleak.VerifyNone(t)
	start := time.Now()
	m, samples, err := bench.Measure(bench.Case{Measurement: bench.RoundTrip, System: bench.Kernel}, 100*time.Millisecond)
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Greater(t, m[bench.P99], 0.0)
	assert.GreaterOrEqual(t, m[bench.P99], m[bench.P50])
	assert.NotEmpty(t, samples)
}

func TestBadCases(t *testing.T) {
	for _, c := range []bench.Case{
		{Measurement: "nope", System: bench.Gentcp, MTU: 1500},
		{Measurement: bench.Bulk, System: bench.Gentcp, MTU: 100, Dir: bench.Up},
		{Measurement: bench.Bulk, System: bench.Gentcp, MTU: 1500, Dir: "sideways"},
		{Measurement: bench.Bulk, System: "nope", MTU: 1500, Dir: bench.Up},
	} {
		_, err := bench.Start(c)
		assert.Error(t, err, c.Name())
	}
	_, err := bench.MeasureMemory(bench.Case{Measurement: bench.IdleMemory, System: bench.OTP, Conns: 10})
	assert.True(t, errors.Is(err, bench.ErrUnavailable), "got %v", err)
}

func TestQuantiles(t *testing.T) {
	var s []time.Duration
	for i := 100; i >= 1; i-- {
		s = append(s, time.Duration(i))
	}
	assert.Equal(t, []time.Duration{1, 50, 99, 100}, bench.Quantiles(s, 0, 0.5, 0.99, 1))
	assert.Equal(t, time.Duration(100), s[0], "the input is not sorted in place")
	assert.Equal(t, []time.Duration{0}, bench.Quantiles(nil, 0.5))
}

func ExampleCase_Name() {
	fmt.Println(bench.Case{Measurement: bench.Bulk, System: bench.Gentcp, MTU: 1500, Conns: 8, Dir: bench.Up}.Name())
	fmt.Println(bench.Case{Measurement: bench.MessageRate, System: bench.OTP, Mode: bench.ActiveOnce}.Name())
	// Output:
	// bulk/conns=8/dir=up/gentcp/mtu=1500
	// msgrate/otp-once
}
