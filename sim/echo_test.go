package sim_test

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/internal/testutil"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/sim"
	"github.com/usertcp/usertcp/stack"
)

// echoScenario is an ordinary gentcp program, with nothing of the
// simulation in it: a server on server accepts clients connections and
// hands each to its own process, which echoes {packet,4} packets in
// {active,once} mode; each of clients processes on client sends msgs
// packets of varied sizes and checks every echo. Failures go to report.
// It returns a function that lists the processes started so far (the
// acceptor starts handlers as clients connect).
func echoScenario(server, client *gentcp.Node, clients, msgs int, report func(error)) func() []*gentcp.Process {
	opts := []gentcp.Option{gentcp.Binary, gentcp.Packet(4), gentcp.ActiveOnce}
	var procs []*gentcp.Process
	var mu sync.Mutex // in real time, the acceptor adds handlers while the caller reads
	add := func(p *gentcp.Process) {
		mu.Lock()
		defer mu.Unlock()
		procs = append(procs, p)
	}
	acceptor := server.Spawn(func(p *gentcp.Process) {
		l, err := p.Listen(7, append(opts, gentcp.Backlog(clients))...)
		if err != nil {
			report(fmt.Errorf("listen: %w", err))
			return
		}
		for range clients {
			s, err := p.Accept(l, 60*time.Second)
			if err != nil {
				report(fmt.Errorf("accept: %w", err))
				return
			}
			h := server.Spawn(func(h *gentcp.Process) {
				if err := echo(h, s); err != nil {
					report(fmt.Errorf("echo %v: %w", s, err))
				}
			})
			add(h)
			if err := p.ControllingProcess(s, h); err != nil {
				report(fmt.Errorf("controlling_process: %w", err))
			}
		}
	})
	add(acceptor)
	for i := range clients {
		add(client.Spawn(func(p *gentcp.Process) {
			if err := echoClient(p, i, msgs, opts); err != nil {
				report(fmt.Errorf("client %d: %w", i, err))
			}
		}))
	}
	return func() []*gentcp.Process {
		mu.Lock()
		defer mu.Unlock()
		return append([]*gentcp.Process(nil), procs...)
	}
}

// echo returns every packet of s to the peer until it closes.
func echo(p *gentcp.Process, s *gentcp.Socket) error {
	for {
		m, err := p.Receive(60 * time.Second)
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case gentcp.TCP:
			if err := s.Send(m.Data.Bytes); err != nil {
				return err
			}
			if err := s.Setopts(gentcp.ActiveOnce); err != nil {
				return err
			}
		case gentcp.TCPClosed:
			return nil
		case gentcp.TCPError:
			return m.Reason
		}
	}
}

func echoClient(p *gentcp.Process, i, msgs int, opts []gentcp.Option) error {
	// The server may not listen yet: retry refused connects, as a
	// client started alongside its server does.
	var s *gentcp.Socket
	for try := 0; ; try++ {
		var err error
		s, err = p.Connect("a", 7, 10*time.Second, opts...)
		if err == nil {
			break
		}
		if try == 20 {
			return fmt.Errorf("connect: %w", err)
		}
		p.Sleep(50 * time.Millisecond)
	}
	defer s.Close()
	for j := range msgs {
		n := 1 + (i*131+j*977)%3000
		want := bytes.Repeat([]byte{byte('a' + (i+j)%26)}, n)
		if err := s.Send(want); err != nil {
			return fmt.Errorf("send %d: %w", j, err)
		}
		m, err := p.Receive(30 * time.Second)
		if err != nil {
			return fmt.Errorf("receive %d: %w", j, err)
		}
		d, ok := m.(gentcp.TCP)
		if !ok {
			return fmt.Errorf("message %d: got %#v", j, m)
		}
		if !bytes.Equal(d.Data.Bytes, want) {
			return fmt.Errorf("echo %d: got %d bytes, want %d", j, len(d.Data.Bytes), n)
		}
		if err := s.Setopts(gentcp.ActiveOnce); err != nil {
			return err
		}
	}
	return nil
}

// echoOptions: 5% loss and 2% reordering each way, 1 ms latency with
// 200 µs of jitter.
func echoOptions(seed uint64) sim.Options {
	return sim.Options{Seed: seed, Link: memlink.Options{
		Loss: 0.05, Reorder: 0.02, Latency: time.Millisecond, Jitter: 200 * time.Microsecond,
	}}
}

func echoSetup(clients, msgs int) func(s *sim.Sim) {
	return func(s *sim.Sim) {
		echoScenario(s.A(), s.B(), clients, msgs, s.Fail)
	}
}

// TestEchoIsDeterministic runs the echo scenario (8 clients, {packet,4},
// {active,once}, 5% loss, reordering) 100 times at GOMAXPROCS 1, 2 and 8
// (5 times each under the race detector, which is 10 times slower, and
// with -short) and wants one trace hash from all of them.
func TestEchoIsDeterministic(t *testing.T) {
	defer goleak.VerifyNone(t)
	runs := 100
	if raceEnabled || testing.Short() {
		runs = 5
	}
	prev := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prev)
	var hashes []string
	for _, procs := range []int{1, 2, 8} {
		runtime.GOMAXPROCS(procs)
		start := time.Now()
		res, err := sim.Repeat(t, echoOptions(7), runs, echoSetup(8, 20))
		require.NoError(t, err)
		t.Logf("GOMAXPROCS %d: %d runs, same trace %s: %d frames, %d steps, %v virtual, %v wall per run",
			procs, runs, res.Hash[:16], len(res.Frames), res.Steps, res.Elapsed, time.Since(start)/time.Duration(runs))
		hashes = append(hashes, res.Hash)
	}
	assert.Equal(t, hashes[0], hashes[1], "GOMAXPROCS 1 and 2")
	assert.Equal(t, hashes[0], hashes[2], "GOMAXPROCS 1 and 8")
}

// TestEchoScenarioRealTime runs the same scenario, unchanged, on two
// stacks in real time: the program does not depend on the simulation.
func TestEchoScenarioRealTime(t *testing.T) {
	defer goleak.VerifyNone(t)
	pair := testutil.NewPair(t, memlink.Options{Seed: 7, Loss: 0.02, Reorder: 0.02, Latency: time.Millisecond},
		stack.TCPOptions{MinRTO: 20 * time.Millisecond})
	var mu sync.Mutex
	var errs []error
	procs := echoScenario(gentcp.NewNode(pair.A), gentcp.NewNode(pair.B), 8, 5, func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	})
	// The acceptor (done once it has started every handler), the
	// clients, then the handlers.
	for waited := 0; waited < len(procs()); waited++ {
		<-procs()[waited].Done()
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, errs)
	pair.Close()
}
