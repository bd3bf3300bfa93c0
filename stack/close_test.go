package stack_test

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/usertcp/usertcp/internal/testutil"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// lateWriter is a capture that counts the frames written to it after the
// test marked it closed.
type lateWriter struct {
	mu     sync.Mutex
	closed bool
	late   int
}

func (w *lateWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		w.late++
	}
	return len(p), nil
}

func (w *lateWriter) markClosed() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

func (w *lateWriter) lateWrites() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.late
}

// TestCloseWaitsForTheLink: when Close returns, the stack's link has
// stopped too. Both stacks of a pair close while a bulk transfer runs
// between them; a capture of the link sees no frame after that, however
// long one waits. (netstack's own Wait waits for a link before it closes
// it, so a link goroutine in the middle of a delivery used to outlive
// Close.)
func TestCloseWaitsForTheLink(t *testing.T) {
	for i := range 20 {
		w := &lateWriter{}
		p := testutil.NewPair(t, memlink.Options{Pcap: w}, stack.TCPOptions{})
		c, srv := connectGonet(t, p)
		var wg sync.WaitGroup
		var moved atomic.Int64
		wg.Add(2)
		go func() { // A reads until its stack closes
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for {
				n, err := srv.Read(buf)
				moved.Add(int64(n))
				if err != nil {
					return
				}
			}
		}()
		go func() { // B writes until its stack closes
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for {
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		}()
		deadline := time.Now().Add(5 * time.Second)
		for moved.Load() < 1<<20 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		p.Close()
		w.markClosed()
		wg.Wait()
		time.Sleep(20 * time.Millisecond)
		if n := w.lateWrites(); n > 0 {
			t.Fatalf("round %d: %d frames captured after both stacks closed", i, n)
		}
	}
}

// connectGonet connects B to A over gonet: c is B's end, s is A's.
func connectGonet(tb testing.TB, p *testutil.Pair) (c, s net.Conn) {
	tb.Helper()
	const port = 5001
	l, err := gonet.ListenTCP(p.A.Netstack(), tcpip.FullAddress{Port: port}, ipv4.ProtocolNumber)
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	accepted := acceptOne(l)
	c, err = gonet.DialTCP(p.B.Netstack(), tcpip.FullAddress{Addr: tcpip.AddrFromSlice(testutil.AddrA4.AsSlice()), Port: port}, ipv4.ProtocolNumber)
	if err != nil {
		tb.Fatal(err)
	}
	s, ok := <-accepted
	if !ok {
		c.Close()
		tb.Fatal("accept failed")
	}
	return c, s
}

// acceptOne accepts one connection on l in a goroutine of its own: the
// channel gives it, or is closed if Accept fails.
func acceptOne(l *gonet.TCPListener) <-chan net.Conn {
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	return accepted
}
