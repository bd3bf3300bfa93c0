package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/usertcp/usertcp/config"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/link/pcap"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestDemoReport(t *testing.T) {
	defer goleak.VerifyNone(t)
	code, out, errs := runCLI(t, "demo", "--bytes", "1000000", "--pings", "20")
	require.Equal(t, 0, code, errs)
	for _, want := range []string{"handshake:", "round trip:", "bulk echo:", "match: every byte came back in order", "retransmits:", "wire a→b:"} {
		assert.Contains(t, out, want)
	}
}

func TestDemoWithFaults(t *testing.T) {
	defer goleak.VerifyNone(t)
	code, out, errs := runCLI(t, "demo", "--bytes", "500000", "--pings", "5", "--loss", "0.05", "--duplicate", "0.01", "--reorder", "0.01", "--corrupt", "0.001", "--latency", "1ms", "--seed", "3")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "match: every byte came back in order")
	assert.Regexp(t, `wire a→b: .* [1-9][0-9]* dropped`, out)
}

// TestDemoPcap checks the capture by parsing it, and with tcpdump where
// it is installed.
func TestDemoPcap(t *testing.T) {
	defer goleak.VerifyNone(t)
	file := filepath.Join(t.TempDir(), "x.pcap")
	code, out, errs := runCLI(t, "demo", "--bytes", "100000", "--pings", "3", "--pcap", file)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, file)
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	recs, lt, err := pcap.ReadFile(f)
	require.NoError(t, err)
	assert.Equal(t, pcap.LinkTypeRaw, lt)
	require.Greater(t, len(recs), 10)
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Logf("tcpdump not installed (apt-get install tcpdump): checked the file by parsing only")
		return
	}
	listing, err := exec.Command(tcpdump, "-nn", "-r", file).Output()
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(listing)), "\n")
	assert.Len(t, lines, len(recs), "tcpdump lists one line per frame")
	assert.Contains(t, lines[0], "10.0.0.2")
	assert.Contains(t, lines[0], "Flags [S]", "the capture starts with the client's SYN")
}

func TestBadConfigNamesFileLineKey(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]struct{ body, want string }{
		"unknown key":     {"[link]\nkind = \"memlink\"\nmtuu = 1500\n", ":3: link.mtuu"},
		"bad address":     {"[[stack]]\nname = \"a\"\nend = \"a\"\naddresses = [\"10.0.0.300/24\"]\n", ":4: stack[0].addresses[0]"},
		"bad option term": {"[[stack]]\nname = \"a\"\nend = \"a\"\n[sockets]\nconnect_options = \"[binary, {packet, 3}]\"\n", ":5: sockets.connect_options"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".toml")
			require.NoError(t, os.WriteFile(file, []byte(tc.body), 0o644))
			code, _, errs := runCLI(t, "demo", "--config", file)
			assert.Equal(t, 1, code)
			assert.Contains(t, errs, file+tc.want)
		})
	}
}

func TestExampleConfigRunsTheDemo(t *testing.T) {
	defer goleak.VerifyNone(t)
	code, out, errs := runCLI(t, "demo", "--config", "../../config/example.toml", "--bytes", "200000", "--pings", "5")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "match: every byte came back in order")
}

// TestHelpGoesToStdout: --help prints to stdout (so that it can be paged)
// and exits 0, for usertcp and each command; stderr stays empty.
func TestHelpGoesToStdout(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"demo", "--help"}, {"serve", "--help"}, {"connect", "-h"}, {"bench", "--help"}, {"version", "--help"}} {
		code, out, errs := runCLI(t, args...)
		assert.Equal(t, 0, code, "%v", args)
		assert.Empty(t, errs, "%v writes nothing to stderr", args)
		assert.Contains(t, out, "Usage: usertcp", "%v", args)
	}
	_, out, _ := runCLI(t, "demo", "--help")
	assert.Contains(t, out, "-loss", "the flags follow the text")
	_, out, _ = runCLI(t, "version", "--help")
	assert.Contains(t, out, "VCS revision", "version has a help of its own")
	code, _, errs := runCLI(t)
	assert.Equal(t, 2, code, "no command is a usage error")
	assert.Contains(t, errs, "demo")
}

