package tap_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/internal/services"
	"github.com/usertcp/usertcp/link/tap/taptest"
)

// These tests need a kernel on the other side, so they run over TAP only:
// real programs in the namespace (curl, nc, socat) against gentcp, and
// gentcp against them.

// newTapLink is a TAP testLink whose test ends with a leak check.
func newTapLink(t *testing.T, o linkOptions) *testLink {
	t.Helper()
	taptest.Require(t)
	leakCheck(t)
	return newLink(t, "tap", o)
}

// run runs a command in the namespace with stdin and returns its stdout;
// it fails the test if the command fails.
func run(t *testing.T, l *testLink, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := l.ns.Command(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// startServices runs usertcp serve's services (package services) on the
// user side, both families, and stops them when the test ends: what these
// tests check is what the command serves.
func startServices(t *testing.T, l *testLink, ports services.Ports) *services.Services {
	t.Helper()
	svc, err := services.Start(l.user, ports, &errorLog{t})
	if err != nil {
		t.Fatalf("services.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := svc.Stop(); err != nil {
			t.Errorf("services.Stop: %v", err)
		}
	})
	return svc
}

// startEcho runs serve's echo service on the user side, on serve's port
// 7, and returns the port.
func startEcho(t *testing.T, l *testLink) int {
	t.Helper()
	const port = 7
	startServices(t, l, services.Ports{Echo: port})
	return port
}

// errorLog fails the test on any line written to it.
type errorLog struct{ t *testing.T }

func (l *errorLog) Write(b []byte) (int, error) {
	l.t.Errorf("services logged %q", b)
	return len(b), nil
}

func randomBytes(n int64) []byte {
	b, _ := io.ReadAll(newStream(9, n))
	return b
}

// TestCurl fetches from serve's HTTP service (net/http on a gentcp
// listener): pages over IPv4 and IPv6 that name the client, a keep-alive
// connection, and 32 MiB each way with SHA-256 checks.
func TestCurl(t *testing.T) {
	l := newTapLink(t, linkOptions{})
	curl := taptest.RequireCommand(t, "curl", "curl")
	svc := startServices(t, l, services.Ports{HTTP: 80})
	opts := []string{"-sS", "--fail", "--max-time", "60"}

	for _, fam := range families {
		url := "http://" + l.userHostPort(fam, 80) + "/"
		out := run(t, l, nil, curl, append(opts, "-g", url)...)
		peer := l.peerAddr[fam].String()
		if fam == "inet6" {
			peer = "[" + peer + "]"
		}
		you := "You are " + peer + ":"
		if !strings.HasPrefix(string(out), "Hello from usertcp: ") || !strings.Contains(string(out), you) {
			t.Errorf("curl %s = %q; want the greeting and %q", url, out, you)
		}
	}

	before := svc.Served()
	out := run(t, l, nil, curl, append(opts, "http://10.77.0.2/", "http://10.77.0.2/")...)
	if strings.Count(string(out), "Hello") != 2 || svc.Served()-before != 1 {
		t.Errorf("two URLs in one curl: %q over %d connections; want two answers over one kept-alive connection", out, svc.Served()-before)
	}

	const n = 32 << 20
	start := time.Now()
	body := run(t, l, nil, curl, append(opts, "http://10.77.0.2/bytes/"+strconv.Itoa(n))...)
	down := time.Since(start)
	want := make([]byte, n)
	for i := range want {
		want[i] = services.PatternByte(int64(i))
	}
	if !bytes.Equal(body, want) {
		t.Errorf("download: %d bytes, sha256 %x; want %d bytes, sha256 %x", len(body), sha256.Sum256(body), n, sha256.Sum256(want))
	}

	upload := randomBytes(n)
	file := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(file, upload, 0o600); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	out = run(t, l, nil, curl, append(opts, "--data-binary", "@"+file, "-H", "Content-Type: application/octet-stream", "http://10.77.0.2/sha256")...)
	up := time.Since(start)
	if w := fmt.Sprintf("%x  %d\n", sha256.Sum256(upload), n); string(out) != w {
		t.Errorf("upload: server says %q, want %q", out, w)
	}
	t.Logf("curl: 32 MiB down in %v, up in %v", down.Round(time.Millisecond), up.Round(time.Millisecond))
}

// TestNetcat: nc sends to a gen_tcp echo server and half-closes at the end
// of its input (-N); and gen_tcp talks to nc listening in the namespace.
func TestNetcat(t *testing.T) {
	l := newTapLink(t, linkOptions{})
	nc := taptest.RequireCommand(t, "nc", "netcat-openbsd")
	port := startEcho(t, l)
	data := randomBytes(1 << 20)
	for _, host := range []string{"10.77.0.2", "fd77:75::2"} {
		out := run(t, l, data, nc, "-N", "-w", "30", host, strconv.Itoa(port))
		if !bytes.Equal(out, data) {
			t.Errorf("nc -N %s %d: %d bytes back, want the %d sent", host, port, len(out), len(data))
		}
	}

	// gentcp → nc -l: each side sends, half-closes, and reads the other.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := l.ns.Command(ctx, nc, "-N", "-l", "10.77.0.1", "7000")
	cmd.Stdin = strings.NewReader("from nc")
	var ncOut bytes.Buffer
	cmd.Stdout = &ncOut
	start(t, cmd)
	s := connectRetry(t, l, "inet", 7000)
	if err := s.Send([]byte("from gentcp")); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(gentcp.ShutdownWrite); err != nil {
		t.Fatal(err)
	}
	got, err := recvAll(s)
	if err != nil || string(got) != "from nc" {
		t.Errorf("gentcp received %q, %v; want %q", got, err, "from nc")
	}
	s.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("nc -l: %v", err)
	}
	if ncOut.String() != "from gentcp" {
		t.Errorf("nc -l received %q, want %q", ncOut.String(), "from gentcp")
	}
}

