package sim_test

import (
	"errors"
	"flag"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/sim"
)

// The cluster scenario of issue 16: three servers (s1, s2, s3) that
// gossip with each other, two clients (c1, c2) that send requests to
// every server in turn, 3% loss and 1 ms ± 300 µs on every path, and
// the network going wrong on a schedule:
//
//	1.0 s  partition {s1, c1} | {s2, s3, c2}
//	1.5 s  crash s2
//	2.5 s  heal the partition
//	3.0 s  one-way cut s3 → s1
//	3.5 s  restart s2 (a new boot: its server starts again)
//	4.5 s  heal the cut
//
// The clients run until 6 s, and their outcomes (reply, timeout, closed,
// reset) depend on all of it.
var clusterServers = []string{"s1", "s2", "s3"}

// clusterOptions names the five hosts and gives the servers clusterServer
// as their start process.
func clusterOptions(seed uint64) sim.Options {
	hosts := []sim.Host{{Name: "c1"}, {Name: "c2"}}
	for _, name := range clusterServers {
		hosts = append(hosts, sim.Host{Name: name, Start: clusterServer(name)})
	}
	return sim.Options{Seed: seed, Hosts: hosts, Link: memlink.Options{
		Loss: 0.03, Latency: time.Millisecond, Jitter: 300 * time.Microsecond, JitterReorders: true,
	}}
}

// clusterServer is the start process of server self: it answers
// {packet,4} requests on port 7 (each reply names the server and echoes
// the request) and gossips: every 200 ms it sends one message to each
// other server, giving each step 150 ms.
func clusterServer(self string) func(p *gentcp.Process) error {
	return func(p *gentcp.Process) error { return serveCluster(p, self) }
}

func serveCluster(p *gentcp.Process, self string) error {
	l, err := p.Listen(7, gentcp.Binary, gentcp.Packet(4), gentcp.Active(false))
	if err != nil {
		return err
	}
	p.Node().Spawn(func(g *gentcp.Process) {
		for round := 0; g.Alive(); round++ {
			g.Sleep(200 * time.Millisecond)
			for _, peer := range clusterServers {
				if peer != self && g.Alive() {
					_, _ = request(g, peer, fmt.Sprintf("gossip %d from %s", round, self), 150*time.Millisecond)
				}
			}
		}
	})
	for {
		c, err := p.Accept(l, gentcp.Infinity)
		if err != nil {
			return nil // the host is going down
		}
		h := p.Node().Spawn(func(h *gentcp.Process) {
			defer c.Close()
			for {
				d, err := c.Recv(0, 2*time.Second)
				if err != nil || c.Send(append([]byte(self+": "), d.Bytes...)) != nil {
					return
				}
			}
		})
		if err := p.ControllingProcess(c, h); err != nil {
			return err
		}
	}
}

// request connects to host's port 7, sends msg and returns the reply,
// each step within timeout.
func request(p *gentcp.Process, host, msg string, timeout time.Duration) (string, error) {
	c, err := p.Connect(host, 7, timeout, gentcp.Binary, gentcp.Packet(4), gentcp.Active(false))
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	defer c.Close()
	if err := c.Send([]byte(msg)); err != nil {
		return "", fmt.Errorf("send: %w", err)
	}
	d, err := c.Recv(0, timeout)
	if err != nil {
		return "", fmt.Errorf("recv: %w", err)
	}
	return string(d.Bytes), nil
}

// clusterOutcomes counts how the clients' requests ended, by kind.
type clusterOutcomes map[string]int

// clusterSetup schedules the events and starts the clients. A client
// sends a request to each server in turn, one every 50 ms, until 6 s;
// every outcome is counted in out. With strict set, a client fails the
// run at its first request that does not get a reply.
func clusterSetup(out clusterOutcomes, strict bool) func(s *sim.Sim) {
	return func(s *sim.Sim) {
		must := func(err error) {
			if err != nil {
				s.Fail(err)
			}
		}
		s.At(1000*time.Millisecond, func() { must(s.Partition(sim.Across([]string{"s1", "c1"}, []string{"s2", "s3", "c2"}))) })
		s.At(1500*time.Millisecond, func() { must(s.Crash("s2")) })
		s.At(2500*time.Millisecond, func() { must(s.Heal(sim.Everywhere)) })
		s.At(3000*time.Millisecond, func() { must(s.Cut("s3", "s1")) })
		s.At(3500*time.Millisecond, func() { must(s.Restart("s2")) })
		s.At(4500*time.Millisecond, func() { must(s.Heal(sim.Path("s3", "s1"))) })
		for _, client := range []string{"c1", "c2"} {
			s.Go(s.Host(client), func(p *gentcp.Process) error {
				for i := 0; s.Now() < 6*time.Second; i++ {
					server := clusterServers[i%len(clusterServers)]
					_, err := request(p, server, fmt.Sprintf("%s request %d", client, i), 300*time.Millisecond)
					out[outcome(err)]++
					if err != nil && strict {
						return fmt.Errorf("request %d to %s: %w", i, server, err)
					}
					p.Sleep(50 * time.Millisecond)
				}
				return nil
			})
		}
	}
}

