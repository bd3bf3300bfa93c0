package sim_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"go.uber.org/goleak"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/sim"
	"github.com/usertcp/usertcp/stack"
)

// senderSample is what netstack's TCP sender of A believed at one moment.
type senderSample struct {
	at          time.Duration
	cwnd        int // congestion window, in segments
	outstanding int // what the sender counts in flight, in segments
	flight      int // SndNxt - SndUna: what is really unacknowledged, in segments
	unsent      int // bytes in the send buffer not yet sent
}

// sampleSender reads A's connection's sender state. netstack exports none
// of it, so it is read (never written) by reflection, from a simulation
// event: the barrier before it leaves netstack quiescent.
func sampleSender(t *testing.T, s *sim.Sim) (senderSample, bool) {
	a, _ := s.Stacks()
	for _, tep := range a.Netstack().RegisteredEndpoints() {
		ep, ok := tep.(*tcp.Endpoint)
		if !ok || ep.EndpointState() != tcp.StateEstablished {
			continue
		}
		v := reflect.ValueOf(ep).Elem()
		snd := v.FieldByName("snd")
		queue := v.FieldByName("sndQueueInfo")
		if !snd.IsValid() || snd.IsNil() || !queue.IsValid() {
			t.Fatalf("gVisor's tcp.Endpoint has no snd or sndQueueInfo field any more: update sampleSender")
		}
		snd = snd.Elem()
		field := func(st reflect.Value, name string) reflect.Value {
			f := st.FieldByName(name)
			if !f.IsValid() {
				t.Fatalf("gVisor's TCP sender state has no %s field any more: update sampleSender", name)
			}
			return f
		}
		mss := int(field(snd, "MaxPayloadSize").Int())
		flightBytes := int(uint32(field(snd, "SndNxt").Uint() - field(snd, "SndUna").Uint()))
		return senderSample{
			at:          s.Now(),
			cwnd:        int(field(snd, "SndCwnd").Int()),
			outstanding: int(field(snd, "Outstanding").Int()),
			flight:      (flightBytes + mss - 1) / mss,
			unsent:      int(field(queue, "SndBufUsed").Int()) - flightBytes,
		}, true
	}
	return senderSample{}, false
}

// echoOverJitter echoes echoBytes from A through B and back, with gen_tcp's
// default options (Nagle on), over a 20 ms link with 2 ms of jitter both
// ways and RACK on in both stacks. It returns the virtual time the echo
// took and A's sender state sampled every second.
func echoOverJitter(t *testing.T, jitterReorders bool) (time.Duration, []senderSample) {
	t.Helper()
	const echoBytes = 8 << 20
	rack := stack.TCPOptions{RACK: true}
	opts := sim.Options{
		Seed: 1,
		Link: memlink.Options{Latency: 20 * time.Millisecond, Jitter: 2 * time.Millisecond,
			JitterReorders: jitterReorders, ChecksumOffload: true},
		A: sim.Stack{TCP: rack},
		B: sim.Stack{TCP: rack},
	}
	var took time.Duration
	var samples []senderSample
	_, err := sim.Run(opts, func(s *sim.Sim) {
		var sample func()
		sample = func() {
			if took != 0 {
				return
			}
			if sm, ok := sampleSender(t, s); ok {
				samples = append(samples, sm)
			}
			s.At(s.Now()+time.Second, sample)
		}
		s.At(time.Second, sample)
		s.Go(s.B(), func(p *gentcp.Process) error {
			l, err := p.Listen(7, gentcp.Binary, gentcp.Active(false))
			if err != nil {
				return err
			}
			c, err := p.Accept(l, gentcp.Infinity)
			if err != nil {
				return err
			}
			for {
				d, err := c.Recv(0, gentcp.Infinity)
				if err != nil {
					return c.Close()
				}
				if err := c.Send(d.Bytes); err != nil {
					return err
				}
			}
		})
		s.Go(s.A(), func(p *gentcp.Process) error {
			c, err := p.Connect("b", 7, time.Second, gentcp.Binary, gentcp.Active(false))
			if err != nil {
				return err
			}
			start := s.Now()
			s.Go(s.A(), func(*gentcp.Process) error {
				chunk := make([]byte, 64<<10)
				for sent := 0; sent < echoBytes; sent += len(chunk) {
					if err := c.Send(chunk); err != nil {
						return err
					}
				}
				return nil
			})
			for got := 0; got < echoBytes; {
				d, err := c.Recv(0, time.Minute)
				if err != nil {
					return fmt.Errorf("echo after %d bytes: %w", got, err)
				}
				got += len(d.Bytes)
			}
			took = s.Now() - start
			return c.Close()
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return took, samples
}

// TestReorderedSACKsLeakSenderWindow is why a link whose frames overtake
// one another (delay's JitterReorders) costs far more than its
// retransmissions explain, even with RACK (BENCHMARKS.md, "Jitter and
// reordering"). netstack's sender (transport/tcp/snd.go, handleRcvdSegment)
// does not take a segment off Outstanding when a cumulative ACK covers it
// after a SACK did, counting on SetPipe to recompute Outstanding; SetPipe
// runs only during fast recovery. Outside recovery, which RACK keeps it in
// through reordering, every segment SACKed before it was acknowledged stays
// counted in flight until the whole window is acknowledged: Outstanding
// reaches the congestion window while a fraction of it is really in
// flight, and the sender waits with data queued.
//
// The same echo with jitter that keeps the order takes half a second. With
// the ACK loop taking such a segment off Outstanding outside recovery too
// (tried on a patched copy of gVisor, which a replace in go.mod would not
// ship to library users), the reordering echo takes 3.0 s instead of
// 17.4 s; the rest is one spurious recovery early on, which netstack
// never undoes. The test fails when gVisor fixes the accounting; the
// jitter docs and BENCHMARKS.md should then be revisited.
func TestReorderedSACKsLeakSenderWindow(t *testing.T) {
	defer goleak.VerifyNone(t)
	ordered, _ := echoOverJitter(t, false)
	reordered, samples := echoOverJitter(t, true)
	t.Logf("8 MiB echoed in %v with order-keeping jitter, %v with independent jitter (virtual time)", ordered, reordered)
	leak := 0
	for _, sm := range samples {
		t.Logf("%6v cwnd %4d, counted in flight %4d, really in flight %4d, %7d bytes waiting to be sent",
			sm.at, sm.cwnd, sm.outstanding, sm.flight, sm.unsent)
		if sm.unsent > 0 {
			leak = max(leak, sm.outstanding-sm.flight)
		}
	}
	if leak < 50 {
		t.Errorf("A's sender counted at most %d segments more in flight than it had, with data waiting: netstack's accounting changed; revisit BENCHMARKS.md", leak)
	}
	if reordered < 5*ordered {
		t.Errorf("independent jitter costs %v against %v: netstack's accounting changed; revisit BENCHMARKS.md", reordered, ordered)
	}
}
