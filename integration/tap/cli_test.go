package tap_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/usertcp/usertcp/link/tap/taptest"
)

// The usertcp command itself, built once per run: serve and connect as a
// person runs them, signals included.

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// usertcp returns the path of a freshly built usertcp binary.
func usertcp(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		script, err := taptest.Script()
		if err != nil {
			buildErr = err
			return
		}
		root := filepath.Dir(filepath.Dir(script))
		binary = filepath.Join(binDir, "usertcp")
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", binary, "./cmd/usertcp")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New("go build ./cmd/usertcp: " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// cli runs usertcp with stdin and returns its exit code and output.
func cli(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, usertcp(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("usertcp %s: %v", strings.Join(args, " "), err)
	}
	return code, out.String(), errb.String()
}

// TestCLIMemlink needs no privileges: on the default memlink setup,
// connect runs serve's services on stack "server" in its own process.
func TestCLIMemlink(t *testing.T) {
	leakCheck(t)
	code, out, errs := cli(t, "hello over memlink\n", "connect", "server", "7")
	if code != 0 || out != "hello over memlink\n" {
		t.Errorf("echo | usertcp connect server 7 = %d, %q (stderr %q); want 0 and the echo", code, out, errs)
	}
	code, out, errs = cli(t, "GET /bytes/5 HTTP/1.0\r\n\r\n", "connect", "server", "80")
	if code != 0 || !strings.HasPrefix(out, "HTTP/1.0 200 OK") || !strings.HasSuffix(out, "\x00\x01\x02\x03\x04") {
		t.Errorf("HTTP through usertcp connect = %d, %q (stderr %q)", code, out, errs)
	}
	code, out, _ = cli(t, "to the discard service", "connect", "server", "9")
	if code != 0 || out != "" {
		t.Errorf("usertcp connect server 9 = %d, %q; want 0 and nothing back", code, out)
	}
	code, _, errs = cli(t, "", "connect", "--echo", "0", "server", "7")
	if code != 1 || !strings.Contains(errs, "econnrefused") {
		t.Errorf("connect to a port nobody serves = %d, %q; want 1 and econnrefused", code, errs)
	}
}

func TestCLIHelpAndUsage(t *testing.T) {
	leakCheck(t)
	_, out, _ := cli(t, "", "--help")
	for _, want := range []string{"serve", "connect", "demo"} {
		if !strings.Contains(out, want) {
			t.Errorf("usertcp --help lacks %q:\n%s", want, out)
		}
	}
	for cmd, wants := range map[string][]string{
		"serve":   {"--tap NAME", "-netns", "-echo", "-discard", "-http", "Ctrl-C", "curl"},
		"connect": {"HOST PORT", "half-close", "nc -N", "-tap", "-from"},
	} {
		code, out, _ := cli(t, "", cmd, "--help")
		if code != 0 {
			t.Errorf("usertcp %s --help = %d, want 0", cmd, code)
		}
		for _, want := range wants {
			if !strings.Contains(out, want) {
				t.Errorf("usertcp %s --help lacks %q:\n%s", cmd, want, out)
			}
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve"}, "serve needs a TAP link"},
		{[]string{"serve", "--tap", "x", "--echo", "9"}, "both port 9"},
		{[]string{"connect", "server"}, "want HOST PORT"},
		{[]string{"connect", "--netns", "x", "server", "7"}, "--netns is for TAP links"},
		{[]string{"connect", "--from", "nobody", "server", "7"}, "no such stack"},
	} {
		code, _, errs := cli(t, "", c.args...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("usertcp %s = %d, %q; want 2 and %q", strings.Join(c.args, " "), code, errs, c.want)
		}
	}
}

// daemon is a running usertcp serve.
type daemon struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr bytes.Buffer
}

// startServe runs usertcp serve (through prefix, e.g. ip netns exec) and
// waits until it says it is ready; it is killed when the test ends if it
// still runs.
func startServe(t *testing.T, prefix []string, args ...string) *daemon {
	t.Helper()
	argv := append(append(prefix, usertcp(t), "serve"), args...)
	d := &daemon{cmd: exec.Command(argv[0], argv[1:]...), lines: make(chan string, 100)}
	d.cmd.Stderr = &d.stderr
	out, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start(t, d.cmd)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			d.lines <- s.Text()
		}
		close(d.lines)
	}()
	var banner []string
	timeout := time.After(ioTimeout)
	for {
		select {
		case line, ok := <-d.lines:
			if !ok {
				d.cmd.Wait()
				t.Fatalf("usertcp serve exited: %s\n%s", strings.Join(banner, "\n"), d.stderr.String())
			}
			banner = append(banner, line)
			if strings.HasPrefix(line, "ready") {
				t.Logf("usertcp serve:\n%s", strings.Join(banner, "\n"))
				return d
			}
		case <-timeout:
			t.Fatalf("usertcp serve not ready: %s\n%s", strings.Join(banner, "\n"), d.stderr.String())
		}
	}
}

