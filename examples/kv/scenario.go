package kv

import (
	"fmt"
	"time"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/sim"
)

// The scenario: the client writes Puts keys one after another; at
// PartitionAt the primary is cut off from the other servers and the
// client, a backup takes over, and the client goes on with it. Then it
// reads every key it was told was stored back from the new primary.
const (
	Puts        = 120
	PartitionAt = 200 * time.Millisecond
)

// LosingSeed is a seed for which Naive loses acknowledged writes, and
// Safe keeps them all: kv1's replication segment carrying k006 to kv2 is
// lost at 18 ms and so is its fast retransmission, so TCP waits for its
// retransmission timeout (200 ms) with every later put queued behind the
// hole; kv1 has acknowledged k006 to k020 by then, and the partition at
// 200 ms comes first. (Seed 1 loses writes another way: kv2's SYN-ACK is
// lost, and kv1 acknowledges puts before any backup is connected.)
const LosingSeed = 15

// Options returns the scenario's simulation: the three servers running
// mode and a host "client", 2% loss and 1 ms ± 200 µs on every path.
func Options(seed uint64, mode Mode) sim.Options {
	var hosts []sim.Host
	for rank, name := range Nodes {
		hosts = append(hosts, sim.Host{Name: name, Start: Server(rank, mode)})
	}
	hosts = append(hosts, sim.Host{Name: "client"})
	return sim.Options{Seed: seed, Hosts: hosts, Link: memlink.Options{
		Loss: 0.02, Latency: time.Millisecond, Jitter: 200 * time.Microsecond}}
}

// Report is what the client saw.
type Report struct {
	Acked  int      // puts acknowledged
	Lost   []string // acknowledged keys the primary at the end does not have
	Leader string   // the node that answered the reads
	// AckedAt is the virtual time each key's put was acknowledged, and
	// AckedBy the node that acknowledged it.
	AckedAt map[string]time.Duration
	AckedBy map[string]string
}

// String says what was lost, or that nothing was:
//
//	120 puts acknowledged; kv2 lacks 15 of them: k006 (acknowledged at 18.189ms) ... k020 (50.31ms)
func (r *Report) String() string {
	switch len(r.Lost) {
	case 0:
		return fmt.Sprintf("%d puts acknowledged, all read back from %s", r.Acked, r.Leader)
	case 1:
		return fmt.Sprintf("%d puts acknowledged; %s lacks %s (acknowledged at %v)", r.Acked, r.Leader, r.Lost[0], r.at(r.Lost[0]))
	}
	first, last := r.Lost[0], r.Lost[len(r.Lost)-1]
	return fmt.Sprintf("%d puts acknowledged; %s lacks %d of them: %s (acknowledged at %v) ... %s (%v)",
		r.Acked, r.Leader, len(r.Lost), first, r.at(first), last, r.at(last))
}

func (r *Report) at(k string) time.Duration { return r.AckedAt[k].Round(time.Microsecond) }

// Setup partitions the primary at PartitionAt and starts the client,
// which fills r. The client marks the run's timeline (Sim.Note) with
// what the frames do not show: each put acknowledged ("put k006
// acknowledged by kv1", on its own lane) and each acknowledged key a read
// then did not find ("lacks k006, acknowledged by kv1 at 18.189ms", on
// the lane of the node that answered the read).
func Setup(r *Report) func(s *sim.Sim) {
	return func(s *sim.Sim) {
		s.At(PartitionAt, func() {
			if err := s.Partition(sim.Across([]string{Nodes[0]}, []string{Nodes[1], Nodes[2], "client"})); err != nil {
				s.Fail(err)
			}
		})
		s.Go(s.Host("client"), func(p *gentcp.Process) error {
			c := NewClient(p)
			defer c.Close()
			r.AckedAt, r.AckedBy = map[string]time.Duration{}, map[string]string{}
			var acked []string
			for i := range Puts {
				k := fmt.Sprintf("k%03d", i)
				if err := c.Put(k, fmt.Sprint(i)); err != nil {
					return err
				}
				acked = append(acked, k)
				r.AckedAt[k], r.AckedBy[k] = s.Now(), c.Leader()
				if err := note(s, "client", "put %s acknowledged by %s", k, c.Leader()); err != nil {
					return err
				}
			}
			r.Acked = len(acked)
			for _, k := range acked {
				if _, found, err := c.Get(k); err != nil {
					return err
				} else if !found {
					r.Lost = append(r.Lost, k)
					// On the lane of the node that lacks it.
					if err := note(s, c.Leader(), "lacks %s, acknowledged by %s at %v", k, r.AckedBy[k], r.at(k)); err != nil {
						return err
					}
				}
			}
			r.Leader = c.Leader()
			return nil
		})
	}
}

// note marks what the client learned on host's lane of the run's
// timeline (Sim.Note): what the frames alone do not say.
func note(s *sim.Sim, host, format string, args ...any) error {
	return s.Note(host, fmt.Sprintf(format, args...))
}

// Run runs the scenario with seed and mode: sim.Run(Options(seed, mode),
// Setup(report)). The error is the run's (a process that failed, a
// deadlock); lost writes are in the report, not an error.
func Run(seed uint64, mode Mode) (*sim.Result, *Report, error) {
	r := &Report{}
	res, err := sim.Run(Options(seed, mode), Setup(r))
	return res, r, err
}
