package sim_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/sim"
)

// An echo server on stack a and a client on stack b, on a link with 5 ms
// latency and 10% loss that is cut from 1 s to 61 s. The second ping is
// sent during the cut and crosses at TCP's first retransmission after the
// heal, ten seconds later: the back-off has grown that long. Every timeout runs on
// the virtual clock, so the run takes milliseconds of wall time, and the
// seed makes it come out the same every time.
func Example() {
	res, err := sim.Run(sim.Options{Seed: 42, Link: memlink.Options{Latency: 5 * time.Millisecond, Loss: 0.1}}, func(s *sim.Sim) {
		s.At(time.Second, func() { s.Partition(sim.Both) })
		s.At(61*time.Second, func() { s.Heal(sim.Both) })

		s.Go(s.A(), func(p *gentcp.Process) error {
			l, err := p.Listen(7, gentcp.Binary, gentcp.Packet(4), gentcp.Active(false))
			if err != nil {
				return err
			}
			c, err := p.Accept(l, gentcp.Infinity)
			if err != nil {
				return err
			}
			for {
				d, err := c.Recv(0, gentcp.Infinity)
				if errors.Is(err, gentcp.Closed) {
					return nil
				} else if err != nil {
					return err
				}
				if err := c.Send(d.Bytes); err != nil {
					return err
				}
			}
		})

		s.Go(s.B(), func(p *gentcp.Process) error {
			c, err := p.Connect("a", 7, 5*time.Second, gentcp.Binary, gentcp.Packet(4), gentcp.Active(false))
			if err != nil {
				return err
			}
			defer c.Close()
			for i := range 3 {
				if err := c.Send(fmt.Appendf(nil, "ping %d", i)); err != nil {
					return err
				}
				d, err := c.Recv(0, 2*time.Minute)
				if err != nil {
					return err
				}
				fmt.Printf("%v: %s\n", s.Now(), d.Bytes)
				p.Sleep(time.Second)
			}
			return nil
		})
	})
	fmt.Printf("%v virtual, %d frames, error %v\n", res.Elapsed, len(res.Frames), err)
	// Output:
	// 220ms: ping 0
	// 1m4.98s: ping 1
	// 1m5.99s: ping 2
	// 1m6.995s virtual, 17 frames, error <nil>
}
