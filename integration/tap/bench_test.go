package tap_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/tap"
	"github.com/usertcp/usertcp/link/tap/taptest"
)

// The TAP benchmarks: the usertcp side against the Linux kernel in a
// network namespace, over one TAP device, at Ethernet's MTU and the
// largest a TAP device takes. Each runs gentcp (Send/Recv), gentcp's
// net.Conn adapter and gVisor's gonet on the same stack and link, so the
// ratios compare the facades on identical TAP costs.
//
//	sudo go test -run '^$' -bench . ./integration/tap/

const benchChunk = 64 << 10

var tapBenchMTUs = []int{1500, 65520}

// benchSides are the ways the usertcp side connects to the kernel:
// gentcp's Send/Recv, its net.Conn adapter and gonet, each on link/tap
// with its default offloads; gonet on link/tap without offloads; and gonet
// on gVisor's fdbased link over the same device (one readv or writev per
// frame, no virtio-net header), the baseline the TAP targets name.
var benchSides = []string{"gentcp", "gentcp-conn", "gonet", "gonet-nooffload", "gonet-fdbased"}

// benchLink opens the link a side runs on.
func benchLink(b *testing.B, side string, mtu int) *testLink {
	return newLink(b, "tap", linkOptions{userMTU: mtu, peerMTU: mtu,
		noOffload: side == "gonet-nooffload", fdbased: side == "gonet-fdbased"})
}

// fdbasedLink opens ns's TAP device a second way, as a plain TAP
// descriptor (no IFF_VNET_HDR) handed to gVisor's fdbased link, which
// reads and writes one frame per system call. The descriptor closes with
// the test.
func fdbasedLink(tb testing.TB, ns *taptest.Namespace, mtu int) netstack.LinkEndpoint {
	tb.Helper()
	var fd int
	err := tap.InNetns(ns.Name, func() error {
		var err error
		if fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0); err != nil {
			return err
		}
		ifr, err := unix.NewIfreq(ns.Tap)
		if err == nil {
			ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
			err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
		}
		if err != nil {
			unix.Close(fd)
		}
		return err
	})
	if err != nil {
		tb.Fatalf("open %s in %s: %v", ns.Tap, ns.Name, err)
	}
	ep, err := fdbased.New(&fdbased.Options{
		FDs: []int{fd}, MTU: uint32(mtu), EthernetHeader: true,
		Address:            tcpip.LinkAddress([]byte{0x02, 0x75, 0, 0, 0, 0xfd}),
		PacketDispatchMode: fdbased.RecvMMsg,
	})
	if err != nil {
		unix.Close(fd)
		tb.Fatalf("fdbased.New: %v", err)
	}
	// Registered before the stack's cleanup, so it runs after the stack
	// (and with it the link) has closed.
	tb.Cleanup(func() { unix.Close(fd) })
	return ep
}

// userStream is the usertcp side of one connection: write and read as
// the side's API does them.
type userStream struct {
	write func([]byte) error
	read  func([]byte) (int, error)
	close func()
}

// dialKernel connects the usertcp side to a kernel listener in the
// namespace with the side's API.
func dialKernel(b *testing.B, l *testLink, side string, port int) userStream {
	b.Helper()
	switch side {
	case "gonet", "gonet-nooffload", "gonet-fdbased":
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		c, err := gonet.DialContextTCP(ctx, l.userStack.Netstack(), tcpip.FullAddress{
			Addr: tcpip.AddrFromSlice(l.peerAddr["inet"].AsSlice()), Port: uint16(port)}, ipv4.ProtocolNumber)
		if err != nil {
			b.Fatalf("gonet dial: %v", err)
		}
		return connUserStream(c)
	default:
		p := l.user.NewProcess()
		s, err := p.Connect(l.peerAddr["inet"].String(), port, ioTimeout,
			gentcp.Binary, gentcp.Active(false), gentcp.Nodelay(true), gentcp.Buffer(benchChunk))
		if err != nil {
			p.Exit()
			b.Fatalf("gen_tcp:connect: %v", err)
		}
		if side == "gentcp-conn" {
			c, err := gentcp.NewConn(p, s)
			if err != nil {
				b.Fatal(err)
			}
			us := connUserStream(c)
			inner := us.close
			us.close = func() { inner(); p.Exit() }
			return us
		}
		return userStream{
			write: s.Send,
			read: func([]byte) (int, error) {
				d, err := s.Recv(0, ioTimeout)
				return len(d.Bytes), err
			},
			close: func() { s.Close(); p.Exit() },
		}
	}
}

