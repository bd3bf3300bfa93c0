package timeline_test

import (
	"fmt"
	"os"
	"time"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/sim"
	"github.com/usertcp/usertcp/sim/timeline"
)

// A tiny run drawn as text: b connects to a over 1 ms of latency and
// closes at once; a accepts and its recv finds the connection closed.
// Each frame is a line at its send time, with its summary; a's failed
// recv and the processes' exits are marks ('*') on their lanes.
func Example() {
	opts := sim.Options{Seed: 1, Link: memlink.Options{Latency: time.Millisecond}}
	res, err := sim.Run(opts, func(s *sim.Sim) {
		s.Go(s.A(), func(p *gentcp.Process) error {
			l, err := p.Listen(7, gentcp.Active(false))
			if err != nil {
				return err
			}
			c, err := p.Accept(l, time.Second)
			if err != nil {
				return err
			}
			c.Recv(0, time.Second) // closed: b closed
			return c.Close()
		})
		s.Go(s.B(), func(p *gentcp.Process) error {
			c, err := p.Connect("a", 7, time.Second)
			if err != nil {
				return err
			}
			if err := c.Close(); err != nil {
				return err
			}
			p.Sleep(5 * time.Millisecond) // until a's FIN is answered
			return nil
		})
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	tl, err := timeline.New(res, timeline.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	tl.WriteText(os.Stdout)
	// Output:
	// seed 1, trace 21e466cc04e1dc41: a b, 0s to 7ms of 7ms
	//           time              a                       b
	//             0s              |<---------SYN----------|              b→a 10.0.0.2:60129 > 10.0.0.1:7 [S] seq 3148494914 win 29184 len 0 (sent 0s, arrived 1ms)
	//            1ms              |-------SYN,ACK-------->|              a→b 10.0.0.1:7 > 10.0.0.2:60129 [S.] seq 3061231401 ack 3148494915 win 29184 len 0 (sent 1ms, arrived 2ms)
	//            2ms              |<---------ACK----------|              b→a 10.0.0.2:60129 > 10.0.0.1:7 [.] seq 3148494915 ack 3061231402 win 228 len 0 (sent 2ms, arrived 3ms)
	//            2ms              |<---------FIN----------|              b→a 10.0.0.2:60129 > 10.0.0.1:7 [F.] seq 3148494915 ack 3061231402 win 4096 len 0 (sent 2ms, arrived 3ms)
	//            3ms              *                       |              call a: a <0.1.0> recv #Port<0.3>: closed
	//            3ms              *                       |              exit a: a <0.1.0>
	//            3ms              |---------ACK---------->|              a→b 10.0.0.1:7 > 10.0.0.2:60129 [.] seq 3061231402 ack 3148494916 win 4093 len 0 (sent 3ms, arrived 4ms)
	//            3ms              |---------FIN---------->|              a→b 10.0.0.1:7 > 10.0.0.2:60129 [F.] seq 3061231402 ack 3148494916 win 4096 len 0 (sent 3ms, arrived 4ms)
	//            4ms              |<---------ACK----------|              b→a 10.0.0.2:60129 > 10.0.0.1:7 [.] seq 3148494916 ack 3061231403 win 4095 len 0 (sent 4ms, arrived 5ms)
	//            7ms              |                       *              exit b: b <0.1.0>
}
