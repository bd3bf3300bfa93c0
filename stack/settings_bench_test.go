package stack_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/usertcp/usertcp/internal/testutil"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// BenchmarkTCPSettings measures what TCPOptions' throughput knobs do to
// bulk TCP between two stacks on a memlink: netstack's defaults, receive
// and send buffers up to 8 MiB (what package bench gives both gentcp and
// gonet), CUBIC instead of Reno, and receive-buffer autotuning off, each
// on a clean link and on one with 1 ms latency and 0.1 % loss, at
// Ethernet's MTU and the largest. gonet moves the bytes, so only the
// settings differ; an op is a 64 KiB write.
//
//	go test -run '^$' -bench TCPSettings -count 3 ./stack/
func BenchmarkTCPSettings(b *testing.B) {
	settings := []struct {
		name string
		tcp  stack.TCPOptions
	}{
		{"defaults", stack.TCPOptions{}},
		{"buffers=8MiB", stack.TCPOptions{SendBuffer: stack.BufferRange{Max: 8 << 20}, ReceiveBuffer: stack.BufferRange{Max: 8 << 20}}},
		{"cubic", stack.TCPOptions{CongestionControl: "cubic"}},
		{"no-autotuning", stack.TCPOptions{NoModerateReceiveBuffer: true}},
	}
	links := []struct {
		name string
		opts memlink.Options
	}{
		{"clean", memlink.Options{ChecksumOffload: true}},
		{"lossy", memlink.Options{ChecksumOffload: true, Latency: time.Millisecond, Loss: 0.001, Seed: 1}},
	}
	for _, l := range links {
		for _, mtu := range []uint32{1500, 65520} {
			for _, s := range settings {
				b.Run(fmt.Sprintf("link=%s/mtu=%d/%s", l.name, mtu, s.name), func(b *testing.B) {
					lo := l.opts
					lo.MTU = mtu
					bulkOverPair(b, lo, s.tcp)
				})
			}
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
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
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

// bulkOverPair writes b.N 64 KiB chunks from B to A over gonet and reads
// them at A into one reused buffer.
func bulkOverPair(b *testing.B, lo memlink.Options, tcp stack.TCPOptions) {
	const chunk = 64 << 10
	p := testutil.NewPair(b, lo, tcp)
	defer p.Close()
	c, s := connectGonet(b, p)
	defer c.Close()
	defer s.Close()

	b.SetBytes(chunk)
	b.ResetTimer()
	sent := make(chan error, 1)
	go func() {
		buf := make([]byte, chunk)
		for range b.N {
			if _, err := c.Write(buf); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	// A read loop, not io.Copy to io.Discard, which reads 8 KiB at a time.
	buf := make([]byte, chunk)
	for left := int64(b.N) * chunk; left > 0; {
		n, err := s.Read(buf[:min(int64(len(buf)), left)])
		if err != nil {
			b.Fatal(err)
		}
		left -= int64(n)
	}
	if err := <-sent; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
}
