package delay_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/internal/testutil"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/sim"
	"github.com/usertcp/usertcp/stack"
)

// The jitter target of issue 19, side by side in one run (BENCHMARKS.md,
// "Jitter and reordering"):
//
//	go test -run '^$' -bench JitterThroughput -benchtime 3x -count 3 ./link/delay/

// bulkBytes is what each transfer moves: enough for slow start to end.
const bulkBytes = 8 << 20

// bulkPort is the port the receiver listens on.
const bulkPort = 5001

// BenchmarkJitterThroughput moves bulkBytes from A to B over a memlink
// with latency L, and over the same link with jitter L/10 both ways (order
// kept, the default), alternately in each iteration, in real time and in
// the simulation (virtual time). It reports both speeds and their ratio,
// jitter-over-clean (issue 19's target: at least 0.8). Stacks use the
// library's defaults.
func BenchmarkJitterThroughput(b *testing.B) {
	for _, mode := range []string{"real", "sim"} {
		for _, latency := range []time.Duration{5 * time.Millisecond, 20 * time.Millisecond} {
			jitter := latency / 10
			b.Run(fmt.Sprintf("%s/latency=%v/jitter=%v", mode, latency, jitter), func(b *testing.B) {
				run := realBulk
				if mode == "sim" {
					run = simBulk
				}
				var clean, jittered time.Duration
				for i := 0; i < b.N; i++ {
					seed := uint64(i + 1)
					d, err := run(b, memlink.Options{Seed: seed, Latency: latency, ChecksumOffload: true})
					if err != nil {
						b.Fatalf("clean: %v", err)
					}
					clean += d
					d, err = run(b, memlink.Options{Seed: seed, Latency: latency, Jitter: jitter, ChecksumOffload: true})
					if err != nil {
						b.Fatalf("jitter: %v", err)
					}
					jittered += d
				}
				mb := float64(b.N) * bulkBytes / 1e6
				b.ReportMetric(mb/clean.Seconds(), "clean-MB/s")
				b.ReportMetric(mb/jittered.Seconds(), "jitter-MB/s")
				b.ReportMetric(clean.Seconds()/jittered.Seconds(), "jitter/clean")
			})
		}
	}
}

// bulkReceive accepts one connection on bulkPort and reads bulkBytes from
// it, then closes it.
func bulkReceive(p *gentcp.Process) error {
	l, err := p.Listen(bulkPort, gentcp.Binary, gentcp.Active(false))
	if err != nil {
		return err
	}
	defer l.Close()
	c, err := p.Accept(l, 10*time.Second)
	if err != nil {
		return err
	}
	buf := make([]byte, 0, 256<<10)
	for got := 0; got < bulkBytes; {
		buf, err = c.RecvAppend(buf[:0], 0, 30*time.Second)
		if err != nil {
			return fmt.Errorf("recv after %d bytes: %w", got, err)
		}
		got += len(buf)
	}
	return c.Close()
}

// bulkSend connects to "b" and sends bulkBytes, then waits for the
// receiver to close, so that its stack stays up until B has every byte.
func bulkSend(p *gentcp.Process) error {
	c, err := p.Connect("b", bulkPort, 10*time.Second, gentcp.Binary, gentcp.Active(false))
	if err != nil {
		return err
	}
	defer c.Close()
	chunk := make([]byte, 64<<10)
	for sent := 0; sent < bulkBytes; sent += len(chunk) {
		if err := c.Send(chunk); err != nil {
			return fmt.Errorf("send after %d bytes: %w", sent, err)
		}
	}
	if _, err := c.Recv(0, 30*time.Second); !errors.Is(err, gentcp.Closed) {
		return fmt.Errorf("waiting for the receiver to close: %v", err)
	}
	return nil
}

// realBulk runs one transfer over a memlink on the real clock and returns
// how long B took to get every byte, from the moment A started to connect.
func realBulk(b *testing.B, lo memlink.Options) (time.Duration, error) {
	p := testutil.NewPair(b, lo, stack.TCPOptions{})
	defer p.Close()
	a, bn := gentcp.NewNode(p.A), gentcp.NewNode(p.B)
	errs := make(chan error, 2)
	var took time.Duration
	listening := make(chan struct{})
	recv := bn.Spawn(func(pr *gentcp.Process) {
		start := time.Now()
		close(listening)
		err := bulkReceive(pr)
		took = time.Since(start)
		errs <- err
	})
	<-listening
	send := a.Spawn(func(pr *gentcp.Process) { errs <- bulkSend(pr) })
	<-recv.Done()
	<-send.Done()
	return took, errors.Join(<-errs, <-errs)
}

// simBulk runs one transfer in the simulation and returns the virtual
// time B took to get every byte.
func simBulk(b *testing.B, lo memlink.Options) (time.Duration, error) {
	var took time.Duration
	_, err := sim.Run(sim.Options{Seed: lo.Seed, Link: lo}, func(s *sim.Sim) {
		s.Go(s.B(), func(p *gentcp.Process) error {
			err := bulkReceive(p)
			took = s.Now()
			return err
		})
		s.Go(s.A(), bulkSend)
	})
	return took, err
}
