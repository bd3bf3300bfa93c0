package gentcp_test

import (
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/stretchr/testify/require"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/internal/testutil"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// timeWaitPair is a pair whose client ends wait out a 60 s TIME_WAIT
// (reuse off, so every connection keeps its endpoint), with a node and a
// process on each stack and a {packet,4} listener on the server.
func timeWaitPair(tb testing.TB) (p *testutil.Pair, sp, cp *gentcp.Process, l *gentcp.Socket, port int) {
	tb.Helper()
	p = testutil.NewPair(tb, memlink.Options{}, stack.TCPOptions{TimeWait: time.Minute, TimeWaitReuse: stack.TimeWaitReuseOff})
	sp, cp = gentcp.NewNode(p.A).NewProcess(), gentcp.NewNode(p.B).NewProcess()
	l, err := sp.Listen(0, gentcp.Binary, gentcp.Active(false), gentcp.Packet(4))
	if err != nil {
		tb.Fatal(err)
	}
	port, _ = l.Port()
	return p, sp, cp, l, port
}

// exchange makes one connection to port: a message each way, then the
// client closes first (its end goes to TIME_WAIT) and the server after
// it reads the close. It returns both sockets, closed.
func exchange(tb testing.TB, sp, cp *gentcp.Process, l *gentcp.Socket, port int) (c, a *gentcp.Socket) {
	tb.Helper()
	c, err := cp.Connect("10.0.0.1", port, 5*time.Second, gentcp.Binary, gentcp.Active(false), gentcp.Packet(4))
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	if a, err = sp.Accept(l, 5*time.Second); err != nil {
		tb.Fatalf("accept: %v", err)
	}
	for _, dir := range [][2]*gentcp.Socket{{c, a}, {a, c}} {
		if err := dir[0].Send([]byte("hello")); err != nil {
			tb.Fatal(err)
		}
		if _, err := dir[1].Recv(0, 5*time.Second); err != nil {
			tb.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		tb.Fatal(err)
	}
	if _, err := a.Recv(0, 5*time.Second); err != gentcp.Closed {
		tb.Fatalf("server end: %v, want closed", err)
	}
	if err := a.Close(); err != nil {
		tb.Fatal(err)
	}
	return c, a
}

// TestTimeWaitKeepsNoSocket: a closed socket whose endpoint waits out
// TIME_WAIT is garbage once its user drops it. netstack's endpoint keeps
// the last payload it wrote from, which was a field of the Socket, so
// each TIME_WAIT endpoint kept its whole closed socket alive for 60 s
// (about 700 B of the 8 KB a TIME_WAIT connection costs).
func TestTimeWaitKeepsNoSocket(t *testing.T) {
	p, sp, cp, l, port := timeWaitPair(t)
	var clients, servers []weak.Pointer[gentcp.Socket]
	for range 20 {
		c, a := exchange(t, sp, cp, l, port)
		clients, servers = append(clients, weak.Make(c)), append(servers, weak.Make(a))
	}
	require.GreaterOrEqual(t, p.B.Netstack().Stats().TCP.CurrentConnected.Value(), uint64(20), "the client ends are in TIME_WAIT")
	live := func(ws []weak.Pointer[gentcp.Socket]) int {
		runtime.GC()
		n := 0
		for _, w := range ws {
			if w.Value() != nil {
				n++
			}
		}
		return n
	}
	require.Zero(t, live(clients), "closed client sockets alive while their endpoints are in TIME_WAIT")
	require.Zero(t, live(servers), "closed server sockets alive")
	require.NoError(t, l.Close())
	sp.Exit()
	cp.Exit()
}

// BenchmarkTimeWaitMemory is the live heap a connection leaves behind in
// TIME_WAIT: each iteration makes timeWaitConns connections to one
// server (exchange: a {packet,4} message each way, the client closes
// first, so its endpoint waits out a 60 s TIME_WAIT, reuse off), and
// reports the heap growth per connection, B/endpoint. The
// server's ends are gone by then (LAST_ACK ends in CLOSED).
//
//	go test -run '^$' -bench TimeWaitMemory -benchtime 1x ./gentcp/
func BenchmarkTimeWaitMemory(b *testing.B) {
	const timeWaitConns = 5000
	var perEndpoint float64
	for range b.N {
		b.StopTimer()
		p, sp, cp, l, port := timeWaitPair(b)
		before := liveHeap()
		b.StartTimer()
		for range timeWaitConns {
			exchange(b, sp, cp, l, port)
		}
		b.StopTimer()
		// The last FIN's ACK reaches the server in a moment.
		time.Sleep(100 * time.Millisecond)
		perEndpoint = float64(liveHeap()-before) / timeWaitConns
		if n := p.B.Netstack().Stats().TCP.CurrentConnected.Value(); n < timeWaitConns {
			b.Fatalf("%d client endpoints connected (TIME_WAIT counts), want %d", n, timeWaitConns)
		}
		l.Close()
		sp.Exit()
		cp.Exit()
		p.Close()
	}
	b.ReportMetric(perEndpoint, "B/endpoint")
}

// liveHeap is the heap in use after a collection.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
