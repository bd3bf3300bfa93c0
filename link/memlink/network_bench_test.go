package memlink_test

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/usertcp/usertcp/bench"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// BenchmarkNetworkBulk is TCP bulk throughput (gonet on both stacks, so
// the link is what differs) between two ports of a network of five, where
// every frame is routed by its destination address, against a link (New,
// the network of two, a cable), at MTU 1500 and 65520, with checksum
// offload (a segment crosses whole) and without (frames of the MTU, each
// routed and checksummed). Both run in one
// benchmark, taking turns a block of 64 chunks of 64 KiB at a time over a
// connection each, so that the ratio is measured side by side on a
// machine whose load changes; an op is a chunk on each. It reports each
// one's MB/s and network/link:
//
//	go test -run '^$' -bench NetworkBulk -count 5 ./link/memlink/
func BenchmarkNetworkBulk(b *testing.B) {
	for _, mtu := range []uint32{1500, 65520} {
		for _, offload := range []bool{true, false} {
			b.Run(fmt.Sprintf("mtu=%d/offload=%v", mtu, offload), func(b *testing.B) {
				opts := memlink.Options{MTU: mtu, ChecksumOffload: offload}
				link := newBulkConn(b, "link", opts)
				defer link.close()
				network := newBulkConn(b, "network", opts)
				defer network.close()
				const block = 64
				var onLink, onNetwork time.Duration
				b.ResetTimer()
				for done := 0; done < b.N; done += block {
					k := min(block, b.N-done)
					onLink += link.send(b, k)
					onNetwork += network.send(b, k)
				}
				b.StopTimer()
				mb := float64(b.N) * bench.Chunk / 1e6
				b.ReportMetric(mb/onLink.Seconds(), "link-MB/s")
				b.ReportMetric(mb/onNetwork.Seconds(), "network-MB/s")
				b.ReportMetric(onLink.Seconds()/onNetwork.Seconds(), "network/link")
			})
		}
	}
}

// benchStacks makes two stacks, 10.0.0.1 (src) and 10.0.0.2 (dst), on a
// link or on two ports of a network of five (the other three have no
// stack; nothing but the two stacks' frames crosses it).
func benchStacks(b *testing.B, kind string, opts memlink.Options) (src, dst *stack.Stack) {
	b.Helper()
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}) }
	var l1, l2 *memlink.Port
	switch kind {
	case "link":
		var err error
		if l1, l2, err = memlink.New(opts); err != nil {
			b.Fatal(err)
		}
	case "network":
		n, err := memlink.NewNetwork(opts)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(n.Close)
		ports := make([]*memlink.Port, 5)
		for i := range ports {
			if ports[i], err = n.AddPort(fmt.Sprintf("n%d", i+1), addr(i+1)); err != nil {
				b.Fatal(err)
			}
		}
		l1, l2 = ports[0], ports[1]
	}
	mk := func(l *memlink.Port, a netip.Addr) *stack.Stack {
		st, err := stack.New(stack.Options{NICs: []stack.NIC{{Name: "eth0", Link: l,
			Addresses: []netip.Prefix{netip.PrefixFrom(a, 24)}}}})
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	return mk(l1, addr(1)), mk(l2, addr(2))
}

// bulkConn is a connection between two stacks, src writing and a reader
// on dst counting.
type bulkConn struct {
	src, dst *stack.Stack
	c, r     net.Conn
	blocks   chan int64 // bytes the reader is to read next
	read     chan error // a block was read
	chunk    []byte
}

// newBulkConn connects two stacks on a link or a network (benchStacks).
func newBulkConn(b *testing.B, kind string, opts memlink.Options) *bulkConn {
	b.Helper()
	bc := &bulkConn{blocks: make(chan int64), read: make(chan error), chunk: make([]byte, bench.Chunk)}
	bc.src, bc.dst = benchStacks(b, kind, opts)
	l, err := gonet.ListenTCP(bc.dst.Netstack(), tcpip.FullAddress{Port: 9}, ipv4.ProtocolNumber)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	bc.c, err = gonet.DialTCP(bc.src.Netstack(), tcpip.FullAddress{Addr: tcpip.AddrFrom4([4]byte{10, 0, 0, 2}), Port: 9}, ipv4.ProtocolNumber)
	if err != nil {
		b.Fatal(err)
	}
	if bc.r = <-accepted; bc.r == nil {
		b.Fatal("accept failed")
	}
	go bc.reader()
	return bc
}

// reader reads each block as it is announced and says when it has.
func (bc *bulkConn) reader() {
	buf := make([]byte, bench.Chunk)
	for want := range bc.blocks {
		var err error
		for n := int64(0); n < want && err == nil; {
			var k int
			k, err = bc.r.Read(buf)
			n += int64(k)
		}
		bc.read <- err
	}
}

// send writes k chunks and returns how long until the reader had them.
func (bc *bulkConn) send(b *testing.B, k int) time.Duration {
	start := time.Now()
	bc.blocks <- int64(k) * bench.Chunk
	for range k {
		if _, err := bc.c.Write(bc.chunk); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-bc.read; err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

func (bc *bulkConn) close() {
	close(bc.blocks)
	bc.c.Close()
	bc.r.Close()
	bc.src.Close()
	bc.dst.Close()
}

// BenchmarkPorts adds 1,000 ports to a network and closes them; an op is
// one port added and closed.
func BenchmarkPorts(b *testing.B) {
	for range b.N / 1000 {
		n, err := memlink.NewNetwork(memlink.Options{})
		if err != nil {
			b.Fatal(err)
		}
		for i := range 1000 {
			if _, err := n.AddPort(fmt.Sprintf("n%d", i), netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})); err != nil {
				b.Fatal(err)
			}
		}
		n.Close()
	}
}
