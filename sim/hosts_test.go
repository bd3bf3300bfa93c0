package sim_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/sim"
)

// exchange connects to host's port 7, sends one byte and waits for its
// echo, each step within timeout.
func exchange(p *gentcp.Process, host string, timeout time.Duration) error {
	c, err := p.Connect(host, 7, timeout, gentcp.Binary, gentcp.Active(false))
	if err != nil {
		return fmt.Errorf("connect to %s: %w", host, err)
	}
	defer c.Close()
	if err := c.Send([]byte{'x'}); err != nil {
		return fmt.Errorf("send to %s: %w", host, err)
	}
	if _, err := c.Recv(1, timeout); err != nil {
		return fmt.Errorf("recv from %s: %w", host, err)
	}
	return nil
}

// servers returns n hosts with default names and addresses, each running
// foreverServer from the start.
func servers(n int) []sim.Host {
	hs := make([]sim.Host, n)
	for i := range hs {
		hs[i].Start = foreverServer
	}
	return hs
}

// TestHosts_EveryHostReachesEveryOther: five hosts with default names
// (n1..n5) and addresses (10.0.0.1/16..) each run a server from their
// start function, and a client on each reaches every other host by name.
// The trace names the sender and receiver of every frame.
func TestHosts_EveryHostReachesEveryOther(t *testing.T) {
	defer goleak.VerifyNone(t)
	var names []string
	res, err := sim.Run(sim.Options{Seed: 3, Hosts: servers(5)}, func(s *sim.Sim) {
		names = s.Hosts()
		for _, from := range names {
			s.Go(s.Host(from), func(p *gentcp.Process) error {
				for _, to := range names {
					if to != from {
						if err := exchange(p, to, time.Second); err != nil {
							return err
						}
					}
				}
				return nil
			})
		}
		assert.Nil(t, s.Host("n6"))
		a, _ := s.Stacks()
		assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.1/16")}, a.Addresses())
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"n1", "n2", "n3", "n4", "n5"}, names)
	pairs := map[string]int{}
	for _, f := range res.Frames {
		pairs[f.From+"→"+f.To]++
	}
	assert.Len(t, pairs, 20, "every ordered pair carried frames: %v", pairs)
}