// start starts cmd and, when the test ends, kills it if it still runs and
// reaps it, so that a failing test leaves no process or goroutine behind.
func start(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
}

// connectRetry connects a gen_tcp socket to the peer, retrying while the
// port is refused (a program in the namespace is still starting).
func connectRetry(t *testing.T, l *testLink, family string, port int, opts ...gentcp.Option) *gentcp.Socket {
	t.Helper()
	if len(opts) == 0 {
		opts = passive
	}
	p := l.user.NewProcess()
	t.Cleanup(p.Exit)
	deadline := time.Now().Add(ioTimeout)
	for {
		s, err := p.Connect(l.peerAddr[family].String(), port, ioTimeout, opts...)
		if err == nil {
			return s
		}
		if !errors.Is(err, gentcp.Econnrefused) || time.Now().After(deadline) {
			t.Fatalf("gen_tcp:connect %s: %v", l.peerHostPort(family, port), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSocat: socat as a client of the gen_tcp echo server, and as an echo
// server (PIPE) for a gen_tcp client, over IPv4 and IPv6.
func TestSocat(t *testing.T) {
	l := newTapLink(t, linkOptions{})
	socat := taptest.RequireCommand(t, "socat", "socat")
	port := startEcho(t, l)
	data := randomBytes(1 << 20)
	for _, addr := range []string{"TCP4:10.77.0.2:" + strconv.Itoa(port), "TCP6:[fd77:75::2]:" + strconv.Itoa(port)} {
		out := run(t, l, data, socat, "-t", "10", "-", addr)
		if !bytes.Equal(out, data) {
			t.Errorf("socat - %s: %d bytes back, want the %d sent", addr, len(out), len(data))
		}
	}

	for i, fam := range families {
		listen := fmt.Sprintf("TCP4-LISTEN:%d,reuseaddr", 7100+i)
		if fam == "inet6" {
			listen = fmt.Sprintf("TCP6-LISTEN:%d,reuseaddr", 7100+i)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := l.ns.Command(ctx, socat, "-t", "10", listen, "PIPE")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start(t, cmd)
		s := connectRetry(t, l, fam, 7100+i)
		if err := s.Send(data); err != nil {
			t.Fatal(err)
		}
		if err := s.Shutdown(gentcp.ShutdownWrite); err != nil {
			t.Fatal(err)
		}
		got, err := recvAll(s)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: gentcp got %d bytes back, %v; want the %d sent", fam, len(got), err, len(data))
		}
		s.Close()
		if err := cmd.Wait(); err != nil {
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Errorf("socat %s: %v: %s", listen, err, stderr.String())
			}
		}
	}
}
