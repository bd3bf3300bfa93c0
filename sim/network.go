package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/usertcp/usertcp/link/delay"
	"github.com/usertcp/usertcp/link/fault"
	"github.com/usertcp/usertcp/link/memlink"
)

// Links selects directions of the network: ordered pairs of hosts (the
// frames one sends to the other). The network controls of Sim take one:
// a Dir (between A and B), Path, Between, Across or Everywhere.
type Links interface {
	// pairs returns the ordered pairs selected, or an error naming an
	// unknown host.
	pairs(s *Sim) ([]pair, error)
}

// pair is an ordered pair of hosts: the frames from sends to to.
type pair struct{ from, to *host }

// Dir names directions between the first two hosts, A and B.
type Dir int

// The directions: the frames A sends to B, those B sends to A, or both.
const (
	AtoB Dir = 1 << iota
	BtoA
	Both = AtoB | BtoA
)

// String returns "a→b", "b→a" or "both".
func (d Dir) String() string {
	switch d {
	case AtoB:
		return "a→b"
	case BtoA:
		return "b→a"
	case Both:
		return "both"
	}
	return fmt.Sprintf("Dir(%d)", int(d))
}

func (d Dir) pairs(s *Sim) ([]pair, error) {
	if d&^Both != 0 || d == 0 {
		return nil, fmt.Errorf("sim: %v is not a direction", d)
	}
	a, b := s.hosts[0], s.hosts[1]
	var out []pair
	if d&AtoB != 0 {
		out = append(out, pair{a, b})
	}
	if d&BtoA != 0 {
		out = append(out, pair{b, a})
	}
	return out, nil
}

// Path selects one direction: the frames from sends to to.
func Path(from, to string) Links { return namedPairs{{from, to}} }

// Between selects both directions between two hosts.
func Between(a, b string) Links { return namedPairs{{a, b}, {b, a}} }

type namedPairs [][2]string

func (np namedPairs) pairs(s *Sim) ([]pair, error) {
	var out []pair
	for _, p := range np {
		from, err := s.host(p[0])
		if err != nil {
			return nil, err
		}
		to, err := s.host(p[1])
		if err != nil {
			return nil, err
		}
		if from == to {
			return nil, fmt.Errorf("sim: a path from %q to itself", from.name)
		}
		out = append(out, pair{from, to})
	}
	return out, nil
}

// Across selects both directions between every two hosts of different
// groups: Partition(Across(g1, g2)) cuts the network into the groups,
// frames within a group still pass. The hosts named in no group form one
// more group together.
func Across(groups ...[]string) Links { return across(groups) }

type across [][]string

func (g across) pairs(s *Sim) ([]pair, error) {
	group := make([]int, len(s.hosts)) // 0: in no group
	for i, names := range g {
		for _, name := range names {
			h, err := s.host(name)
			if err != nil {
				return nil, err
			}
			if group[h.index] != 0 {
				return nil, fmt.Errorf("sim: host %q is in two groups", name)
			}
			group[h.index] = i + 1
		}
	}
	var out []pair
	for _, from := range s.hosts {
		for _, to := range s.hosts {
			if group[from.index] != group[to.index] {
				out = append(out, pair{from, to})
			}
		}
	}
	return out, nil
}

// Everywhere selects every direction of the network: Heal(Everywhere)
// ends every partition.
var Everywhere Links = everywhere{}

type everywhere struct{}

func (everywhere) pairs(s *Sim) ([]pair, error) {
	var out []pair
	for _, from := range s.hosts {
		for _, to := range s.hosts {
			if from != to {
				out = append(out, pair{from, to})
			}
		}
	}
	return out, nil
}

// linkState is what the simulation set on each pair: the cuts, and the
// impairments SetLoss and SetLatency change one field of.
type linkState struct {
	defFault fault.Config
	defDelay delay.Config
	faults   map[pair]fault.Config
	delays   map[pair]delay.Config
	cuts     map[pair]bool
}

func newLinkState(lo memlink.Options) linkState {
	return linkState{
		defFault: fault.Config{Loss: lo.Loss, Duplicate: lo.Duplicate, Corrupt: lo.Corrupt},
		defDelay: delay.Config{Latency: lo.Latency, Jitter: lo.Jitter, JitterReorders: lo.JitterReorders,
			Reorder: lo.Reorder, Rate: lo.Rate},
		faults: map[pair]fault.Config{},
		delays: map[pair]delay.Config{},
		cuts:   map[pair]bool{},
	}
}

func (l *linkState) fault(p pair) fault.Config {
	if c, ok := l.faults[p]; ok {
		return c
	}
	return l.defFault
}

