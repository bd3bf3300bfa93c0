package main

import (
	"regexp"
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
