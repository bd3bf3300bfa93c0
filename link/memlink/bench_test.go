package memlink_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/pipe"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/usertcp/usertcp/bench"
	"github.com/usertcp/usertcp/link/memlink"
)

// The link's benchmarks, against gVisor's pipe link (which delivers in the
// sender's goroutine, with no queue) in the same run:
//
//	go test -run '^$' -bench . ./link/memlink/

// linkMTUs sweep from Ethernet's MTU to the largest a TAP device takes.
var linkMTUs = []int{1500, 4000, 9000, 16000, 32000, 65520}

// BenchmarkLinkBulk is TCP bulk throughput (gonet on both stacks, so the
// link is what differs) over memlink and over pipe, at each MTU; an op is
// a 64 KiB chunk.
func BenchmarkLinkBulk(b *testing.B) {
	for _, mtu := range linkMTUs {
		for _, sys := range []string{bench.Memlink, bench.Pipe} {
			c := bench.Case{Measurement: bench.LinkBulk, System: sys, MTU: mtu}
			b.Run(fmt.Sprintf("mtu=%d/%s", mtu, sys), func(b *testing.B) {
				s, err := bench.Start(c)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				b.SetBytes(bench.Chunk)
				b.ResetTimer()
				if err := s.Run(b.N); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
			})
		}
	}
}

// countingDispatcher stands in for a stack: it counts what arrives.
type countingDispatcher struct {
	frames atomic.Int64
	wait   chan struct{}
	want   atomic.Int64
}

func (d *countingDispatcher) DeliverNetworkPacket(_ tcpip.NetworkProtocolNumber, _ *netstack.PacketBuffer) {
	if d.frames.Add(1) == d.want.Load() {
		d.wait <- struct{}{}
	}
}

func (d *countingDispatcher) DeliverLinkPacket(tcpip.NetworkProtocolNumber, *netstack.PacketBuffer) {}

// BenchmarkFrames is the link alone, without stacks: frames of 64 and 1500
// bytes written in batches of 64 (as netstack's TCP sends them) and
// counted on arrival; an op is one frame.
func BenchmarkFrames(b *testing.B) {
	for _, size := range []int{64, 1500} {
		for _, kind := range []string{bench.Memlink, bench.Pipe} {
			b.Run(fmt.Sprintf("size=%d/%s", size, kind), func(b *testing.B) {
				var tx, rx netstack.LinkEndpoint
				switch kind {
				case bench.Memlink:
					ea, eb, err := memlink.New(memlink.Options{MTU: 1500, ChecksumOffload: true})
					if err != nil {
						b.Fatal(err)
					}
					tx, rx = ea, eb
				case bench.Pipe:
					pa, pb := pipe.New("", "", 1500)
					tx, rx = pa, pb
				}
				d := &countingDispatcher{wait: make(chan struct{}, 1)}
				rx.Attach(d)
				tx.Attach(&countingDispatcher{wait: make(chan struct{}, 1)})
				defer func() {
					tx.Close()
					rx.Close()
					tx.Wait()
					rx.Wait()
				}()
				frame := make([]byte, size)
				frame[0] = header.IPv4Version << 4
				d.want.Store(int64(b.N))
				b.SetBytes(int64(size))
				b.ResetTimer()
				for sent := 0; sent < b.N; {
					var pkts netstack.PacketBufferList
					for range min(64, b.N-sent) {
						pkt := netstack.NewPacketBuffer(netstack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
						pkt.NetworkProtocolNumber = header.IPv4ProtocolNumber
						pkts.PushBack(pkt)
					}
					n, err := tx.WritePackets(pkts)
					pkts.Reset()
					if err != nil {
						b.Fatal(err)
					}
					sent += n
				}
				<-d.wait
				b.StopTimer()
			})
		}
	}
}
