package tap_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usertcp/usertcp/gentcp"
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

// startEcho runs a gen_tcp echo server on the user side (both families)
// and returns its port.
func startEcho(t *testing.T, l *testLink) int {
	t.Helper()
	ls, port := userListen(t, l, "inet6", passive...)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		// Closing the listen socket ends the waiting acceptor (an
		// exiting process does not cancel its own pending accept).
		ls.Close()
		wg.Wait()
	})
	var acceptLoop func()
	acceptLoop = func() {
		p := l.user.NewProcess()
		t.Cleanup(p.Exit)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := p.Accept(ls, gentcp.Infinity)
			if err != nil {
				return
			}
			acceptLoop()
			defer s.Close()
			for {
				d, err := s.Recv(0, ioTimeout)
				if err != nil || s.Send(d.Bytes) != nil {
					return
				}
			}
		}()
	}
	acceptLoop()
	return port
}

func randomBytes(n int64) []byte {
	b, _ := io.ReadAll(newStream(9, n))
	return b
}

func patternByte(i int64) byte { return byte(i % 251) }

// httpHandler is the test's web application: a greeting, N bytes of a
// pattern, and the SHA-256 of an upload.
func httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s from net/http on gentcp\n", r.RemoteAddr)
	})
	mux.HandleFunc("GET /bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseInt(r.PathValue("n"), 10, 64)
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		buf := make([]byte, 64<<10)
		for off := int64(0); off < n; {
			k := min(int64(len(buf)), n-off)
			for i := range k {
				buf[i] = patternByte(off + i)
			}
			if _, err := w.Write(buf[:k]); err != nil {
				return
			}
			off += k
		}
	})
	mux.HandleFunc("POST /sha256", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%x %d\n", h.Sum(nil), n)
	})
	return mux
}

// TestCurl fetches from net/http serving on a gentcp listener: pages over
// IPv4 and IPv6, a keep-alive connection, and 32 MiB each way with
// SHA-256 checks.
func TestCurl(t *testing.T) {
	l := newTapLink(t, linkOptions{})
	curl := taptest.RequireCommand(t, "curl", "curl")
	ln, err := l.user.Listen("tcp6", ":80")
	if err != nil {
		t.Fatalf("gentcp Listen: %v", err)
	}
	var conns atomic.Int32
	srv := &http.Server{Handler: httpHandler(), ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
	})
	opts := []string{"-sS", "--fail", "--max-time", "60"}

	for _, url := range []string{"http://10.77.0.2/", "http://[fd77:75::2]/"} {
		out := run(t, l, nil, curl, append(opts, "-g", url)...)
		if !strings.HasPrefix(string(out), "hello ") || !strings.Contains(string(out), "from net/http on gentcp") {
			t.Errorf("curl %s = %q", url, out)
		}
	}

	before := conns.Load()
	out := run(t, l, nil, curl, append(opts, "http://10.77.0.2/", "http://10.77.0.2/")...)
	if strings.Count(string(out), "hello") != 2 || conns.Load()-before != 1 {
		t.Errorf("two URLs in one curl: %q over %d connections; want two answers over one kept-alive connection", out, conns.Load()-before)
	}

	const n = 32 << 20
	start := time.Now()
	body := run(t, l, nil, curl, append(opts, "http://10.77.0.2/bytes/"+strconv.Itoa(n))...)
	down := time.Since(start)
	want := make([]byte, n)
	for i := range want {
		want[i] = patternByte(int64(i))
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
	if w := fmt.Sprintf("%x %d\n", sha256.Sum256(upload), n); string(out) != w {
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
