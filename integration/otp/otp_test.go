package otp_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usertcp/usertcp/internal/testutil"
	"go.uber.org/goleak"
)

// golden reads expected.txt: the lines real erl printed for every
// scenario (see README.md for how it was made). It keeps erl's order.
func golden(t *testing.T) (names []string, lines map[string]string) {
	t.Helper()
	data, err := os.ReadFile("expected.txt")
	if err != nil {
		t.Fatalf("expected.txt: %v", err)
	}
	return parseLines(t, data)
}

func parseLines(t *testing.T, data []byte) (names []string, lines map[string]string) {
	lines = map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, term, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		names = append(names, name)
		lines[name] = term
	}
	return names, lines
}

// goResults runs each ported scenario once per test binary, so both tests
// below compare the same gentcp run.
var (
	goOnce    sync.Once
	goResults = map[string]string{}
	goMu      sync.Mutex
)

func runGo(t *testing.T, name string) string {
	goMu.Lock()
	if r, ok := goResults[name]; ok {
		goMu.Unlock()
		return r
	}
	goMu.Unlock()
	f := scenarios[name]
	h := newH(t)
	res := func() (out any) {
		defer h.close()
		return f(h)
	}()
	h.Pair.Close()
	r := Format(res)
	goMu.Lock()
	goResults[name] = r
	goMu.Unlock()
	return r
}

// TestScenarios runs every scenario on gentcp over memlink and compares
// its line with the one real erl printed (expected.txt). Each subtest is
// named after its scenario, which is named after the reference's row.
func TestScenarios(t *testing.T) {
	names, want := golden(t)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			if why, ok := notApplicable[name]; ok {
				t.Skipf("not expressible in Go: %s", why)
			}
			if _, ok := scenarios[name]; !ok {
				t.Fatalf("scenario %s is not ported to Go", name)
			}
			defer goleak.VerifyNone(t)
			got := runGo(t, name)
			if got != want[name] {
				t.Errorf("%s:\n  erl:    %s\n  gentcp: %s", name, want[name], got)
			}
		})
	}
}

// TestDifferentialOTP runs the scenarios on real erl over kernel loopback
// now, and compares erl's lines with gentcp's one by one. It needs erl
// (apt-get install erlang-base); CI installs it.
func TestDifferentialOTP(t *testing.T) {
	escript := testutil.Escript(t, "the differential test against real erl")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, escript, "scenarios.erl", "all").Output()
	if err != nil {
		t.Fatalf("escript scenarios.erl all: %v", err)
	}
	names, live := parseLines(t, out)
	_, gold := golden(t)
	if len(names) < 50 {
		t.Fatalf("erl printed only %d scenario lines", len(names))
	}
	mismatches := 0
	for _, name := range names {
		if gold[name] != live[name] {
			t.Logf("%s: this erl differs from expected.txt:\n  now:  %s\n  then: %s", name, live[name], gold[name])
		}
		if _, ok := notApplicable[name]; ok {
			continue
		}
		if _, ok := scenarios[name]; !ok {
			t.Errorf("%s: not ported to Go", name)
			continue
		}
		got := runGo(t, name)
		if got != live[name] {
			mismatches++
			t.Errorf("%s:\n  erl:    %s\n  gentcp: %s", name, live[name], got)
		}
	}
	t.Logf("%d scenarios compared with erl, %d differ", len(names)-len(notApplicable), mismatches)
}