// stop sends sig and checks a clean exit; it returns the last lines.
func (d *daemon) stop(t *testing.T, sig os.Signal) string {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for line := range d.lines {
		rest = append(rest, line)
	}
	if err := d.cmd.Wait(); err != nil {
		t.Errorf("usertcp serve after %v: %v\n%s", sig, err, d.stderr.String())
	}
	return strings.Join(rest, "\n")
}

// TestCLIServe runs usertcp serve as the README does, inside the
// namespace on its persistent device, and uses every service with the
// kernel's tools; then Ctrl-C.
func TestCLIServe(t *testing.T) {
	leakCheck(t)
	ns := taptest.NewNamespace(t, 0)
	curl := taptest.RequireCommand(t, "curl", "curl")
	nc := taptest.RequireCommand(t, "nc", "netcat-openbsd")
	d := startServe(t, []string{"ip", "netns", "exec", ns.Name}, "--tap", ns.Tap)
	l := &testLink{ns: ns}

	if out := run(t, l, nil, curl, "-sS", "--fail", "http://10.77.0.2/"); !strings.Contains(string(out), "Hello from usertcp") {
		t.Errorf("curl / = %q", out)
	}
	if out := run(t, l, nil, curl, "-sS", "--fail", "-g", "http://[fd77:75::2]/bytes/1000000"); len(out) != 1000000 || out[999999] != byte(999999%251) {
		t.Errorf("curl /bytes/1000000 over IPv6 = %d bytes", len(out))
	}
	data := randomBytes(256 << 10)
	if out := run(t, l, data, nc, "-N", "-w", "30", "10.77.0.2", "7"); !bytes.Equal(out, data) {
		t.Errorf("nc to echo: %d bytes back, want the %d sent", len(out), len(data))
	}
	if out := run(t, l, data, nc, "-N", "-w", "30", "fd77:75::2", "9"); len(out) != 0 {
		t.Errorf("nc to discard: %d bytes back, want none", len(out))
	}
	// A second usertcp on the same device is refused, with advice.
	code, _, errs := cli(t, "", "connect", "--tap", ns.Tap, "--netns", ns.Name, "kernel", "9")
	if code != 1 || !strings.Contains(errs, "another process has this TAP device open") {
		t.Errorf("connect on a busy device = %d, %q; want 1 and the busy advice", code, errs)
	}

	rest := d.stop(t, os.Interrupt)
	if !strings.Contains(rest, "stopped after 4 connections") {
		t.Errorf("after Ctrl-C usertcp serve said %q; want it stopped after 4 connections", rest)
	}
	if _, err := ns.IP("link", "show", "dev", ns.Tap); err != nil {
		t.Errorf("the persistent device is gone after serve stopped: %v", err)
	}
}