// TestUsageErrors: every bad command line, whether the flag package or the
// command refuses it, prints one line and a pointer to --help on stderr,
// nothing on stdout, and exits 2.
func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"demo", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"demo", "--loss", "abc"}, `invalid value "abc" for flag -loss: want a number`},
		{[]string{"demo", "--loss", "2"}, "probability"},
		{[]string{"demo", "--latency", "-1s"}, `invalid value "-1s" for flag -latency: must not be negative`},
		{[]string{"demo", "--seed", "abc"}, `invalid value "abc" for flag -seed: want an integer`},
		{[]string{"demo", "--port", "70000"}, "--port 70000: want 1..65535"},
		{[]string{"demo", "--mtu", "10"}, "--mtu: 10 is outside 576..65520"},
		{[]string{"demo", "--mtu", "-1"}, "--mtu: -1 is outside"},
		{[]string{"demo", "extra"}, `unexpected argument "extra"`},
		{[]string{"demo", "--hosts", "1"}, "--hosts 1: want 2..1000 (a server and at least one client)"},
		{[]string{"demo", "--hosts", "0", "--sim"}, "--hosts 0: want 2..1000"},
		{[]string{"demo", "--hosts", "1001"}, "--hosts 1001: want 2..1000"},
		{[]string{"demo", "--hosts", "x"}, `invalid value "x" for flag -hosts`},
		{[]string{"serve", "--echo", "x"}, `invalid value "x" for flag -echo`},
		{[]string{"connect", "server"}, "want HOST PORT"},
		{[]string{"connect", "--mtu", "1000", "server", "7"}, "less than IPv6's minimum"},
		{[]string{"bench", "--runs", "x"}, `invalid value "x" for flag -runs`},
		{[]string{"version", "extra"}, `unexpected argument "extra"`},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, out, errs := runCLI(t, c.args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, out)
			lines := strings.Split(strings.TrimSuffix(errs, "\n"), "\n")
			require.Len(t, lines, 2, "one line and the pointer: %q", errs)
			assert.Contains(t, lines[0], c.want)
			assert.Regexp(t, `^Run 'usertcp( [a-z]+)? --help' for usage\.$`, lines[1])
		})
	}
}

