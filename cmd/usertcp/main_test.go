package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

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

func TestHelpAndUsage(t *testing.T) {
	code, _, errs := runCLI(t, "demo", "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, errs, "-loss")
	code, _, errs = runCLI(t)
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, "demo")
	code, _, errs = runCLI(t, "nope")
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, `unknown command "nope"`)
	code, _, errs = runCLI(t, "demo", "--loss", "2")
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, "probability")
}