// TestHosts_BadOptions: duplicate names and addresses, and Hosts mixed
// with A and B, are errors.
func TestHosts_BadOptions(t *testing.T) {
	defer goleak.VerifyNone(t)
	_, err := sim.New(sim.Options{Hosts: []sim.Host{{Name: "x"}, {Name: "x"}}})
	assert.ErrorContains(t, err, `two hosts are named "x"`)
	_, err = sim.New(sim.Options{Hosts: []sim.Host{{}, {Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/16")}}}})
	assert.ErrorIs(t, err, memlink.ErrAddressTaken)
	_, err = sim.New(sim.Options{Hosts: make([]sim.Host, 3), A: sim.Host{Name: "a"}})
	assert.ErrorContains(t, err, "not both")
	s, err := sim.New(sim.Options{Hosts: make([]sim.Host, 3)})
	require.NoError(t, err)
	defer s.Close()
	assert.ErrorIs(t, s.Cut("n1", "n9"), sim.ErrUnknownHost)
	assert.ErrorIs(t, s.Crash("n9"), sim.ErrUnknownHost)
	assert.ErrorContains(t, s.Partition(sim.Across([]string{"n1"}, []string{"n1", "n2"})), "in two groups")
	assert.ErrorContains(t, s.Hold(sim.Path("n2", "n2")), "to itself")
}

// probe is one exchange a test expects to work or to time out.
type probe struct {
	at       time.Duration
	from, to string
	ok       bool
}

// runProbes runs each probe as its own process (a 500 ms timeout per
// step) on four hosts with servers, with the events given, and returns
// the trace and, per probe, the error (nil if it worked).
func runProbes(t *testing.T, events func(s *sim.Sim), probes []probe) (*sim.Result, []error) {
	t.Helper()
	got := make([]error, len(probes))
	res, err := sim.Run(sim.Options{Seed: 1, Hosts: servers(4), Link: memlink.Options{Latency: time.Millisecond}}, func(s *sim.Sim) {
		events(s)
		for i, pr := range probes {
			s.Go(s.Host(pr.from), func(p *gentcp.Process) error {
				p.Sleep(pr.at)
				got[i] = exchange(p, pr.to, 500*time.Millisecond)
				return nil
			})
		}
	})
	require.NoError(t, err)
	for i, pr := range probes {
		t.Logf("%v %s→%s: %v", pr.at, pr.from, pr.to, got[i])
		if pr.ok {
			assert.NoError(t, got[i], "%v %s→%s", pr.at, pr.from, pr.to)
		} else {
			assert.ErrorIs(t, got[i], gentcp.Timeout, "%v %s→%s", pr.at, pr.from, pr.to)
		}
	}
	return res, got
}

// TestPartition_Groups: a partition into {n1,n2} | {n3,n4} lets frames
// through within each group and drops them across; Heal(Everywhere)
// restores the network.
func TestPartition_Groups(t *testing.T) {
	defer goleak.VerifyNone(t)
	res, _ := runProbes(t, func(s *sim.Sim) {
		s.At(time.Second, func() {
			require.NoError(t, s.Partition(sim.Across([]string{"n1", "n2"}, []string{"n3", "n4"})))
		})
		s.At(3*time.Second, func() { require.NoError(t, s.Heal(sim.Everywhere)) })
	}, []probe{
		{500 * time.Millisecond, "n1", "n3", true},
		{1500 * time.Millisecond, "n1", "n2", true},
		{1500 * time.Millisecond, "n4", "n3", true},
		{1500 * time.Millisecond, "n1", "n3", false},
		{1500 * time.Millisecond, "n4", "n2", false},
		{3500 * time.Millisecond, "n1", "n3", true},
		{3500 * time.Millisecond, "n4", "n2", true},
	})
	for _, f := range res.Frames {
		if f.At > time.Second && f.At < 3*time.Second {
			across := (f.From <= "n2") != (f.To <= "n2")
			assert.False(t, across, "frame across the partition: %v", f)
		}
	}
}

// TestPartition_OneWayCut: after Cut(n1, n2), n2 hears nothing from n1
// while n1 still hears n2 (so TCP fails both ways: n1's SYN-ACKs are
// lost), other pairs are untouched, and healing the path restores it.
func TestPartition_OneWayCut(t *testing.T) {
	defer goleak.VerifyNone(t)
	res, _ := runProbes(t, func(s *sim.Sim) {
		s.At(time.Second, func() { require.NoError(t, s.Cut("n1", "n2")) })
		s.At(3*time.Second, func() { require.NoError(t, s.Heal(sim.Path("n1", "n2"))) })
	}, []probe{
		{1500 * time.Millisecond, "n1", "n2", false},
		{1500 * time.Millisecond, "n2", "n1", false},
		{1500 * time.Millisecond, "n1", "n3", true},
		{1500 * time.Millisecond, "n3", "n2", true},
		{3500 * time.Millisecond, "n1", "n2", true},
		{3500 * time.Millisecond, "n2", "n1", true},
	})
	heard := 0
	for _, f := range res.Frames {
		if f.At > time.Second && f.At < 3*time.Second {
			assert.False(t, f.From == "n1" && f.To == "n2", "frame on the cut path: %v", f)
			if f.From == "n2" && f.To == "n1" {
				heard++
			}
		}
	}
	assert.Positive(t, heard, "n1 still hears n2 during the cut")
}

// TestPartition_HoldAndRelease: frames on a held path wait, lose
// nothing, and cross at the release; an exchange started during the
// hold with a timeout longer than the hold completes just after it.
func TestPartition_HoldAndRelease(t *testing.T) {
	defer goleak.VerifyNone(t)
	var done time.Duration
	_, err := sim.Run(sim.Options{Seed: 1, Hosts: servers(3), Link: memlink.Options{Latency: time.Millisecond}}, func(s *sim.Sim) {
		s.At(time.Second, func() { require.NoError(t, s.Hold(sim.Path("n1", "n3"))) })
		s.At(4*time.Second, func() { require.NoError(t, s.Release(sim.Path("n1", "n3"))) })
		s.Go(s.Host("n1"), func(p *gentcp.Process) error {
			p.Sleep(2 * time.Second)
			if err := exchange(p, "n2", time.Second); err != nil {
				return err // not held
			}
			if err := exchange(p, "n3", 10*time.Second); err != nil {
				return err
			}
			done = s.Now()
			return nil
		})
	})
	require.NoError(t, err)
	assert.Greater(t, done, 4*time.Second, "the SYN waited for the release")
	assert.Less(t, done, 4*time.Second+50*time.Millisecond, "and crossed at once then")
}