// connUserStream is a net.Conn (gonet's, gentcp's adapter) as a
// userStream; both leave Nagle off (netstack's default, adapterOpts).
func connUserStream(c net.Conn) userStream {
	return userStream{
		write: func(p []byte) error { _, err := c.Write(p); return err },
		read:  c.Read,
		close: func() { c.Close() },
	}
}

// kernelConn opens a kernel listener in the namespace, connects the
// usertcp side to it and returns both ends.
func kernelConn(b *testing.B, l *testLink, side string) (userStream, net.Conn) {
	b.Helper()
	ln, err := l.ns.Listen("tcp4", l.peerHostPort("inet", 0))
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	us := dialKernel(b, l, side, ln.Addr().(*net.TCPAddr).Port)
	kc, ok := <-accepted
	if !ok {
		us.close()
		b.Fatal("kernel accept failed")
	}
	kc.(*net.TCPConn).SetNoDelay(true)
	return us, kc
}

// BenchmarkTAPBulk is one-way throughput between the usertcp side and the
// kernel, 64 KiB writes and reads; up is usertcp to the kernel.
func BenchmarkTAPBulk(b *testing.B) {
	taptest.Require(b)
	for _, dir := range []string{"up", "down"} {
		for _, mtu := range tapBenchMTUs {
			for _, side := range benchSides {
				b.Run(fmt.Sprintf("dir=%s/%s/mtu=%d", dir, side, mtu), func(b *testing.B) {
					l := benchLink(b, side, mtu)
					us, kc := kernelConn(b, l, side)
					defer us.close()
					defer kc.Close()
					chunk := make([]byte, benchChunk)
					total := int64(b.N) * benchChunk
					b.SetBytes(benchChunk)
					b.ResetTimer()
					done := make(chan error, 1)
					if dir == "up" {
						go func() { done <- readN(kc.Read, total) }()
						for range b.N {
							if err := us.write(chunk); err != nil {
								b.Fatal(err)
							}
						}
					} else {
						go func() { done <- readN(us.read, total) }()
						for range b.N {
							if _, err := kc.Write(chunk); err != nil {
								b.Fatal(err)
							}
						}
					}
					if err := <-done; err != nil {
						b.Fatal(err)
					}
				})
			}
		}
	}
}

// readN reads with read into a 64 KiB buffer until n bytes came.
func readN(read func([]byte) (int, error), n int64) error {
	buf := make([]byte, benchChunk)
	var got int64
	for {
		k, err := read(buf)
		if got += int64(k); got >= n {
			return nil
		}
		if err != nil {
			return fmt.Errorf("after %d of %d bytes: %w", got, n, err)
		}
	}
}

// BenchmarkTAPRoundTrip is a 1-byte ping-pong from the usertcp side to a
// kernel echo: ns/op is the mean round trip, p50-ns and p99-ns its
// percentiles.
func BenchmarkTAPRoundTrip(b *testing.B) {
	taptest.Require(b)
	for _, mtu := range tapBenchMTUs {
		for _, side := range benchSides {
			b.Run(fmt.Sprintf("%s/mtu=%d", side, mtu), func(b *testing.B) {
				l := benchLink(b, side, mtu)
				us, kc := kernelConn(b, l, side)
				defer us.close()
				echoed := make(chan struct{})
				go func() {
					defer close(echoed)
					buf := make([]byte, 1)
					for {
						if _, err := io.ReadFull(kc, buf); err != nil {
							return
						}
						if _, err := kc.Write(buf); err != nil {
							return
						}
					}
				}()
				ping, buf := []byte{'x'}, make([]byte, benchChunk)
				rtts := make([]time.Duration, 0, b.N)
				b.ResetTimer()
				for range b.N {
					t0 := time.Now()
					if err := us.write(ping); err != nil {
						b.Fatal(err)
					}
					if _, err := us.read(buf); err != nil {
						b.Fatal(err)
					}
					rtts = append(rtts, time.Since(t0))
				}
				b.StopTimer()
				kc.Close()
				<-echoed
				slices.Sort(rtts)
				b.ReportMetric(float64(rtts[len(rtts)/2].Nanoseconds()), "p50-ns")
				b.ReportMetric(float64(rtts[len(rtts)*99/100].Nanoseconds()), "p99-ns")
			})
		}
	}
}
