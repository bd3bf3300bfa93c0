package timeline_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/sim"
	"github.com/usertcp/usertcp/sim/timeline"
)

// TestNew_BadOptions: a host the run does not have and a window that
// ends before it starts are errors wrapping ErrBadOptions.
func TestNew_BadOptions(t *testing.T) {
	defer goleak.VerifyNone(t)
	res, err := handshakeAndClose().run()
	require.NoError(t, err)
	_, err = timeline.New(res, timeline.Options{Hosts: []string{"a", "c"}})
	assert.ErrorIs(t, err, timeline.ErrBadOptions)
	assert.ErrorContains(t, err, `no host "c" (its hosts: a b)`)
	_, err = timeline.New(res, timeline.Options{From: 10 * time.Millisecond, To: 5 * time.Millisecond})
	assert.ErrorIs(t, err, timeline.ErrBadOptions)
	_, err = timeline.New(res, timeline.Options{From: -time.Second})
	assert.ErrorIs(t, err, timeline.ErrBadOptions)
	_, err = timeline.New(nil, timeline.Options{})
	assert.ErrorIs(t, err, timeline.ErrBadOptions)
}

// fakeTB records what Repeat and Save tell a test.
type fakeTB struct {
	name        string
	logs, fatal []string
}

func (f *fakeTB) Helper()                      {}
func (f *fakeTB) Name() string                 { return f.name }
func (f *fakeTB) Logf(format string, a ...any) { f.logs = append(f.logs, fmt.Sprintf(format, a...)) }
func (f *fakeTB) Fatalf(format string, a ...any) {
	f.fatal = append(f.fatal, fmt.Sprintf(format, a...))
}

// TestRepeat_SavesTheFailingRun: a seed whose run fails gets its
// timeline written, SVG and text, named after the test and the seed, in
// the directory DirEnv names, and the paths logged; the error is
// returned as sim.Repeat returns it.
func TestRepeat_SavesTheFailingRun(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	t.Setenv(timeline.DirEnv, dir)
	sc := crashAndRestart()
	tb := &fakeTB{name: "TestX/sub case"}
	res, err := timeline.Repeat(tb, sc.opts, 2, sc.setup, timeline.Options{})
	require.Error(t, err)
	assert.ErrorContains(t, err, "no echo")
	assert.Empty(t, tb.fatal, "the runs agree")
	base := filepath.Join(dir, "TestX_sub_case-seed-5")
	svg, err := os.ReadFile(base + ".svg")
	require.NoError(t, err)
	parseSVG(t, svg)
	assert.Contains(t, string(svg), res.Hash)
	text, err := os.ReadFile(base + ".txt")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(text), "seed 5, trace "+res.Hash[:16]))
	require.Len(t, tb.logs, 1)
	assert.Contains(t, tb.logs[0], base+".svg")

	// A run that passes saves nothing.
	tb = &fakeTB{name: "TestY"}
	ok := handshakeAndClose()
	_, err = timeline.Repeat(tb, ok.opts, 2, ok.setup, timeline.Options{})
	require.NoError(t, err)
	assert.Empty(t, tb.logs)
	_, err = os.Stat(filepath.Join(dir, "TestY-seed-1.svg"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// TestRepeat_SavesDivergentRuns: when two runs of a seed differ (here a
// setup that sends later each time), the first run's timeline is saved
// and then the test fails with sim.Repeat's divergence report.
func TestRepeat_SavesDivergentRuns(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	t.Setenv(timeline.DirEnv, dir)
	sc := handshakeAndClose()
	runs := 0
	setup := func(s *sim.Sim) {
		runs++
		wait := time.Duration(runs) * time.Millisecond
		s.Go(s.B(), func(p *gentcp.Process) error {
			p.Sleep(wait)
			c, err := p.Connect("a", 7, time.Second)
			if err != nil {
				return err
			}
			return c.Close()
		})
	}
	tb := &fakeTB{name: "TestZ"}
	_, err := timeline.Repeat(tb, sc.opts, 2, setup, timeline.Options{})
	require.NoError(t, err)
	require.Len(t, tb.fatal, 1)
	assert.Contains(t, tb.fatal[0], "traces diverge")
	_, err = os.Stat(filepath.Join(dir, "TestZ-seed-1.svg"))
	assert.NoError(t, err)
}