// outcome names how a request ended.
func outcome(err error) string {
	switch {
	case err == nil:
		return "reply"
	case errors.Is(err, gentcp.Timeout):
		return "timeout"
	case errors.Is(err, gentcp.Econnrefused):
		return "refused"
	case errors.Is(err, gentcp.Closed), errors.Is(err, gentcp.Econnreset):
		return "closed"
	}
	return err.Error()
}

// clusterRuns overrides how many runs TestCluster_IsDeterministic makes
// at each GOMAXPROCS: go test -race ./sim/ -run TestCluster -args -cluster.runs 100.
var clusterRuns = flag.Int("cluster.runs", 0, "runs of the cluster scenario per GOMAXPROCS (0: 100, or 5 under -race and -short)")

// TestCluster_IsDeterministic is issue 16's test of done: the cluster
// scenario gives one trace hash in 100 of 100 runs at GOMAXPROCS 1, 2
// and 8 (5 runs each under the race detector, which is ten times
// slower, and with -short, unless -cluster.runs says otherwise), and
// the clients see the same outcomes in every run. The trace shows the
// events did what they say.
func TestCluster_IsDeterministic(t *testing.T) {
	defer goleak.VerifyNone(t)
	runs := 100
	if raceEnabled || testing.Short() {
		runs = 5
	}
	if *clusterRuns > 0 {
		runs = *clusterRuns
	}
	prev := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prev)
	var hashes []string
	var first clusterOutcomes
	var lastRes *sim.Result
	for _, procs := range []int{1, 2, 8} {
		runtime.GOMAXPROCS(procs)
		start := time.Now()
		var outs []clusterOutcomes
		res, err := sim.Repeat(t, clusterOptions(16), runs, func(s *sim.Sim) {
			outs = append(outs, clusterOutcomes{})
			clusterSetup(outs[len(outs)-1], false)(s)
		})
		require.NoError(t, err)
		t.Logf("GOMAXPROCS %d: %d runs of %d, same trace %s: %d frames, %d steps, %v virtual, %v wall per run; outcomes %v",
			procs, len(outs), runs, res.Hash[:16], len(res.Frames), res.Steps, res.Elapsed, time.Since(start)/time.Duration(runs), outs[0])
		if first == nil {
			first = outs[0]
		}
		for i, o := range outs {
			require.Equal(t, first, o, "outcomes of run %d at GOMAXPROCS %d", i+1, procs)
		}
		hashes = append(hashes, res.Hash)
		lastRes = res
	}
	assert.Equal(t, hashes[0], hashes[1], "GOMAXPROCS 1 and 2")
	assert.Equal(t, hashes[0], hashes[2], "GOMAXPROCS 1 and 8")
	assert.Positive(t, first["reply"], "requests answered")
	assert.Positive(t, first["timeout"], "requests lost to the partition, the crash or the cut")
	checkClusterEvents(t, lastRes)
}

// checkClusterEvents checks in a run's trace that the events happened:
// nothing crossed the partition, s2 was silent while down and talked
// again after its restart, and s1 heard nothing from s3 during the cut.
func checkClusterEvents(t *testing.T, res *sim.Result) {
	t.Helper()
	group := map[string]int{"s1": 1, "c1": 1, "s2": 2, "s3": 2, "c2": 2}
	during := func(f sim.Frame, from, to time.Duration) bool { return f.At > from && f.At < to }
	s2After := 0
	for _, f := range res.Frames {
		if during(f, 1000*time.Millisecond, 2500*time.Millisecond) {
			assert.Equal(t, group[f.From], group[f.To], "a frame across the partition: %v", f)
		}
		if during(f, 1500*time.Millisecond, 3500*time.Millisecond) {
			assert.NotEqual(t, "s2", f.From, "a frame from s2 while it was down: %v", f)
		}
		if during(f, 3000*time.Millisecond, 4500*time.Millisecond) {
			assert.False(t, f.From == "s3" && f.To == "s1", "a frame on the cut path: %v", f)
		}
		if f.From == "s2" && f.At > 3500*time.Millisecond {
			s2After++
		}
	}
	assert.Positive(t, s2After, "frames from s2 after its restart")
}

// TestCluster_FailingSeedReplays: with strict clients the scenario fails
// (a request that loses its SYN, or one across the partition, gets no
// reply in time); the failing seed, run again, fails with the same error
// at the same virtual time, with the same trace.
func TestCluster_FailingSeedReplays(t *testing.T) {
	defer goleak.VerifyNone(t)
	first, firstErr := sim.Run(clusterOptions(16), clusterSetup(clusterOutcomes{}, true))
	require.Error(t, firstErr)
	var pe *sim.ProcessError
	require.ErrorAs(t, firstErr, &pe)
	t.Logf("seed 16 fails: %v", firstErr)

	res, err := sim.Repeat(t, clusterOptions(16), 3, clusterSetup(clusterOutcomes{}, true))
	require.Error(t, err)
	assert.Equal(t, firstErr.Error(), err.Error(), "the same failure, at the same virtual time")
	assert.Equal(t, first.Hash, res.Hash, "the same packets")
	assert.Equal(t, first.Elapsed, res.Elapsed, "the run ended at the same virtual time")
}
