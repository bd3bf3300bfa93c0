package services_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/internal/services"
	"github.com/usertcp/usertcp/internal/testutil"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// newNodes returns a server node on stack A (10.0.0.1, fd00:75::1) and a
// client node on stack B of a clean memlink pair; the test ends with a
// goroutine leak check.
func newNodes(t *testing.T) (server, client *gentcp.Node) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
	p := testutil.NewPair(t, memlink.Options{}, stack.TCPOptions{MinRTO: 20 * time.Millisecond})
	return gentcp.NewNode(p.A), gentcp.NewNode(p.B)
}

// start starts the services on node and stops them when the test ends,
// checking that Stop reports nothing.
func start(t *testing.T, node *gentcp.Node, ports services.Ports) *services.Services {
	t.Helper()
	svc, err := services.Start(node, ports, &testLog{t})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, svc.Stop()) })
	return svc
}

// testLog fails the test on any line the services log.
type testLog struct{ t *testing.T }

func (l *testLog) Write(b []byte) (int, error) {
	l.t.Errorf("services logged %q", b)
	return len(b), nil
}

// halfClosedExchange sends data to address, half-closes, and returns all
// the server sends back until it closes.
func halfClosedExchange(t *testing.T, client *gentcp.Node, address string, data []byte) []byte {
	t.Helper()
	c, err := client.Dial("tcp", address)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(30*time.Second)))
	sent := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.(interface{ CloseWrite() error }).CloseWrite()
		}
		sent <- err
	}()
	got, err := io.ReadAll(c)
	require.NoError(t, err, "reading from %s", address)
	require.NoError(t, <-sent, "sending to %s", address)
	return got
}

// TestEchoAndDiscard: echo sends back everything, over IPv4 and IPv6, to
// a client that half-closed; discard sends nothing and closes after the
// client's FIN; Served counts each connection.
func TestEchoAndDiscard(t *testing.T) {
	server, client := newNodes(t)
	svc := start(t, server, services.Ports{Echo: 7, Discard: 9})
	data := make([]byte, 300<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, addr := range []string{"10.0.0.1:7", "[fd00:75::1]:7"} {
		got := halfClosedExchange(t, client, addr, data)
		if !bytes.Equal(got, data) {
			t.Errorf("echo at %s: %d bytes back, want the %d sent", addr, len(got), len(data))
		}
	}
	if got := halfClosedExchange(t, client, "10.0.0.1:9", data); len(got) != 0 {
		t.Errorf("discard sent %d bytes back, want none", len(got))
	}
	assert.Equal(t, int64(3), svc.Served())
	assert.Equal(t, []string{"discard    tcp 9 (gen_tcp)", "echo       tcp 7 (gen_tcp)"}, svc.Describe())
}

// TestHTTP: the greeting names the client, /bytes/N is N bytes of
// PatternByte, a bad N is 400, /sha256 answers as sha256sum does, and
// all of it goes over one kept-alive connection.
func TestHTTP(t *testing.T) {
	server, client := newNodes(t)
	svc := start(t, server, services.Ports{HTTP: 80})
	tr := &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
		return client.DialContext(ctx, "tcp", addr)
	}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	get := func(method, path string, body []byte) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, "http://10.0.0.1"+path, bytes.NewReader(body))
		require.NoError(t, err)
		resp, err := hc.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}

	code, body := get("GET", "/", nil)
	assert.Equal(t, http.StatusOK, code)
	assert.True(t, strings.HasPrefix(body, "Hello from usertcp: "), "GET / = %q", body)
	assert.Contains(t, body, "You are 10.0.0.2:")

	const n = 100_000
	code, body = get("GET", fmt.Sprintf("/bytes/%d", n), nil)
	assert.Equal(t, http.StatusOK, code)
	want := make([]byte, n)
	for i := range want {
		want[i] = services.PatternByte(int64(i))
	}
	assert.True(t, body == string(want), "GET /bytes/%d: %d bytes, not the pattern", n, len(body))
	assert.Equal(t, byte(250), services.PatternByte(250))
	assert.Equal(t, byte(0), services.PatternByte(251))

	for _, bad := range []string{"-1", "x", "17179869185"} {
		code, _ = get("GET", "/bytes/"+bad, nil)
		assert.Equal(t, http.StatusBadRequest, code, "GET /bytes/%s", bad)
	}

	upload := bytes.Repeat([]byte("usertcp "), 50_000)
	code, body = get("POST", "/sha256", upload)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, fmt.Sprintf("%x  %d\n", sha256.Sum256(upload), len(upload)), body)

	assert.Equal(t, int64(1), svc.Served(), "connections for all requests; want one kept alive")
	assert.Equal(t, []string{"http       tcp 80 (net/http on gentcp)"}, svc.Describe())
}

// TestStartFailsCleanly: when a port is taken, Start says which service
// and port, and the services it had started are stopped (the echo port
// refuses, no goroutine is left).
func TestStartFailsCleanly(t *testing.T) {
	server, client := newNodes(t)
	taken, err := server.Listen("tcp", ":80")
	require.NoError(t, err)
	defer taken.Close()
	svc, err := services.Start(server, services.Ports{Echo: 7, HTTP: 80}, &testLog{t})
	require.Error(t, err)
	assert.Nil(t, svc)
	assert.Contains(t, err.Error(), "http on port 80")
	_, err = client.Dial("tcp", "10.0.0.1:7")
	assert.ErrorIs(t, err, gentcp.Econnrefused)
}
