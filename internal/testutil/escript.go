package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// Escript returns the path of escript, for the tests that compare with real
// OTP. Without it the test is skipped with a line saying why (what needs
// it, and apt-get install erlang-base), unless the environment variable CI
// is set: CI installs erlang-base, so there a missing escript fails the
// test rather than letting the comparison silently not run.
func Escript(t testing.TB, what string) string {
	t.Helper()
	p, err := exec.LookPath("escript")
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("CI must run %s: escript not found (apt-get install erlang-base)", what)
	}
	t.Skipf("escript not found: install erlang-base to run %s", what)
	return ""
}
