package sim_test

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/sim"
	"github.com/usertcp/usertcp/stack"
)

// laggingReader is what streamToLaggingReader saw.
type laggingReader struct {
	// done is the virtual time B had every message at.
	done time.Duration
	// timeouts and retransmits are A's retransmission timeouts and
	// retransmitted segments; refused is B's count of segments netstack
	// dropped (DroppedPackets: a full receive buffer), held those the link
	// path kept and delivered again.
	timeouts, retransmits, refused, held uint64
	// badChecksums counts the segments A's netstack dropped for a wrong
	// TCP checksum: B's link path rewrites the windows it sends while it
	// holds segments, and must mend their checksums.
	badChecksums uint64
}

// Lagging-reader scenario: A streams laggingMessages 64-byte {packet,4}
// messages with {nodelay,true}, one every 500 ns of virtual time (2
// million a second, each a 68-byte segment of its own), and B reads them
// passively but stops for laggingStall after every laggingEvery
// messages, as a reader does that the scheduler leaves aside for a while.
const (
	laggingMessages = 20000
	laggingEvery    = 5000
	laggingStall    = 2 * time.Millisecond
)

// streamToLaggingReader runs the lagging-reader scenario over a memlink
// with 20 µs of latency and the given MTU, both stacks with tcp.
func streamToLaggingReader(t *testing.T, mtu uint32, tcp stack.TCPOptions) laggingReader {
	t.Helper()
	opts := sim.Options{
		Seed:  1,
		Link:  memlink.Options{Latency: 20 * time.Microsecond, MTU: mtu},
		A:     sim.Stack{TCP: tcp},
		B:     sim.Stack{TCP: tcp},
		Limit: 10 * time.Minute,
	}
	var r laggingReader
	_, err := sim.Run(opts, func(s *sim.Sim) {
		s.Go(s.B(), func(p *gentcp.Process) error {
			l, err := p.Listen(7, gentcp.Binary, gentcp.Packet(4), gentcp.Active(false), gentcp.Buffer(64<<10))
			if err != nil {
				return err
			}
			c, err := p.Accept(l, gentcp.Infinity)
			if err != nil {
				return err
			}
			for i := range laggingMessages {
				d, err := c.Recv(0, gentcp.Infinity)
				if err != nil {
					return err
				}
				if len(d.Bytes) != 64 {
					return fmt.Errorf("message %d has %d bytes", i, len(d.Bytes))
				}
				if i%laggingEvery == laggingEvery-1 {
					p.Sleep(laggingStall)
				}
			}
			r.done = s.Now()
			a, b := s.Stacks()
			r.timeouts = a.Netstack().Stats().TCP.Timeouts.Value()
			r.retransmits = a.Netstack().Stats().TCP.Retransmits.Value()
			r.refused = b.Netstack().Stats().DroppedPackets.Value()
			r.held = b.GuardStats().HeldSegments
			r.badChecksums = a.Netstack().Stats().TCP.ChecksumErrors.Value()
			return c.Close()
		})
		s.Go(s.A(), func(p *gentcp.Process) error { return sendSmallMessages(p, laggingMessages, 500*time.Nanosecond) })
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestLaggingReaderLosesNoSegments is issue 21's collapse of small-message
// streams, and its repair (stack/rxhold.go). netstack charges each queued
// segment some 700 bytes of receive buffer (transport/tcp segMemSize) but
// offers a window of half the buffer in payload bytes, so when the reader
// stops, the 68-byte segments in the window it offered need five times
// the buffer, and netstack drops every one after the first ~1,500
// (segmentQueue.enqueue). At MTU 65520 the sender then waits for a
// retransmission timeout: its SACK recovery counts a hole lost only once
// 2·SMSS (131 KB) above it is SACKed, so its pipe never falls below its
// window. Each 2 ms stall of the reader cost 200 ms, as the benchmark's
// message rate fell to a quarter in some rounds.
//
// With netstack alone (the default) this is the canary: it fails when
// netstack stops dropping segments inside its window for want of memory,
// and rxhold.go can go. With the link path's hold
// (TCPOptions.HoldReceiveBufferDrops, at MTU 65520), the same stream
// loses nothing: no segment is retransmitted and the stream takes the
// time of its stalls. At MTU 1500 the hold leaves the drops to netstack
// (rxhold.go holdMinMTU): SACK recovery repairs them without a timeout,
// in the same time.
func TestLaggingReaderLosesNoSegments(t *testing.T) {
	defer goleak.VerifyNone(t)
	// The stream itself takes 10 ms (2 million messages a second); the
	// reader catches up after each stall, so even if none overlapped with
	// the sending, 4 × 2 ms more would be the most it can take.
	const bound = laggingMessages/2000*time.Millisecond + laggingMessages/laggingEvery*laggingStall
	for _, mtu := range []uint32{1500, 65520} {
		t.Run(fmt.Sprintf("mtu=%d", mtu), func(t *testing.T) {
			t.Run("netstack alone", func(t *testing.T) {
				r := streamToLaggingReader(t, mtu, stack.TCPOptions{})
				t.Logf("every message at %v of virtual time; B's netstack dropped %d segments, A retransmitted %d in %d timeouts",
					r.done, r.refused, r.retransmits, r.timeouts)
				if r.refused == 0 || r.retransmits == 0 {
					t.Errorf("netstack dropped %d segments of a stream to a lagging reader and %d were retransmitted: its receive buffer accounting changed, so stack/rxhold.go may be unneeded (check TCPOptions.HoldReceiveBufferDrops)",
						r.refused, r.retransmits)
				}
				if mtu == 65520 && r.timeouts == 0 {
					t.Errorf("at MTU 65520 the sender recovered without a retransmission timeout (all at %v): its SACK recovery changed", r.done)
				}
			})
			t.Run("held", func(t *testing.T) {
				r := streamToLaggingReader(t, mtu, stack.TCPOptions{HoldReceiveBufferDrops: true})
				t.Logf("every message at %v of virtual time (at most %v); B held %d segments netstack refused, A retransmitted %d in %d timeouts",
					r.done, bound, r.held, r.retransmits, r.timeouts)
				if r.timeouts != 0 {
					t.Errorf("A had %d retransmission timeouts", r.timeouts)
				}
				if r.badChecksums != 0 {
					t.Errorf("A dropped %d segments from B for a wrong checksum: a window B's link path rewrote kept the old checksum", r.badChecksums)
				}
				if mtu >= 16<<10 {
					if r.retransmits != 0 {
						t.Errorf("A retransmitted %d segments: segments inside B's window were lost", r.retransmits)
					}
					if r.held == 0 {
						t.Errorf("B held no segment: the reader's stalls no longer fill netstack's receive buffer, so the test shows nothing")
					}
				} else if r.held != 0 {
					t.Errorf("B held %d segments at MTU %d, below the hold's least MTU", r.held, mtu)
				}
				if r.done > bound {
					t.Errorf("the stream took %v of virtual time, more than %v: held segments waited", r.done, bound)
				}
			})
		})
	}
}
