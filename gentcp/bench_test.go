package gentcp_test

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/internal/testutil"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// Bulk throughput over memlink: gentcp against gVisor's gonet on the same
// link and stack settings, and Go's net over kernel loopback, in one run so
// the ratios hold on a noisy machine. b.SetBytes makes -bench print MB/s.

var benchMTUs = []uint32{1500, 65520}

func benchPair(b *testing.B, mtu uint32) *testutil.Pair {
	return testutil.NewPair(b, memlink.Options{MTU: mtu, ChecksumOffload: true}, stack.TCPOptions{
		SendBuffer:    stack.BufferRange{Max: 8 << 20},
		ReceiveBuffer: stack.BufferRange{Max: 8 << 20},
	})
}

func BenchmarkBulk(b *testing.B) {
	for _, mtu := range benchMTUs {
		b.Run(fmt.Sprintf("gentcp/mtu=%d", mtu), func(b *testing.B) { benchBulkGentcp(b, mtu) })
		b.Run(fmt.Sprintf("gonet/mtu=%d", mtu), func(b *testing.B) { benchBulkGonet(b, mtu) })
	}
	b.Run("kernel-loopback", benchBulkKernel)
}

const benchChunk = 64 << 10

func drainConn(c net.Conn, done chan<- error) {
	_, err := io.Copy(io.Discard, c)
	c.Close()
	done <- err
}

func writeN(b *testing.B, c net.Conn) {
	buf := make([]byte, benchChunk)
	b.SetBytes(benchChunk)
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func benchBulkGentcp(b *testing.B, mtu uint32) {
	p := benchPair(b, mtu)
	sn, cn := gentcp.NewNode(p.A), gentcp.NewNode(p.B)
	l, err := sn.Listen("tcp", ":5001")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		drainConn(c, done)
	}()
	c, err := cn.Dial("tcp", "10.0.0.1:5001")
	if err != nil {
		b.Fatal(err)
	}
	writeN(b, c)
	c.Close()
	<-done
	b.StopTimer()
	l.Close()
}

func benchBulkGonet(b *testing.B, mtu uint32) {
	p := benchPair(b, mtu)
	l, err := gonet.ListenTCP(p.A.Netstack(), tcpip.FullAddress{Port: 5002}, ipv4.ProtocolNumber)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		drainConn(c, done)
	}()
	c, err := gonet.DialTCP(p.B.Netstack(), tcpip.FullAddress{Addr: tcpip.AddrFromSlice(testutil.AddrA4.AsSlice()), Port: 5002}, ipv4.ProtocolNumber)
	if err != nil {
		b.Fatal(err)
	}
	writeN(b, c)
	c.Close()
	<-done
	b.StopTimer()
	l.Close()
}

func benchBulkKernel(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		drainConn(c, done)
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	writeN(b, c)
	c.Close()
	<-done
}

// BenchmarkRoundTrip is a 1-byte ping-pong; ns/op is the round trip.
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("gentcp", func(b *testing.B) {
		p := benchPair(b, 1500)
		sn, cn := gentcp.NewNode(p.A), gentcp.NewNode(p.B)
		l, _ := sn.Listen("tcp", ":5003")
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.Copy(c, c)
			c.Close()
		}()
		c, err := cn.Dial("tcp", "10.0.0.1:5003")
		if err != nil {
			b.Fatal(err)
		}
		pingPong(b, c)
		c.Close()
		l.Close()
	})
	b.Run("gonet", func(b *testing.B) {
		p := benchPair(b, 1500)
		l, _ := gonet.ListenTCP(p.A.Netstack(), tcpip.FullAddress{Port: 5004}, ipv4.ProtocolNumber)
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.Copy(c, c)
			c.Close()
		}()
		c, err := gonet.DialTCP(p.B.Netstack(), tcpip.FullAddress{Addr: tcpip.AddrFromSlice(testutil.AddrA4.AsSlice()), Port: 5004}, ipv4.ProtocolNumber)
		if err != nil {
			b.Fatal(err)
		}
		pingPong(b, c)
		c.Close()
		l.Close()
	})
	b.Run("kernel-loopback", func(b *testing.B) {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.Copy(c, c)
			c.Close()
		}()
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		pingPong(b, c)
		c.Close()
	})
}

func pingPong(b *testing.B, c net.Conn) {
	one := []byte{1}
	c.SetDeadline(time.Now().Add(time.Minute))
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(one); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, one); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}
