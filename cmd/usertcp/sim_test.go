package main

import (
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestDemoSimIsReproducible: demo --sim prints the same report for the
// same seed (all but the wall time) and a different one for another seed.
func TestDemoSimIsReproducible(t *testing.T) {
	defer goleak.VerifyNone(t)
	wall := regexp.MustCompile(`in \S+ of wall time`)
	demo := func(seed string) string {
		code, out, errs := runCLI(t, "demo", "--sim", "--seed", seed, "--bytes", "300000", "--pings", "10",
			"--loss", "0.03", "--reorder", "0.01", "--duplicate", "0.01", "--corrupt", "0.001")
		require.Equal(t, 0, code, errs)
		return wall.ReplaceAllString(out, "in X of wall time")
	}
	first := demo("5")
	for _, want := range []string{"handshake:", "round trip:", "match: every byte came back in order",
		"latency 1ms", "simulation:    seed 5:", "trace:"} {
		assert.Contains(t, first, want)
	}
	assert.Regexp(t, `wire a→b: .* [1-9][0-9]* dropped`, first)
	assert.Equal(t, first, demo("5"), "the same seed")
	assert.NotEqual(t, first, demo("6"), "another seed")
}

// TestDemoRackFlag: --rack turns on RACK-TLP in both stacks. On a link
// with much independent jitter (--jitter-reorders: frames overtake each
// other) the stacks without it take reordering for loss and retransmit;
// with it they retransmit far less. The simulation makes both runs exact.
func TestDemoRackFlag(t *testing.T) {
	defer goleak.VerifyNone(t)
	retrans := regexp.MustCompile(`retransmits:\s+server (\d+) of \d+ segments, client (\d+) of`)
	demo := func(extra ...string) (server, client int) {
		args := append([]string{"demo", "--sim", "--seed", "1", "--latency", "5ms", "--jitter", "2ms", "--jitter-reorders",
			"--bytes", "1000000", "--pings", "2"}, extra...)
		code, out, errs := runCLI(t, args...)
		require.Equal(t, 0, code, errs)
		assert.Contains(t, out, "match: every byte came back in order")
		assert.Regexp(t, `wire a→b: .*, 0 reordered, [1-9]\d* out of order`, out, "jitter's overtaking frames are counted as out of order")
		m := retrans.FindStringSubmatch(out)
		require.NotNil(t, m, out)
		server, _ = strconv.Atoi(m[1])
		client, _ = strconv.Atoi(m[2])
		return server, client
	}
	s, c := demo()
	sr, cr := demo("--rack")
	t.Logf("retransmissions without RACK: %d + %d, with: %d + %d", s, c, sr, cr)
	assert.Greater(t, s+c, 0, "without RACK, reordering passes for loss")
	assert.Less(t, sr+cr, s+c, "--rack retransmits less on a reordering link")
}

// TestDemoSimPidsDifferPerNode: in a failing --sim run's messages the
// server's and the client's processes have different pids, their node's
// number first, as Erlang's <Node.ID.Serial>.
func TestDemoSimPidsDifferPerNode(t *testing.T) {
	defer goleak.VerifyNone(t)
	code, _, errs := runCLI(t, "demo", "--sim", "--loss", "1", "--pings", "1", "--bytes", "10")
	require.Equal(t, 1, code, errs)
	assert.Contains(t, errs, "process client <1.1.0> failed")
	assert.Contains(t, errs, "nothing can wake server <0.1.0>")
}
