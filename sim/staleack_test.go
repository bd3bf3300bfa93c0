package sim_test

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/sim"
	"github.com/usertcp/usertcp/stack"
)

// echoStall is what echoOverReorderingLink saw: how long the echo took,
// how much of it came back, the client's receive error (a timeout when
// the connection stalled), and the stacks' counts of ACKs whose window
// the link path replaced.
type echoStall struct {
	took, at   time.Duration
	echoed     int
	err        error
	staleWinds uint64
}

// echoOverReorderingLink is usertcp demo --sim --latency 5ms --jitter 2ms
// --jitter-reorders --rack at a seed: A echoes what B sends, both with
// {nodelay,true}, 64 KiB user buffers and the given TCP options, over a link
// whose 2 ms of independent jitter reorders frames both ways, ACKs
// included. B sends 8 MiB in 64 KiB writes while it reads the echo, and
// gives up when nothing comes back for 30 s of virtual time, as the demo
// does.
func echoOverReorderingLink(t *testing.T, seed uint64, tcp stack.TCPOptions) echoStall {
	t.Helper()
	const echoBytes = 8 << 20
	opts := sim.Options{
		Seed: seed,
		Link: memlink.Options{Latency: 5 * time.Millisecond, Jitter: 2 * time.Millisecond,
			JitterReorders: true, ChecksumOffload: true},
		A: sim.Stack{TCP: tcp},
		B: sim.Stack{TCP: tcp},
	}
	sockOpts := []gentcp.Option{gentcp.Binary, gentcp.Active(false), gentcp.PacketRaw, gentcp.Buffer(64 << 10), gentcp.Nodelay(true)}
	var st echoStall
	_, err := sim.Run(opts, func(s *sim.Sim) {
		s.Daemon(s.A(), func(p *gentcp.Process) error {
			l, err := p.Listen(7, sockOpts...)
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
					return nil // B gave up or is done
				}
				if err := c.Send(d.Bytes); err != nil {
					return nil
				}
			}
		})
		s.Go(s.B(), func(p *gentcp.Process) error {
			c, err := p.Connect("a", 7, time.Second, sockOpts...)
			if err != nil {
				return err
			}
			defer c.Close()
			start := s.Now()
			p.Node().Spawn(func(*gentcp.Process) {
				chunk := make([]byte, 64<<10)
				for sent := 0; sent < echoBytes; sent += len(chunk) {
					if c.Send(chunk) != nil {
						return
					}
				}
			})
			for st.echoed < echoBytes {
				d, err := c.Recv(0, 30*time.Second)
				if err != nil {
					st.err, st.at = err, s.Now()
					break
				}
				st.echoed += len(d.Bytes)
			}
			st.took = s.Now() - start
			a, b := s.Stacks()
			st.staleWinds = a.GuardStats().StaleACKWindows + b.GuardStats().StaleACKWindows
			return nil
		})
	})
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	return st
}

// stallSeed is a seed at which netstack's own window handling stalls the
// echo of echoOverReorderingLink for good.
const stallSeed = 3

// TestReorderedACKWidensSendWindow is the reproduction of the stall
// stack's staleACKs repairs (stack/staleack.go). netstack's sender takes
// its send window from every ACK, also one that arrives after a newer
// ACK, so reordered ACKs move the window's right edge past anything the
// receiver offered: here B sends some 21 KB beyond A's window while A's
// window is closing (A's echo waits for B to take what A sent). A drops
// that data, and with its window at zero it drops B's pure ACKs too: they
// carry B's SND.NXT, beyond A's window. A never learns that B has its
// echo, its echo never gets to send, its window stays shut, and B's zero
// window probes and A's retransmissions go on, each answered and each
// ignored, until B gives up.
//
// With netstack alone (KeepStaleACKWindows) this is the canary: it fails
// when netstack takes its window as RFC 9293 says and staleACKs can go.
// With the link path's repair the same seed echoes everything.
func TestReorderedACKWidensSendWindow(t *testing.T) {
	defer goleak.VerifyNone(t)
	rack := stack.TCPOptions{RACK: true}
	t.Run("netstack alone", func(t *testing.T) {
		netstackOnly := rack
		netstackOnly.KeepStaleACKWindows = true
		st := echoOverReorderingLink(t, stallSeed, netstackOnly)
		t.Logf("seed %d: %d of %d bytes echoed; B gave up at %v: %v", stallSeed, st.echoed, 8<<20, st.at, st.err)
		if !errors.Is(st.err, gentcp.Timeout) {
			t.Errorf("seed %d: netstack alone echoed %d bytes in %v (%v), where it stalled: its window handling changed, so stack/staleack.go may be unneeded (check the trace and TCPOptions.KeepStaleACKWindows)",
				stallSeed, st.echoed, st.took, st.err)
		}
	})
	t.Run("repaired", func(t *testing.T) {
		st := echoOverReorderingLink(t, stallSeed, rack)
		t.Logf("seed %d: %d bytes echoed in %v; %d reordered ACKs given the newer window", stallSeed, st.echoed, st.took, st.staleWinds)
		if st.err != nil {
			t.Fatalf("seed %d: the echo stalled after %d bytes at %v: %v", stallSeed, st.echoed, st.at, st.err)
		}
		if st.staleWinds == 0 {
			t.Errorf("seed %d: no ACK arrived behind a newer one: the seed no longer reproduces the reordering", stallSeed)
		}
	})
}

// TestReorderedACKStallSeeds runs the echo at seeds 1-10 with RACK, with
// and without the repair, and counts the stalls (the figures of
// BENCHMARKS.md and stack.TCPOptions.RACK's documentation; -v shows them):
// netstack alone stalls at some, the repaired stack at none.
func TestReorderedACKStallSeeds(t *testing.T) {
	// 10 seeds twice take about 15 s, 2 minutes under -race: -short and
	// -race run seeds 1-3 (seed 3 stalls without the repair).
	seeds := uint64(10)
	if testing.Short() || raceEnabled {
		seeds = 3
		t.Logf("-short or -race: seeds 1-%d only", seeds)
	}
	for _, keep := range []bool{true, false} {
		var stalled []uint64
		for seed := uint64(1); seed <= seeds; seed++ {
			st := echoOverReorderingLink(t, seed, stack.TCPOptions{RACK: true, KeepStaleACKWindows: keep})
			if st.err != nil {
				stalled = append(stalled, seed)
			}
		}
		what := "repaired"
		if keep {
			what = "netstack alone"
		}
		t.Logf("%s: %d of %d seeds stalled %v", what, len(stalled), seeds, stalled)
		if keep && len(stalled) == 0 {
			t.Errorf("netstack alone stalled at none of %d seeds: its window handling changed (see TestReorderedACKWidensSendWindow)", seeds)
		}
		if !keep && len(stalled) > 0 {
			t.Errorf("with the repair, seeds %v stalled", stalled)
		}
	}
}
