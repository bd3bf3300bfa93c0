package timeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/usertcp/usertcp/sim"
)

// WriteFile writes res's timeline to path: an SVG if the name ends in
// .svg, the text diagram otherwise.
func WriteFile(path string, res *sim.Result, opts Options) error {
	tl, err := New(res, opts)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if strings.HasSuffix(path, ".svg") {
		err = tl.WriteSVG(f)
	} else {
		err = tl.WriteText(f)
	}
	return errors.Join(err, f.Close())
}

// DirEnv names the environment variable that says where Save and Repeat
// put timelines; without it they go to usertcp-timelines in the system's
// temporary directory.
const DirEnv = "USERTCP_TIMELINE_DIR"

// TB is the part of testing.TB that Save and Repeat use.
type TB interface {
	sim.TB
	Name() string // the test's name, as testing.TB.Name; names the files
}

// Save writes res's timeline as an SVG and as text, named after the test
// and the seed (TestX-seed-7.svg, .txt), to the directory DirEnv names,
// and logs the paths. Call it when a simulated test fails:
//
//	res, err := sim.Run(opts, setup)
//	if err != nil {
//		timeline.Save(t, res, timeline.Options{})
//		t.Fatal(err)
//	}
//
// It returns the SVG's path; a timeline it cannot write is logged, not a
// failure of its own.
func Save(tb TB, res *sim.Result, opts Options) string {
	tb.Helper()
	if res == nil {
		return ""
	}
	dir := os.Getenv(DirEnv)
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "usertcp-timelines")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Logf("timeline: %v", err)
		return ""
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(tb.Name())
	base := filepath.Join(dir, fmt.Sprintf("%s-seed-%d", name, res.Seed))
	for _, ext := range []string{".svg", ".txt"} {
		if err := WriteFile(base+ext, res, opts); err != nil {
			tb.Logf("timeline: %v", err)
			return ""
		}
	}
	tb.Logf("timeline of seed %d: %s.svg (text: %s.txt)", res.Seed, base, base)
	return base + ".svg"
}

// Repeat is sim.Repeat that saves the first run's timeline (Save) when
// the runs diverge or the first run fails, before it fails tb with
// Repeat's message or returns the error.
func Repeat(tb TB, opts sim.Options, n int, setup func(s *sim.Sim), topts Options) (*sim.Result, error) {
	tb.Helper()
	rec := &fatalRecorder{TB: tb}
	res, err := sim.Repeat(rec, opts, n, setup)
	if len(rec.fatal) > 0 || err != nil {
		Save(tb, res, topts)
	}
	if len(rec.fatal) > 0 {
		tb.Fatalf("%s", strings.Join(rec.fatal, "\n"))
	}
	return res, err
}

// fatalRecorder keeps sim.Repeat's failures until the timeline is saved.
type fatalRecorder struct {
	TB
	fatal []string
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.fatal = append(r.fatal, fmt.Sprintf(format, args...))
}