// TestMTUFlagFollowsTheConfigRule: demo --mtu is refused where the same
// MTU in a config file is, with the same message.
func TestMTUFlagFollowsTheConfigRule(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mtu.toml")
	body, err := os.ReadFile("../../config/default.toml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, []byte(regexp.MustCompile(`(?m)^mtu = \d+`).ReplaceAllString(string(body), "mtu = 1000")), 0o644))
	code, _, fileErr := runCLI(t, "demo", "--config", file)
	require.Equal(t, 1, code, fileErr)
	code, _, flagErr := runCLI(t, "demo", "--mtu", "1000")
	require.Equal(t, 2, code, flagErr)
	const msg = `1000 is less than IPv6's minimum of 1280, and stack "server" has fd00:75::1/64`
	assert.Contains(t, fileErr, "link.mtu: "+msg)
	assert.Contains(t, flagErr, "--mtu: "+msg)
}

// TestMemlinkMTUFloor: config's MinMTUMemlink is memlink's own floor.
func TestMemlinkMTUFloor(t *testing.T) {
	a, b, err := memlink.New(memlink.Options{MTU: config.MinMTUMemlink})
	require.NoError(t, err)
	a.Close()
	b.Close()
	_, _, err = memlink.New(memlink.Options{MTU: config.MinMTUMemlink - 1})
	assert.Error(t, err, "memlink takes less than config.MinMTUMemlink: the config rule refuses MTUs that work")
}

// TestVersion: usertcp version and --version print the versions a bug
// report needs.
func TestVersion(t *testing.T) {
	code, out, errs := runCLI(t, "version")
	require.Equal(t, 0, code, errs)
	code, out2, _ := runCLI(t, "--version")
	require.Equal(t, 0, code)
	assert.Equal(t, out, out2)
	mod, err := os.ReadFile("../../go.mod")
	require.NoError(t, err)
	gvisor := regexp.MustCompile(`(?m)^\s*gvisor\.dev/gvisor (\S+)`).FindSubmatch(mod)
	require.NotNil(t, gvisor, "go.mod requires gVisor")
	for _, want := range []string{"usertcp dev\n", "module:", "revision:", "go:       " + runtime.Version(), "gvisor:   gvisor.dev/gvisor " + string(gvisor[1])} {
		assert.Contains(t, out, want)
	}
}

// TestWriteVersion: the module version and VCS revision come from the
// build information, as go build stamps it.
func TestWriteVersion(t *testing.T) {
	var b bytes.Buffer
	writeVersion(&b, &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/usertcp/usertcp", Version: "v1.2.3"},
		Deps: []*debug.Module{{Path: "gvisor.dev/gvisor", Version: "v0.0.0-20260905035102-160fafc42237"}},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef"},
			{Key: "vcs.time", Value: "2026-12-07T01:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	})
	assert.Contains(t, b.String(), "module:   github.com/usertcp/usertcp v1.2.3\n")
	assert.Contains(t, b.String(), "revision: 0123456789abcdef (2026-12-07T01:00:00Z), modified\n")
	assert.Contains(t, b.String(), "gvisor:   gvisor.dev/gvisor v0.0.0-20260905035102-160fafc42237\n")
	b.Reset()
	writeVersion(&b, nil)
	assert.Contains(t, b.String(), "module:   unknown")
}

// TestExampleConfigCommandLine runs the command line that
// config/example.toml gives for itself.
func TestExampleConfigCommandLine(t *testing.T) {
	defer goleak.VerifyNone(t)
	body, err := os.ReadFile("../../config/example.toml")
	require.NoError(t, err)
	m := regexp.MustCompile("`usertcp ([^`]+)`").FindSubmatch(body)
	require.NotNil(t, m, "example.toml says how to load it")
	args := strings.Fields(strings.ReplaceAll(string(m[1]), "config/example.toml", "../../config/example.toml"))
	code, out, errs := runCLI(t, append(args, "--bytes", "100000", "--pings", "2")...)
	require.Equal(t, 0, code, "usertcp %s: %s", m[1], errs)
	assert.Contains(t, out, "match: every byte came back in order")
}

// TestDemoUnitsBySize: a small echo reports its time and rate in units
// that fit, not "in 0s" and "(0.00 Gbit/s)".
func TestDemoUnitsBySize(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, args := range [][]string{{"demo", "--bytes", "1000", "--pings", "1"}, {"demo", "--sim", "--bytes", "1000", "--pings", "1", "--rate", "10kbit"}} {
		code, out, errs := runCLI(t, args...)
		require.Equal(t, 0, code, errs)
		assert.NotContains(t, out, " in 0s")
		assert.NotContains(t, out, "0.00 ")
		assert.Regexp(t, `echoed back in [1-9][0-9.]*(ns|µs|ms|s): .* \([1-9][0-9.]* [kMG]?bit/s\)`, out, "%v", args)
	}
}

func TestRoundDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		412 * time.Nanosecond:                  "412ns",
		123456 * time.Nanosecond:               "123µs",
		1234567 * time.Nanosecond:              "1.23ms",
		1234567891 * time.Nanosecond:           "1.23s",
		83*time.Minute + 1234*time.Millisecond: "1h23m1s",
	} {
		assert.Equal(t, want, roundDuration(d).String())
	}
}

func TestPlural(t *testing.T) {
	assert.Equal(t, "0 connections", plural(0, "connection"))
	assert.Equal(t, "1 connection", plural(1, "connection"))
	assert.Equal(t, "4 connections", plural(4, "connection"))
}

// TestNetnsPathAdvice: --netns given a path that is no namespace file
// says so, instead of suggesting ip netns add ./ns.
func TestNetnsPathAdvice(t *testing.T) {
	code, _, errs := runCLI(t, "connect", "--tap", "utapx0", "--netns", "./no-such-ns", "kernel", "7")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "./no-such-ns is not a network namespace file")
	assert.NotContains(t, errs, "ip netns add")
}
