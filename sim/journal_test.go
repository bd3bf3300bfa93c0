package sim_test

import (
	"errors"
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

// echoRounds connects to host and echoes n messages of size bytes, each
// within timeout.
func echoRounds(p *gentcp.Process, host string, n, size int, timeout time.Duration) error {
	c, err := p.Connect(host, 7, timeout, gentcp.Binary, gentcp.Active(false))
	if err != nil {
		return err
	}
	msg := make([]byte, size)
	for i := range n {
		msg[0] = byte(i)
		if err := c.Send(msg); err != nil {
			return err
		}
		if _, err := c.Recv(size, timeout); err != nil {
			return err
		}
	}
	return c.Close()
}

// fates counts frames by fate.
func fates(fs []sim.Frame) map[sim.Fate]int {
	n := map[sim.Fate]int{}
	for _, f := range fs {
		n[f.Fate]++
	}
	return n
}

// TestJournal_FramesOnALossyLink: over a link that drops, duplicates and
// corrupts, every frame delivered was sent at least the latency before
// it arrived, and the frames the result calls dropped, duplicated and
// corrupted are as many as the network counted (the client reads the
// counters once the connection has closed on both sides and nothing is
// on the way); a hold from 3 s to 3.5 s delays the frames it kept, which
// say Held.
func TestJournal_FramesOnALossyLink(t *testing.T) {
	defer goleak.VerifyNone(t)
	const latency = time.Millisecond
	var c memlink.Counters
	opts := sim.Options{Seed: 7, A: sim.Host{Start: foreverServer},
		Link: memlink.Options{Latency: latency, Loss: 0.1, Duplicate: 0.05, Corrupt: 0.05}}
	res, err := sim.Run(opts, func(s *sim.Sim) {
		s.At(3*time.Second, func() { require.NoError(t, s.Hold(sim.AtoB)) })
		s.At(3500*time.Millisecond, func() { require.NoError(t, s.Release(sim.AtoB)) })
		s.Go(s.B(), func(p *gentcp.Process) error {
			if err := echoRounds(p, "a", 40, 3000, 30*time.Second); err != nil {
				return err
			}
			p.Sleep(30 * time.Second)
			c = s.Network().Counters("", "")
			return nil
		})
	})
	require.NoError(t, err)
	held := 0
	var dup, corrupt int
	for _, f := range res.Frames {
		assert.GreaterOrEqual(t, f.At-f.Sent, latency, "%v sent at %v", f, f.Sent)
		if f.Held {
			held++
			assert.Equal(t, "a", f.From, "held frame %v", f)
			assert.GreaterOrEqual(t, f.At, 3500*time.Millisecond, "held frame %v", f)
			assert.Less(t, f.Sent, 3500*time.Millisecond, "held frame %v", f)
		}
		if f.Duplicate {
			dup++
		}
		if f.Corrupted && !f.Duplicate {
			corrupt++
		}
		assert.Equal(t, sim.Delivered, f.Fate)
	}
	n := fates(res.Undelivered)
	assert.NotZero(t, held, "frames held")
	assert.Equal(t, int(c.Dropped-c.Cut), n[sim.Dropped], "dropped")
	assert.Zero(t, c.Cut)
	assert.Zero(t, n[sim.InFlight], "frames on the way at the end")
	assert.Equal(t, int(c.Duplicated), dup, "duplicated")
	assert.NotZero(t, dup)
	assert.Equal(t, int(c.Corrupted), corrupt, "corrupted")
	assert.NotZero(t, corrupt)
	assert.Equal(t, int(c.Frames), len(res.Frames)-dup+len(res.Undelivered), "every frame sent is accounted for")
	for _, f := range res.Undelivered {
		if f.Fate == sim.Dropped {
			assert.Equal(t, f.Sent, f.At, "a dropped frame is lost as it is sent")
		}
	}
}

// TestJournal_Events: the network events, crashes, restarts, notes,
// process ends and failures of a run are its Events, in order, each at
// its virtual time with its host and what it did.
func TestJournal_Events(t *testing.T) {
	defer goleak.VerifyNone(t)
	opts := sim.Options{Seed: 2, Hosts: []sim.Host{{}, {}, {}}}
	res, err := sim.Run(opts, func(s *sim.Sim) {
		s.At(time.Second, func() { require.NoError(t, s.Partition(sim.Across([]string{"n1"}, []string{"n2"}))) })
		s.At(2*time.Second, func() { require.NoError(t, s.Heal(sim.Everywhere)) })
		s.At(3*time.Second, func() { require.NoError(t, s.Hold(sim.Path("n2", "n3"))) })
		s.At(4*time.Second, func() { require.NoError(t, s.Release(sim.Between("n2", "n3"))) })
		s.At(5*time.Second, func() { require.NoError(t, s.SetLoss(sim.Between("n1", "n2"), 0.5)) })
		s.At(6*time.Second, func() { require.NoError(t, s.Crash("n3")) })
		s.At(7*time.Second, func() { require.NoError(t, s.Restart("n3")) })
		s.Go(s.Host("n2"), func(p *gentcp.Process) error {
			p.Sleep(1500 * time.Millisecond)
			require.NoError(t, s.Note("n2", "half way"))
			p.Sleep(6500 * time.Millisecond)
			s.Fail(errors.New("it went wrong"))
			return nil
		})
		s.Go(s.Host("n1"), func(p *gentcp.Process) error {
			p.Sleep(9 * time.Second)
			return errors.New("given up")
		})
		s.Daemon(s.Host("n3"), func(p *gentcp.Process) error {
			p.Sleep(time.Hour)
			return errors.New("woken by the crash")
		})
	})
	require.Error(t, err)
	assert.ErrorContains(t, err, "it went wrong")
	assert.ErrorContains(t, err, "given up")
	type ev struct {
		at         time.Duration
		kind, host string
		text       string
	}
	var got []ev
	for _, e := range res.Events {
		got = append(got, ev{e.At, e.Kind.String(), e.Host, e.Text})
	}
	assert.Equal(t, []ev{
		{time.Second, "partition", "", "n1 | n2 | n3"},
		{1500 * time.Millisecond, "note", "n2", "half way"},
		{2 * time.Second, "heal", "", "everywhere"},
		{3 * time.Second, "hold", "", "n2→n3"},
		{4 * time.Second, "release", "", "n2↔n3"},
		{5 * time.Second, "impair", "", "n1↔n2: loss 0.5"},
		{6 * time.Second, "crash", "n3", ""},
		{6 * time.Second, "exit", "n3", "n3 <0.1.0>: woken by the crash"},
		{7 * time.Second, "restart", "n3", ""},
		{8 * time.Second, "fail", "n2", "it went wrong"},
		{8 * time.Second, "exit", "n2", "n2 <0.1.0>"},
		{9 * time.Second, "error", "n1", "n1 <0.1.0>: given up"},
	}, got)
	assert.Len(t, res.Events[0].Links, 6, "three groups of one: every direction")
	assert.Equal(t, [][2]string{{"n2", "n3"}}, res.Events[3].Links)
	assert.Equal(t, []string{"n1", "n2", "n3"}, res.Hosts)
}

// TestJournal_CrashLosesFramesOnTheWay: n1 and n2 each send a message at
// 1 s over 1 ms; n1 crashes half a millisecond later. n1's segment is
// lost with its sender (Crashed, at the crash); n2's reaches a host that
// is down (Down, in Frames and the trace), and so does the FIN n2 sends
// at 1.1 s (Down, in Undelivered: n1's port is gone); n1 sends nothing
// more, though its stack closes its connection.
func TestJournal_CrashLosesFramesOnTheWay(t *testing.T) {
	defer goleak.VerifyNone(t)
	const crashAt = time.Second + 500*time.Microsecond
	sendAt := func(s *sim.Sim, p *gentcp.Process, c *gentcp.Socket) error {
		p.Sleep(time.Second - s.Now())
		return c.Send([]byte("at one second"))
	}
	opts := sim.Options{Seed: 3, Hosts: []sim.Host{{}, {}}, Link: memlink.Options{Latency: time.Millisecond}}
	res, err := sim.Run(opts, func(s *sim.Sim) {
		s.At(crashAt, func() { require.NoError(t, s.Crash("n1")) })
		s.Daemon(s.Host("n1"), func(p *gentcp.Process) error {
			l, err := p.Listen(7, gentcp.Binary, gentcp.Active(false))
			if err != nil {
				return err
			}
			c, err := p.Accept(l, gentcp.Infinity)
			if err != nil {
				return err
			}
			if err := sendAt(s, p, c); err != nil {
				return err
			}
			_, err = c.Recv(0, gentcp.Infinity)
			return err
		})
		s.Go(s.Host("n2"), func(p *gentcp.Process) error {
			c, err := p.Connect("n1", 7, time.Second, gentcp.Binary, gentcp.Active(false))
			if err != nil {
				return err
			}
			if err := sendAt(s, p, c); err != nil {
				return err
			}
			p.Sleep(100 * time.Millisecond)
			return c.Close()
		})
	})
	require.NoError(t, err)
	var crashed, down, downLater []sim.Frame
	for i, f := range append(res.Frames, res.Undelivered...) {
		switch {
		case f.Fate == sim.Crashed:
			crashed = append(crashed, f)
		case f.Fate == sim.Down && i < len(res.Frames):
			down = append(down, f)
		case f.Fate == sim.Down:
			downLater = append(downLater, f)
		}
		if f.From == "n1" {
			assert.Less(t, f.Sent, crashAt, "n1 sent %v after its crash", f)
		}
	}
	require.Len(t, crashed, 1)
	assert.Equal(t, time.Second, crashed[0].Sent)
	assert.Equal(t, crashAt, crashed[0].At)
	assert.Equal(t, "n2", crashed[0].To)
	require.NotEmpty(t, down)
	assert.Equal(t, time.Second, down[0].Sent)
	assert.Equal(t, time.Second+time.Millisecond, down[0].At)
	assert.Equal(t, "n1", down[0].To)
	require.NotEmpty(t, downLater)
	fin := downLater[0]
	assert.Equal(t, 1100*time.Millisecond, fin.Sent)
	assert.Equal(t, fin.Sent, fin.At)
	assert.Equal(t, "n1", fin.To)
	assert.Contains(t, fin.String(), "[F.]")
}

// TestJournal_Unroutable: a SYN to an address no host has is Unroutable,
// with no receiver, at the time it was sent.
func TestJournal_Unroutable(t *testing.T) {
	defer goleak.VerifyNone(t)
	res, err := sim.Run(sim.Options{Seed: 1, Hosts: []sim.Host{{}, {}, {}}}, func(s *sim.Sim) {
		s.Go(s.Host("n2"), func(p *gentcp.Process) error {
			_, err := p.Connect("10.0.0.99", 7, 500*time.Millisecond)
			if !errors.Is(err, gentcp.Timeout) {
				return err
			}
			return nil
		})
	})
	require.NoError(t, err)
	require.NotEmpty(t, res.Undelivered)
	f := res.Undelivered[0]
	assert.Equal(t, sim.Unroutable, f.Fate)
	assert.Equal(t, "n2", f.From)
	assert.Empty(t, f.To)
	assert.Zero(t, f.Sent)
	assert.Contains(t, f.String(), "10.0.0.99:7 [S]")
	seg, _, ok := f.Segment()
	require.True(t, ok)
	assert.Equal(t, netip.MustParseAddrPort("10.0.0.99:7"), seg.Dst)
	assert.Equal(t, "S", seg.FlagString())
	assert.Zero(t, seg.Len)
}
