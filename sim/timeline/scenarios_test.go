package timeline_test

import (
	"errors"
	"time"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/sim"
)

// The scenarios the tests draw, each a deterministic run.

// echoServer answers every connection on port 7, echoing what it reads
// until the peer closes.
func echoServer(p *gentcp.Process) error {
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
					c.Close()
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

// echo connects to host, echoes n messages of size bytes and closes.
func echo(p *gentcp.Process, host string, n, size int, timeout time.Duration) error {
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

// scenario is a run to draw.
type scenario struct {
	opts  sim.Options
	setup func(s *sim.Sim)
}

func (sc scenario) run() (*sim.Result, error) { return sim.Run(sc.opts, sc.setup) }

// handshakeAndClose: b connects to a's echo server over 1 ms, echoes one
// byte and closes: SYN, SYN-ACK, ACK, data both ways, FINs.
func handshakeAndClose() scenario {
	opts := sim.Options{Seed: 1, A: sim.Host{Start: echoServer}, Link: memlink.Options{Latency: time.Millisecond}}
	return scenario{opts, func(s *sim.Sim) {
		s.Go(s.B(), func(p *gentcp.Process) error {
			if err := echo(p, "a", 1, 1, time.Second); err != nil {
				return err
			}
			p.Sleep(10 * time.Millisecond)
			return nil
		})
	}}
}

// lossyTransfer: 30 echoes of 3000 bytes over 1 ms with 10% loss.
func lossyTransfer() scenario {
	opts := sim.Options{Seed: 7, A: sim.Host{Start: echoServer},
		Link: memlink.Options{Latency: time.Millisecond, Loss: 0.1}}
	return scenario{opts, func(s *sim.Sim) {
		s.Go(s.B(), func(p *gentcp.Process) error { return echo(p, "a", 30, 3000, 30*time.Second) })
	}}
}

// partitionAndHeal: three hosts; n2 echoes with n1 once a second; n1 is
// cut off from the others from 1.5 s to 4 s, so the echo of 2 s waits
// for the heal; n3 notes the partition.
func partitionAndHeal() scenario {
	opts := sim.Options{Seed: 3, Hosts: []sim.Host{{Start: echoServer}, {}, {}}, Link: memlink.Options{Latency: time.Millisecond}}
	return scenario{opts, func(s *sim.Sim) {
		s.At(1500*time.Millisecond, func() { s.Partition(sim.Across([]string{"n1"})) })
		s.At(4*time.Second, func() { s.Heal(sim.Everywhere) })
		s.Go(s.Host("n2"), func(p *gentcp.Process) error {
			c, err := p.Connect("n1", 7, time.Second, gentcp.Binary, gentcp.Active(false))
			if err != nil {
				return err
			}
			for i := range 3 {
				p.Sleep(time.Duration(i+1)*time.Second - s.Now())
				if err := c.Send([]byte{byte(i)}); err != nil {
					return err
				}
				if _, err := c.Recv(1, 10*time.Second); err != nil {
					return err
				}
			}
			return c.Close()
		})
		s.Go(s.Host("n3"), func(p *gentcp.Process) error {
			p.Sleep(2 * time.Second)
			return s.Note("n3", "n1 is cut off")
		})
	}}
}

// crashAndRestart: n2 connects to n1 and sends at 1 s; n1 crashes at
// 500 ms and restarts at 3 s; the client's recv fails with a timeout and
// it returns the error, a failure of the run.
func crashAndRestart() scenario {
	opts := sim.Options{Seed: 5, Hosts: []sim.Host{{Start: echoServer}, {}}, Link: memlink.Options{Latency: time.Millisecond}}
	return scenario{opts, func(s *sim.Sim) {
		s.At(500*time.Millisecond, func() { s.Crash("n1") })
		s.At(3*time.Second, func() { s.Restart("n1") })
		s.Go(s.Host("n2"), func(p *gentcp.Process) error {
			c, err := p.Connect("n1", 7, time.Second, gentcp.Binary, gentcp.Active(false))
			if err != nil {
				return err
			}
			p.Sleep(time.Second - s.Now())
			if err := c.Send([]byte("hello")); err != nil {
				return err
			}
			if _, err := c.Recv(5, 4*time.Second); err != nil {
				return errors.Join(errors.New("no echo"), err)
			}
			return c.Close()
		})
	}}
}

// failedCalls: b's calls fail three ways over 1 ms: a connect to a port
// a does not listen on is refused (2 ms), a recv on a connection to the
// echo server times out (4 ms + 50 ms), and a send after the close finds
// the socket closed (54 ms).
func failedCalls() scenario {
	opts := sim.Options{Seed: 2, A: sim.Host{Start: echoServer}, Link: memlink.Options{Latency: time.Millisecond}}
	return scenario{opts, func(s *sim.Sim) {
		s.Go(s.B(), func(p *gentcp.Process) error {
			if _, err := p.Connect("a", 9, time.Second); !errors.Is(err, gentcp.Econnrefused) {
				return errors.Join(errors.New("connect to port 9 was not refused"), err)
			}
			c, err := p.Connect("a", 7, time.Second, gentcp.Binary, gentcp.Active(false))
			if err != nil {
				return err
			}
			if _, err := c.Recv(0, 50*time.Millisecond); !errors.Is(err, gentcp.Timeout) {
				return errors.Join(errors.New("recv did not time out"), err)
			}
			c.Close()
			if err := c.Send([]byte("late")); !errors.Is(err, gentcp.Closed) {
				return errors.Join(errors.New("send after close did not fail"), err)
			}
			return nil
		})
	}}
}