// TestCLIServeCreates lets usertcp serve create its device, from outside
// the namespace (--netns), with the kernel side from a config file; on
// SIGTERM it removes the device.
func TestCLIServeCreates(t *testing.T) {
	leakCheck(t)
	ns := taptest.NewNamespace(t, 0)
	curl := taptest.RequireCommand(t, "curl", "curl")
	cfg := filepath.Join(t.TempDir(), "tap.toml")
	err := os.WriteFile(cfg, []byte(`
[link]
kind = "tap"
name = "made9"
mtu = 9000
kernel_addresses = ["10.77.9.1/30", "fd77:75:9::1/64"]

[[stack]]
name = "svc"
end = "tap"
addresses = ["10.77.9.2/30", "fd77:75:9::2/64"]
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	d := startServe(t, nil, "--config", cfg, "--netns", ns.Name, "--http", "8080", "--echo", "0", "--discard", "0")
	out, err := ns.IP("addr", "show", "dev", "made9")
	if err != nil || !strings.Contains(out, "mtu 9000") || !strings.Contains(out, "10.77.9.1/30") || !strings.Contains(out, "fd77:75:9::1/64") {
		t.Errorf("the created device: %v\n%s", err, out)
	}
	l := &testLink{ns: ns}
	body := run(t, l, nil, curl, "-sS", "--fail", "http://10.77.9.2:8080/bytes/3000000")
	if len(body) != 3000000 {
		t.Errorf("curl /bytes/3000000 = %d bytes", len(body))
	}
	rest := d.stop(t, syscall.SIGTERM)
	if !strings.Contains(rest, "TAP made9 removed") {
		t.Errorf("after SIGTERM usertcp serve said %q; want it to report the device removed", rest)
	}
	if _, err := ns.IP("link", "show", "dev", "made9"); err == nil {
		t.Errorf("made9 still exists after serve stopped")
	}
}

// TestCLIConnect: usertcp connect over TAP to nc listening on the kernel
// side; each sends, half-closes, and reads the other.
func TestCLIConnect(t *testing.T) {
	leakCheck(t)
	ns := taptest.NewNamespace(t, 0)
	nc := taptest.RequireCommand(t, "nc", "netcat-openbsd")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	server := ns.Command(ctx, nc, "-N", "-l", "7000")
	server.Stdin = strings.NewReader("hello from nc\n")
	var got bytes.Buffer
	server.Stdout = &got
	start(t, server)
	var code int
	var out, errs string
	for range 100 {
		code, out, errs = cli(t, "hello from usertcp connect\n", "connect", "--tap", ns.Tap, "--netns", ns.Name, "kernel", "7000")
		if !strings.Contains(errs, "econnrefused") {
			break
		}
		time.Sleep(20 * time.Millisecond) // nc is still starting
	}
	if code != 0 || out != "hello from nc\n" {
		t.Errorf("usertcp connect = %d, %q (stderr %q); want 0 and nc's line", code, out, errs)
	}
	if err := server.Wait(); err != nil {
		t.Errorf("nc -l: %v", err)
	}
	if got.String() != "hello from usertcp connect\n" {
		t.Errorf("nc received %q", got.String())
	}
}

// TestCLIConnectHelpExample runs the TAP example of connect --help as it
// is written, next to a tapns.sh namespace (the test's own, for the
// example's "usertcp" and "usertcp0"): nc listens on the kernel side and
// gets the line. Then the trap the example once fell into: a second
// device created with the same subnet is refused with a reason, and not
// left behind.
func TestCLIConnectHelpExample(t *testing.T) {
	leakCheck(t)
	ns := taptest.NewNamespace(t, 0)
	nc := taptest.RequireCommand(t, "nc", "netcat-openbsd")
	_, help, _ := cli(t, "", "connect", "--help")
	var ncLine, connectLine []string
	var stdin string
	for _, line := range strings.Split(help, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 5 && strings.Join(f[:5], " ") == "sudo ip netns exec usertcp" && f[5] == "nc":
			ncLine = f[1:]
		case len(f) > 4 && f[0] == "echo" && strings.Contains(line, "| sudo usertcp connect"):
			i := slices.Index(f, "|")
			stdin = strings.Join(f[1:i], " ") + "\n"
			connectLine = f[i+3:]
		}
	}
	if ncLine == nil || connectLine == nil || !strings.Contains(help, "sudo scripts/tapns.sh up\n") {
		t.Fatalf("connect --help has no TAP example of tapns.sh up, nc -l and connect:\n%s", help)
	}
	// The example's names are tapns.sh's defaults; the test's namespace
	// has its own.
	ncLine[3], ncLine[4] = ns.Name, nc
	ncLine = slices.DeleteFunc(ncLine, func(s string) bool { return s == "&" })
	for i := 1; i < len(connectLine); i++ {
		switch connectLine[i-1] {
		case "--netns":
			connectLine[i] = ns.Name
		case "--tap":
			if connectLine[i] != "usertcp0" {
				t.Errorf("the example connects through %s, not tapns.sh's usertcp0", connectLine[i])
			}
			connectLine[i] = ns.Tap
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	server := exec.CommandContext(ctx, ncLine[0], ncLine[1:]...)
	var got bytes.Buffer
	server.Stdout = &got
	start(t, server)
	var code int
	var out, errs string
	for range 100 {
		code, out, errs = cli(t, stdin, connectLine...)
		if !strings.Contains(errs, "econnrefused") {
			break
		}
		time.Sleep(20 * time.Millisecond) // nc is still starting
	}
	if code != 0 {
		t.Errorf("usertcp %s = %d, %q (stderr %q); want 0", strings.Join(connectLine, " "), code, out, errs)
	}
	if err := server.Wait(); err != nil {
		t.Errorf("%s: %v", strings.Join(ncLine, " "), err)
	}
	if got.String() != stdin {
		t.Errorf("nc received %q, want %q", got.String(), stdin)
	}

	code, _, errs = cli(t, "", "connect", "--tap", "clash1", "--netns", ns.Name, "kernel", "7000")
	if code != 1 || !strings.Contains(errs, "where "+ns.Tap+" already has that subnet (10.77.0.1/30)") {
		t.Errorf("connect creating a device on %s's subnet = %d, %q; want 1 and the clash named", ns.Tap, code, errs)
	}
	if _, err := ns.IP("link", "show", "dev", "clash1"); err == nil {
		t.Errorf("the refused device clash1 exists")
	}
}
