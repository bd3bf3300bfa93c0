package sim_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/sim"
)

// foreverServer accepts on port 7 forever and gives each connection a
// handler that echoes until the peer closes.
func foreverServer(p *gentcp.Process) error {
	l, err := p.Listen(7, gentcp.Binary, gentcp.Active(false))
	if err != nil {
		return err
	}
	for {
		c, err := p.Accept(l, gentcp.Infinity)
		if err != nil {
			return err
		}
		h := p.Node().Spawn(func(h *gentcp.Process) {
			for {
				d, err := c.Recv(0, gentcp.Infinity)
				if err != nil {
					return
				}
				if c.Send(d.Bytes) != nil {
					return
				}
			}
		})
		if err := p.ControllingProcess(c, h); err != nil {
			return err
		}
	}
}

// stayingClient sends one request and reads the echo, but leaves its
// socket open: the server's handler is still in recv when it returns.
func stayingClient(p *gentcp.Process) error {
	c, err := p.Connect("a", 7, 10*time.Second, gentcp.Binary, gentcp.Active(false))
	if err != nil {
		return err
	}
	if err := c.Send([]byte("hello")); err != nil {
		return err
	}
	d, err := c.Recv(5, 10*time.Second)
	if err != nil {
		return err
	}
	if string(d.Bytes) != "hello" {
		return errors.New("wrong echo")
	}
	p.Sleep(time.Second)
	return nil
}

// TestDaemon_ServerThatAcceptsForever: a server that accepts forever,
// started with Daemon, does not keep the run from ending once the
// clients (started with Go) have returned; it and its handlers, still
// blocked in accept and recv, are stopped. Started with Go, the same
// server leaves the run in ErrDeadlock.
func TestDaemon_ServerThatAcceptsForever(t *testing.T) {
	defer goleak.VerifyNone(t)
	var server *gentcp.Process
	res, err := sim.Run(sim.Options{}, func(s *sim.Sim) {
		server = s.Daemon(s.A(), foreverServer)
		s.Go(s.B(), stayingClient)
		s.Go(s.B(), stayingClient)
	})
	require.NoError(t, err)
	assert.False(t, server.Alive(), "the daemon was stopped")
	assert.Greater(t, res.Elapsed, time.Second, "the run lasted as long as the clients")

	_, err = sim.Run(sim.Options{}, func(s *sim.Sim) {
		s.Go(s.A(), foreverServer)
		s.Go(s.B(), stayingClient)
	})
	require.ErrorIs(t, err, sim.ErrDeadlock)
}

// TestDaemon_ErrorIsAFailure: a daemon that fails while the run goes on
// fails the run; one stopped at the end does not.
func TestDaemon_ErrorIsAFailure(t *testing.T) {
	defer goleak.VerifyNone(t)
	_, err := sim.Run(sim.Options{}, func(s *sim.Sim) {
		s.Daemon(s.A(), func(p *gentcp.Process) error {
			p.Sleep(time.Second)
			return errors.New("daemon gave up")
		})
		s.Go(s.B(), func(p *gentcp.Process) error {
			p.Sleep(2 * time.Second)
			return nil
		})
	})
	assert.ErrorContains(t, err, "process a <0.1.0> failed at 1s: daemon gave up")
}

// TestDaemon_GoFromADaemonIsAwaited: Node.Spawn in a daemon starts a
// daemon, but Sim.Go from a daemon starts a process the run waits for.
func TestDaemon_GoFromADaemonIsAwaited(t *testing.T) {
	defer goleak.VerifyNone(t)
	var child, awaited *gentcp.Process
	res, err := sim.Run(sim.Options{}, func(s *sim.Sim) {
		s.Daemon(s.A(), func(p *gentcp.Process) error {
			child = p.Node().Spawn(func(q *gentcp.Process) { q.Sleep(time.Hour) })
			awaited = s.Go(s.A(), func(q *gentcp.Process) error {
				q.Sleep(5 * time.Second)
				return nil
			})
			p.Sleep(time.Hour)
			return nil
		})
	})
	require.NoError(t, err)
	assert.Equal(t, 5*time.Second, res.Elapsed, "the run waited for the Go process, not the daemons")
	assert.False(t, awaited.Alive())
	assert.False(t, child.Alive(), "the daemon's child was stopped")
}
