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

func TestRun_Deadlock(t *testing.T) {
	defer goleak.VerifyNone(t)
	_, err := sim.Run(sim.Options{}, func(s *sim.Sim) {
		s.Go(s.A(), func(p *gentcp.Process) error {
			l, err := p.Listen(7)
			if err != nil {
				return err
			}
			_, err = p.Accept(l, gentcp.Infinity) // nobody connects
			return err
		})
	})
	require.ErrorIs(t, err, sim.ErrDeadlock)
	assert.Contains(t, err.Error(), "nothing can wake a <0.1.0>")
}

func TestRun_TimeLimit(t *testing.T) {
	defer goleak.VerifyNone(t)
	res, err := sim.Run(sim.Options{Limit: time.Minute}, func(s *sim.Sim) {
		s.Go(s.A(), func(p *gentcp.Process) error {
			p.Sleep(time.Hour)
			return nil
		})
	})
	require.ErrorIs(t, err, sim.ErrTimeLimit)
	assert.Zero(t, res.Elapsed, "the clock does not jump past the limit")
}

func TestRun_ProcessPanicIsAFailure(t *testing.T) {
	defer goleak.VerifyNone(t)
	finished := false
	_, err := sim.Run(sim.Options{}, func(s *sim.Sim) {
		s.Go(s.A(), func(p *gentcp.Process) error {
			p.Sleep(time.Second)
			panic("boom")
		})
		s.Go(s.B(), func(p *gentcp.Process) error {
			p.Sleep(2 * time.Second)
			finished = true
			return nil
		})
	})
	var pe *sim.ProcessError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "a <0.1.0>", pe.Process)
	assert.Equal(t, time.Second, pe.At)
	assert.Regexp(t, `panic at errors_test.go:\d+: boom`, pe.Err.Error())
	assert.Contains(t, string(pe.Stack), "TestRun_ProcessPanicIsAFailure")
	assert.True(t, finished, "the other process ran on")
}

func TestRun_MailboxIsRefused(t *testing.T) {
	defer goleak.VerifyNone(t)
	_, err := sim.Run(sim.Options{}, func(s *sim.Sim) {
		s.Go(s.A(), func(p *gentcp.Process) error {
			<-p.Mailbox()
			return nil
		})
	})
	assert.ErrorContains(t, err, "Mailbox cannot be used under a Scheduler; use Receive")
}

// TestRun_BlockingOutsideAProcess: an event (on the scheduler's goroutine)
// and a goroutine started with go cannot block in gentcp: their calls
// fail with ErrNotScheduled, and Run reports them.
func TestRun_BlockingOutsideAProcess(t *testing.T) {
	defer goleak.VerifyNone(t)
	var fromEvent, fromGo error
	_, err := sim.Run(sim.Options{}, func(s *sim.Sim) {
		s.Go(s.A(), func(p *gentcp.Process) error {
			l, err := p.Listen(7, gentcp.Active(false))
			if err != nil {
				return err
			}
			c, err := p.Accept(l, 10*time.Second)
			if err != nil {
				return err
			}
			s.At(time.Second, func() { _, fromEvent = c.Recv(0, time.Second) })
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, fromGo = c.Recv(0, time.Second)
			}()
			<-done // returns at once: the call is refused
			p.Sleep(2 * time.Second)
			return c.Close()
		})
		s.Go(s.B(), func(p *gentcp.Process) error {
			c, err := p.Connect("a", 7, 10*time.Second)
			if err != nil {
				return err
			}
			p.Sleep(3 * time.Second)
			return c.Close()
		})
	})
	assert.ErrorIs(t, fromEvent, sim.ErrNotScheduled)
	assert.ErrorIs(t, fromGo, sim.ErrNotScheduled)
	require.ErrorIs(t, err, sim.ErrNotScheduled)
	assert.ErrorContains(t, err, "(2 calls)")
}

// TestRun_Stall: a process that blocks outside gentcp (here on a channel)
// stops the simulation with ErrStall after StallTimeout of wall time,
// naming the process and showing where it is.
func TestRun_Stall(t *testing.T) {
	defer goleak.VerifyNone(t)
	block := make(chan struct{})
	_, err := sim.Run(sim.Options{StallTimeout: 200 * time.Millisecond}, func(s *sim.Sim) {
		s.Go(s.A(), func(p *gentcp.Process) error {
			<-block
			p.Sleep(time.Second) // fails at once: the simulation gave up
			return nil
		})
	})
	require.ErrorIs(t, err, sim.ErrStall)
	assert.ErrorContains(t, err, "a <0.1.0> ran for 200ms of wall time without blocking in gentcp")
	assert.ErrorContains(t, err, "TestRun_Stall")
	close(block)
}

// TestRun_ProcessesCanSpawn: a process started with Node.Spawn from inside
// a process is scheduled and awaited too, and errors returned through
// Sim.Go carry the virtual time.
func TestRun_ProcessesCanSpawn(t *testing.T) {
	defer goleak.VerifyNone(t)
	var order []string
	_, err := sim.Run(sim.Options{}, func(s *sim.Sim) {
		s.Go(s.A(), func(p *gentcp.Process) error {
			s.A().Spawn(func(q *gentcp.Process) {
				q.Sleep(time.Second)
				order = append(order, "child")
				p.Send("done")
			})
			if _, err := p.Receive(gentcp.Infinity); err != nil {
				return err
			}
			order = append(order, "parent")
			return errors.New("parent fails")
		})
	})
	assert.Equal(t, []string{"child", "parent"}, order)
	assert.ErrorContains(t, err, "process a <0.1.0> failed at 1s: parent fails")
}
