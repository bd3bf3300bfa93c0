package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// clientSections splits a demo --hosts report into its clients' sections,
// by name.
func clientSections(t *testing.T, out string) map[string]string {
	t.Helper()
	sections := map[string]string{}
	name := ""
	for _, line := range strings.Split(out, "\n") {
		if m := regexp.MustCompile(`^(client\d+):$`).FindStringSubmatch(line); m != nil {
			name = m[1]
			continue
		}
		if !strings.HasPrefix(line, "  ") {
			name = ""
		}
		if name != "" {
			sections[name] += line + "\n"
		}
	}
	return sections
}

// checkHostsReport: a report of demo --hosts 4 has a section for each of
// the three clients, each with its own echo that matched and its own
// traffic both ways, then the server's and the network's lines.
func checkHostsReport(t *testing.T, out string) {
	t.Helper()
	assert.Contains(t, out, `usertcp demo: stack "server" and 3 clients on an in-memory network`)
	sections := clientSections(t, out)
	require.Len(t, sections, 3, out)
	sums := map[string]bool{}
	for i, name := range []string{"client1", "client2", "client3"} {
		s := sections[name]
		require.NotEmpty(t, s, "no section for %s:\n%s", name, out)
		assert.Contains(t, s, name+" connected to 10.0.0.1:7")
		assert.Contains(t, s, "match: every byte came back in order", name)
		assert.Regexp(t, `round trip: +5 one-byte pings`, s)
		assert.Regexp(t, `wire out: +[1-9][0-9]* frames`, s)
		assert.Regexp(t, `wire in: +[1-9][0-9]* frames`, s)
		sum := regexp.MustCompile(`SHA-256 sent (\S+)`).FindStringSubmatch(s)
		require.NotNil(t, sum, s)
		sums[sum[1]] = true
		assert.Len(t, sums, i+1, "each client sends bytes of its own")
	}
	assert.Regexp(t, `(?m)^server: +retransmits \d+ of [1-9][0-9]* segments$`, out)
	assert.Regexp(t, `(?m)^network: +[1-9][0-9]* frames`, out)
}

// TestDemoHosts: demo --hosts 4 runs a server and three clients on one
// network in real time, and reports each client.
func TestDemoHosts(t *testing.T) {
	defer goleak.VerifyNone(t)
	code, out, errs := runCLI(t, "demo", "--hosts", "4", "--bytes", "300000", "--pings", "5")
	require.Equal(t, 0, code, errs)
	checkHostsReport(t, out)
	assert.Contains(t, out, ", 0 unroutable", "every frame had a port to go to")
}

// TestDemoHostsSim: demo --sim --hosts 4 on a lossy network reports each
// client, its frames dropped on the way, and the same report for the same
// seed.
func TestDemoHostsSim(t *testing.T) {
	defer goleak.VerifyNone(t)
	wall := regexp.MustCompile(`in \S+ of wall time`)
	demo := func(seed string) string {
		code, out, errs := runCLI(t, "demo", "--sim", "--hosts", "4", "--seed", seed, "--loss", "0.03", "--bytes", "300000", "--pings", "5")
		require.Equal(t, 0, code, errs)
		return wall.ReplaceAllString(out, "in X of wall time")
	}
	first := demo("3")
	checkHostsReport(t, first)
	assert.Regexp(t, `(?m)^network: .* [1-9][0-9]* dropped`, first)
	assert.Contains(t, first, "simulation:    seed 3:")
	assert.Equal(t, first, demo("3"), "the same seed")
}

// TestDemoHostsTwoIsTheLink: --hosts 2 is the demo of a link, as without
// the flag.
func TestDemoHostsTwoIsTheLink(t *testing.T) {
	defer goleak.VerifyNone(t)
	code, out, errs := runCLI(t, "demo", "--hosts", "2", "--sim", "--bytes", "1000", "--pings", "2")
	require.Equal(t, 0, code, errs)
	_, without, _ := runCLI(t, "demo", "--sim", "--bytes", "1000", "--pings", "2")
	wall := regexp.MustCompile(`in \S+ of wall time`)
	assert.Equal(t, wall.ReplaceAllString(without, ""), wall.ReplaceAllString(out, ""))
	assert.Contains(t, out, "on an in-memory link")
}