func (l *linkState) delay(p pair) delay.Config {
	if c, ok := l.delays[p]; ok {
		return c
	}
	return l.defDelay
}

// Partition drops every frame sent on the selected directions until
// Heal: Partition(Across(g1, g2)) cuts the network into groups,
// Partition(Path(from, to)) is a one-way cut (to no longer hears from,
// from still hears to), Partition(Both) cuts A from B. Partitions add up:
// a direction stays cut until a Heal selects it.
func (s *Sim) Partition(l Links) error {
	return s.setCut(l, true)
}

// Cut is Partition(Path(from, to)): to no longer hears from.
func (s *Sim) Cut(from, to string) error {
	return s.Partition(Path(from, to))
}

// Heal ends the partition of the selected directions: Heal(Everywhere)
// heals the whole network. Holds stay.
func (s *Sim) Heal(l Links) error {
	return s.setCut(l, false)
}

func (s *Sim) setCut(l Links, cut bool) error {
	ps, err := l.pairs(s)
	if err != nil {
		return err
	}
	kind := EventHeal
	if cut {
		kind = EventPartition
	}
	s.linkEvent(kind, l, ps, "")
	for _, p := range ps {
		if cut {
			s.links.cuts[p] = true
		} else {
			delete(s.links.cuts, p)
		}
	}
	// The network cuts pairs one at a time and heals all at once: heal,
	// then cut what stays cut. Nothing is sent in between (the
	// simulation runs one thing at a time).
	s.net.Heal()
	for p := range s.links.cuts {
		if err := s.net.Cut(p.from.portName, p.to.portName); err != nil {
			return fmt.Errorf("sim: %w", err)
		}
	}
	return nil
}

// Hold keeps the frames of the selected directions on the wire, in order,
// until Release: a stalled direction that loses nothing.
func (s *Sim) Hold(l Links) error {
	return s.eachPair(l, EventHold, "", func(p pair) error { return s.net.Hold(p.from.portName, p.to.portName) })
}

// Release delivers the frames Hold kept, in order, and lets later ones
// through.
func (s *Sim) Release(l Links) error {
	return s.eachPair(l, EventRelease, "", func(p pair) error { return s.net.Release(p.from.portName, p.to.portName) })
}

// SetLoss sets the loss probability of the selected directions.
func (s *Sim) SetLoss(l Links, p float64) error {
	return s.eachPair(l, EventImpair, fmt.Sprintf("loss %v", p), func(pr pair) error {
		c := s.links.fault(pr)
		c.Loss = p
		return s.setFaults(pr, c)
	})
}

// SetLatency sets the one-way latency of the selected directions (at
// least MinLatency); frames already on their way keep theirs.
func (s *Sim) SetLatency(l Links, latency time.Duration) error {
	return s.eachPair(l, EventImpair, fmt.Sprintf("latency %v", latency), func(p pair) error {
		c := s.links.delay(p)
		c.Latency = latency
		return s.setDelay(p, c)
	})
}

// SetFaults replaces loss, duplication and corruption of the selected
// directions.
func (s *Sim) SetFaults(l Links, c fault.Config) error {
	text := fmt.Sprintf("loss %v, duplicate %v, corrupt %v", c.Loss, c.Duplicate, c.Corrupt)
	return s.eachPair(l, EventImpair, text, func(p pair) error { return s.setFaults(p, c) })
}

// SetDelay replaces latency (at least MinLatency), jitter, reordering and
// rate of the selected directions.
func (s *Sim) SetDelay(l Links, c delay.Config) error {
	text := fmt.Sprintf("latency %v, jitter %v, reorder %v, rate %d B/s", max(c.Latency, MinLatency), c.Jitter, c.Reorder, c.Rate)
	return s.eachPair(l, EventImpair, text, func(p pair) error { return s.setDelay(p, c) })
}

func (s *Sim) setFaults(p pair, c fault.Config) error {
	if err := s.net.SetFaults(p.from.portName, p.to.portName, c); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	s.links.faults[p] = c
	return nil
}

func (s *Sim) setDelay(p pair, c delay.Config) error {
	c.Latency = max(c.Latency, MinLatency)
	if err := s.net.SetDelay(p.from.portName, p.to.portName, c); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	s.links.delays[p] = c
	return nil
}

// eachPair applies f to each direction l selects, recording the event.
func (s *Sim) eachPair(l Links, kind EventKind, text string, f func(p pair) error) error {
	ps, err := l.pairs(s)
	if err != nil {
		return err
	}
	s.linkEvent(kind, l, ps, text)
	var errs []error
	for _, p := range ps {
		errs = append(errs, f(p))
	}
	return errors.Join(errs...)
}
