package sim

import (
	"flag"
	"os"
	"testing"
)

// TestMain runs the package's tests with every pick verified against a
// poll of every task (scheduler.verify): a run whose scheduler misses a
// wake-up fails with it. Benchmarks run without, to measure what users get.
func TestMain(m *testing.M) {
	flag.Parse()
	verifyPicks = flag.Lookup("test.bench").Value.String() == ""
	os.Exit(m.Run())
}
