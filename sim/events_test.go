package sim_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/sim"
)

// pingServer echoes every byte on port 7 until the peer closes.
func pingServer(p *gentcp.Process) error {
	l, err := p.Listen(7, gentcp.Binary, gentcp.Active(false), gentcp.Nodelay(true))
	if err != nil {
		return err
	}
	c, err := p.Accept(l, 10*time.Second)
	if err != nil {
		return err
	}
	for {
		d, err := c.Recv(0, gentcp.Infinity)
		if err != nil {
			return nil
		}
		if err := c.Send(d.Bytes); err != nil {
			return err
		}
	}
}

// pinger connects to a and sends one byte at each of the times given,
// recording when each echo came back.
func pinger(s *sim.Sim, at []time.Duration, got *[]time.Duration) func(p *gentcp.Process) error {
	return func(p *gentcp.Process) error {
		c, err := p.Connect("a", 7, 10*time.Second, gentcp.Binary, gentcp.Active(false), gentcp.Nodelay(true))
		if err != nil {
			return err
		}
		defer c.Close()
		for _, t := range at {
			p.Sleep(t - s.Now())
			if err := c.Send([]byte{1}); err != nil {
				return err
			}
			if _, err := c.Recv(1, time.Minute); err != nil {
				return err
			}
			*got = append(*got, s.Now())
		}
		return nil
	}
}

// TestHoldAndRelease: frames sent while a direction is held wait on the
// wire and cross, in order and all of them, the moment it is released.
func TestHoldAndRelease(t *testing.T) {
	defer goleak.VerifyNone(t)
	var got []time.Duration
	res, err := sim.Run(sim.Options{Link: memlink.Options{Latency: time.Millisecond}}, func(s *sim.Sim) {
		s.At(time.Second, func() { s.Hold(sim.AtoB) })
		s.At(5*time.Second, func() { s.Release(sim.AtoB) })
		s.Go(s.A(), pingServer)
		s.Go(s.B(), pinger(s, []time.Duration{500 * time.Millisecond, 2 * time.Second, 6 * time.Second}, &got))
	})
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{502 * time.Millisecond, 5 * time.Second, 6*time.Second + 2*time.Millisecond}, got,
		"the echo sent at 2.001 s is held until 5 s")
	released := 0
	for _, f := range res.Frames {
		if f.Dir == sim.AtoB && f.At == 5*time.Second {
			released++
		}
	}
	assert.Greater(t, released, 1, "the echo and its retransmissions, all delivered at the release")
}

// TestSetLatencyAndLoss changes the link at run time: the round trip
// follows the latency, and a direction at 100% loss drops everything
// until it is set back.
func TestSetLatencyAndLoss(t *testing.T) {
	defer goleak.VerifyNone(t)
	var got []time.Duration
	_, err := sim.Run(sim.Options{Link: memlink.Options{Latency: time.Millisecond}}, func(s *sim.Sim) {
		s.At(time.Second, func() { require.NoError(t, s.SetLatency(sim.Both, 50*time.Millisecond)) })
		s.At(3*time.Second, func() { require.NoError(t, s.SetLoss(sim.BtoA, 1)) })
		s.At(4*time.Second, func() { require.NoError(t, s.SetLoss(sim.BtoA, 0)) })
		s.Go(s.A(), pingServer)
		s.Go(s.B(), pinger(s, []time.Duration{500 * time.Millisecond, 2 * time.Second, 3500 * time.Millisecond}, &got))
	})
	require.NoError(t, err)
	require.Len(t, got, 3)
	assert.Equal(t, 502*time.Millisecond, got[0], "1 ms each way")
	assert.Equal(t, 2100*time.Millisecond, got[1], "50 ms each way")
	assert.Greater(t, got[2], 4*time.Second, "the ping sent at 3.5 s crossed only after the loss ended")
}
