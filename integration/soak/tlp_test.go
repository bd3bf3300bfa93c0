package soak

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/usertcp/usertcp/internal/testutil"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// TestTailLossProbeBoundedByMaxRTO: when the last segment of a burst is
// lost, the sender retransmits it within MaxRTO, whatever its loss
// detection. The soak found connections idle for seconds on a lossy link:
// netstack's tail loss probe (RACK-TLP, which stack.TCPOptions.RACK turns on) waits 2 x SRTT with
// no cap (Linux caps the probe timeout by the pending RTO), and SRTT starts
// at a second or more whenever a SYN was lost, because netstack
// retransmits a SYN with its original timestamp, so the SYN-ACK's echo
// measures the retransmission timeout as the round trip.
//
// The test loses the client's first SYN and then the last of three data
// segments, and measures how long the client takes to send that segment
// again.
func TestTailLossProbeBoundedByMaxRTO(t *testing.T) {
	t.Skip("open netstack bug (issue 7 closing note): a resent SYN keeps its original TSval, inflating SRTT, and RACK's tail-loss probe is not capped by the RTO; needs a patched gVisor")
	const maxRTO = 500 * time.Millisecond
	for _, tc := range []struct {
		name string
		rack bool
	}{
		{"RACK-TLP on", true},
		{"RACK-TLP off (the stack's default)", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			// A is the client: its frames go through the injector.
			p, inj := testutil.NewInjectedPair(t, memlink.Options{}, stack.TCPOptions{
				MinRTO: 20 * time.Millisecond, MaxRTO: maxRTO, RACK: tc.rack,
			})
			defer p.Close()
			const port, size = 4000, 3000 // three segments: 1448 + 1448 + 104
			l, err := gonet.ListenTCP(p.B.Netstack(), tcpip.FullAddress{Port: port}, ipv4.ProtocolNumber)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			got := make(chan int, 1)
			go func() {
				c, err := l.Accept()
				if err != nil {
					got <- -1
					return
				}
				defer c.Close()
				buf := make([]byte, size)
				n := 0
				c.SetReadDeadline(time.Now().Add(20 * time.Second))
				for n < size {
					k, err := c.Read(buf[n:])
					if err != nil {
						break
					}
					n += k
				}
				got <- n
			}()

			var mu sync.Mutex
			var (
				synDropped       bool
				isn              uint32
				lostAt, resentAt time.Time
			)
			inj.OnSend(func(frame []byte) bool {
				ip := header.IPv4(frame)
				if len(frame) < header.IPv4MinimumSize || ip.TransportProtocol() != header.TCPProtocolNumber {
					return true
				}
				tcp := header.TCP(ip.Payload())
				mu.Lock()
				defer mu.Unlock()
				if tcp.Flags() == header.TCPFlagSyn {
					isn = tcp.SequenceNumber()
					if !synDropped {
						synDropped = true
						return false
					}
					return true
				}
				last := isn + size // the sequence number of the last byte
				seq, n := tcp.SequenceNumber(), uint32(len(tcp.Payload()))
				if n == 0 || last < seq || last >= seq+n {
					return true
				}
				if lostAt.IsZero() {
					lostAt = time.Now()
					return false
				}
				if resentAt.IsZero() {
					resentAt = time.Now()
				}
				return true
			})

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := gonet.DialContextTCP(ctx, p.A.Netstack(), tcpip.FullAddress{
				Addr: tcpip.AddrFromSlice(testutil.AddrB4.AsSlice()), Port: port}, ipv4.ProtocolNumber)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(make([]byte, size)); err != nil {
				t.Fatal(err)
			}
			if n := <-got; n != size {
				t.Fatalf("the server read %d of %d bytes", n, size)
			}
			mu.Lock()
			defer mu.Unlock()
			if lostAt.IsZero() || resentAt.IsZero() {
				t.Fatalf("the last segment was not lost and resent (lost %v, resent %v)", lostAt, resentAt)
			}
			gap := resentAt.Sub(lostAt)
			t.Logf("last segment resent %v after it was lost", gap.Round(time.Millisecond))
			// MaxRTO plus room for a slow, race-instrumented scheduler.
			if gap > maxRTO+400*time.Millisecond {
				t.Errorf("the lost last segment was resent after %v; want within MaxRTO (%v): the tail loss probe waits 2 x SRTT uncapped", gap.Round(time.Millisecond), maxRTO)
			}
		})
	}
}

// TestSRTTAfterSYNRetransmit: a lost SYN must not make the connection
// believe the round trip is a second long. netstack retransmits a SYN with
// the timestamp of the first one, so the SYN-ACK echoes it and the
// handshake's RTT sample is the SYN retransmission timeout (1 s); the
// smoothed RTT starts there, and every timer derived from it (RTO, the
// tail loss probe) is seconds long until enough samples bring it down.
// Linux stamps each retransmission afresh.
func TestSRTTAfterSYNRetransmit(t *testing.T) {
	t.Skip("open netstack bug (issue 7 closing note): a resent SYN keeps its original TSval, inflating SRTT, and RACK's tail-loss probe is not capped by the RTO; needs a patched gVisor")
	defer goleak.VerifyNone(t)
	p, inj := testutil.NewInjectedPair(t, memlink.Options{}, stack.TCPOptions{})
	defer p.Close()
	var once sync.Once
	inj.OnSend(func(frame []byte) bool {
		ip := header.IPv4(frame)
		if len(frame) < header.IPv4MinimumSize || ip.TransportProtocol() != header.TCPProtocolNumber {
			return true
		}
		keep := true
		if header.TCP(ip.Payload()).Flags() == header.TCPFlagSyn {
			once.Do(func() { keep = false })
		}
		return keep
	})
	l, err := gonet.ListenTCP(p.B.Netstack(), tcpip.FullAddress{Port: 4001}, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	c, err := gonet.DialContextTCP(ctx, p.A.Netstack(), tcpip.FullAddress{
		Addr: tcpip.AddrFromSlice(testutil.AddrB4.AsSlice()), Port: 4001}, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Logf("connected after %v (one SYN lost)", time.Since(start).Round(time.Millisecond))
	<-accepted
	var info tcpip.TCPInfoOption
	if err := tcpEndpoint(t, p.A).GetSockOpt(&info); err != nil {
		t.Fatal(err)
	}
	t.Logf("SRTT %v, RTTVAR %v, RTO %v", info.RTT, info.RTTVar, info.RTO)
	if info.RTT > 100*time.Millisecond {
		t.Errorf("SRTT after the handshake is %v on a link with no latency: the retransmitted SYN's stale timestamp was taken as a round trip", info.RTT)
	}
}

// tcpEndpoint returns the one connected (established or close-wait) TCP
// endpoint of st.
func tcpEndpoint(t *testing.T, st *stack.Stack) tcpip.Endpoint {
	t.Helper()
	var states []string
	for _, ep := range st.Netstack().RegisteredEndpoints() {
		te, ok := ep.(tcpip.Endpoint)
		if !ok {
			states = append(states, fmt.Sprintf("%T", ep))
			continue
		}
		if s := tcp.EndpointState(te.State()); s == tcp.StateEstablished || s == tcp.StateCloseWait {
			return te
		}
		states = append(states, tcp.EndpointState(te.State()).String())
	}
	t.Fatalf("no established endpoint among %v", states)
	return nil
}
