package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/internal/testutil"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/sim"
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
// Linux stamps each retransmission afresh, and so does the stack's link
// path (stack/synstamp.go). After a few round trips on a 2 ms link, the
// connection whose first SYN was lost has an RTO within twice that of one
// whose SYN was not, in real time and in the simulation.
func TestSRTTAfterSYNRetransmit(t *testing.T) {
	const latency, trips = 2 * time.Millisecond, 8
	for _, clock := range []struct {
		name string
		run  func(t *testing.T, loseSYN bool) tcpip.TCPInfoOption
	}{
		{"real time", func(t *testing.T, loseSYN bool) tcpip.TCPInfoOption {
			return rttAfterHandshake(t, latency, trips, loseSYN)
		}},
		{"sim", func(t *testing.T, loseSYN bool) tcpip.TCPInfoOption {
			return simRTTAfterHandshake(t, latency, trips, loseSYN)
		}},
	} {
		t.Run(clock.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			clean := clock.run(t, false)
			lost := clock.run(t, true)
			t.Logf("SYN not lost: SRTT %v, RTTVAR %v, RTO %v", clean.RTT, clean.RTTVar, clean.RTO)
			t.Logf("first SYN lost: SRTT %v, RTTVAR %v, RTO %v", lost.RTT, lost.RTTVar, lost.RTO)
			if lost.RTO > 2*clean.RTO {
				t.Errorf("after %d round trips, the RTO of the connection whose first SYN was lost is %v, against %v without the loss: the retransmitted SYN's stale timestamp was taken as a round trip", trips, lost.RTO, clean.RTO)
			}
			if lost.RTT > 100*time.Millisecond {
				t.Errorf("SRTT %v on a link with %v of latency", lost.RTT, latency)
			}
		})
	}
}

// rttAfterHandshake connects A to B over a memlink with the given latency,
// losing A's first SYN if loseSYN, runs trips echo round trips and returns
// A's view of the connection's RTT.
func rttAfterHandshake(t *testing.T, latency time.Duration, trips int, loseSYN bool) tcpip.TCPInfoOption {
	p, inj := testutil.NewInjectedPair(t, memlink.Options{Latency: latency}, stack.TCPOptions{})
	defer p.Close()
	var once sync.Once
	inj.OnSend(func(frame []byte) bool {
		ip := header.IPv4(frame)
		if !loseSYN || len(frame) < header.IPv4MinimumSize || ip.TransportProtocol() != header.TCPProtocolNumber {
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
	echoed := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			echoed <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, 16)
		for range trips {
			if _, err := io.ReadFull(c, buf); err != nil {
				echoed <- err
				return
			}
			if _, err := c.Write(buf); err != nil {
				echoed <- err
				return
			}
		}
		echoed <- nil
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
	t.Logf("connected after %v (first SYN lost: %v)", time.Since(start).Round(time.Millisecond), loseSYN)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 16)
	for range trips {
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-echoed; err != nil {
		t.Fatal(err)
	}
	var info tcpip.TCPInfoOption
	if err := tcpEndpoint(t, p.A).GetSockOpt(&info); err != nil {
		t.Fatal(err)
	}
	if loseSYN && p.A.GuardStats().SYNRestamps == 0 {
		t.Error("the SYN was lost, but no retransmitted SYN was restamped")
	}
	return info
}

// simRTTAfterHandshake is rttAfterHandshake in the simulation: the link
// from A to B is cut for the first 500 ms, so A's first SYN is lost.
func simRTTAfterHandshake(t *testing.T, latency time.Duration, trips int, loseSYN bool) tcpip.TCPInfoOption {
	var info tcpip.TCPInfoOption
	opts := sim.Options{Seed: 7, Link: memlink.Options{Latency: latency}}
	_, err := sim.Run(opts, func(s *sim.Sim) {
		if loseSYN {
			s.Partition(sim.AtoB)
			s.At(500*time.Millisecond, func() { s.Heal(sim.AtoB) })
		}
		s.Go(s.B(), func(p *gentcp.Process) error {
			l, err := p.Listen(7, gentcp.Binary, gentcp.Active(false))
			if err != nil {
				return err
			}
			c, err := p.Accept(l, gentcp.Infinity)
			if err != nil {
				return err
			}
			for range trips {
				d, err := c.Recv(16, gentcp.Infinity)
				if err != nil {
					return err
				}
				if err := c.Send(d.Bytes); err != nil {
					return err
				}
			}
			_, err = c.Recv(0, gentcp.Infinity) // until A closes
			if !errors.Is(err, gentcp.Closed) {
				return err
			}
			return nil
		})
		s.Go(s.A(), func(p *gentcp.Process) error {
			c, err := p.Connect("b", 7, 5*time.Second, gentcp.Binary, gentcp.Active(false))
			if err != nil {
				return err
			}
			defer c.Close()
			for range trips {
				if err := c.Send(make([]byte, 16)); err != nil {
					return err
				}
				if _, err := c.Recv(16, gentcp.Infinity); err != nil {
					return err
				}
			}
			a, _ := s.Stacks()
			ep, err := connectedEndpoint(a)
			if err != nil {
				return err
			}
			if err := ep.GetSockOpt(&info); err != nil {
				return fmt.Errorf("TCPInfo: %s", err)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// tcpEndpoint returns the one connected (established or close-wait) TCP
// endpoint of st.
func tcpEndpoint(t *testing.T, st *stack.Stack) tcpip.Endpoint {
	t.Helper()
	ep, err := connectedEndpoint(st)
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

// connectedEndpoint returns the one connected (established or close-wait)
// TCP endpoint of st.
func connectedEndpoint(st *stack.Stack) (tcpip.Endpoint, error) {
	var states []string
	for _, ep := range st.Netstack().RegisteredEndpoints() {
		te, ok := ep.(tcpip.Endpoint)
		if !ok {
			states = append(states, fmt.Sprintf("%T", ep))
			continue
		}
		if s := tcp.EndpointState(te.State()); s == tcp.StateEstablished || s == tcp.StateCloseWait {
			return te, nil
		}
		states = append(states, tcp.EndpointState(te.State()).String())
	}
	return nil, fmt.Errorf("no established endpoint among %v", states)
}
