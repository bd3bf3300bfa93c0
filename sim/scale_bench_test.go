package sim_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/sim"
	"github.com/usertcp/usertcp/stack"
)

// The scale of issue 16, in the simulation and on the real-time network
// (the same gentcp code on memlink.NewNetwork without sim), one run each:
//
//	go test -run '^$' -bench Scale -benchtime 1x ./sim/
//
// mesh: 100 hosts in a full mesh, every host connecting to each host after
// it (4,950 connections, all at once), each connection exchanging one
// {packet,4} message both ways and closing. star: 1,000 hosts each
// connecting once to one server, all at once. Each reports the wall time,
// the virtual time (sim) and the peak of the heap and goroutine stacks
// over the run, less what was in use before, per host.
func BenchmarkScale(b *testing.B) {
	for _, sc := range []scaleCase{mesh(100), star(1000)} {
		for _, mode := range []string{"sim", "realtime"} {
			b.Run(sc.name+"/"+mode, func(b *testing.B) {
				for range b.N {
					runtime.GC()
					peak := watchMemory()
					start := time.Now()
					var virtual time.Duration
					var err error
					if mode == "sim" {
						virtual, err = sc.runSim()
					} else {
						err = sc.runRealTime()
					}
					wall := time.Since(start)
					used := peak()
					if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(wall.Seconds(), "wall-s")
					if mode == "sim" {
						b.ReportMetric(virtual.Seconds(), "virtual-s")
					}
					b.ReportMetric(float64(used)/float64(sc.hosts)/1024, "peak-KiB/host")
				}
			})
		}
	}
}

// scaleCase is hosts and the connections among them: conns[i] are the
// hosts host i connects to. Every host runs the server.
type scaleCase struct {
	name  string
	hosts int
	conns [][]int
}

func mesh(n int) scaleCase {
	c := scaleCase{name: fmt.Sprintf("mesh=%d", n), hosts: n, conns: make([][]int, n)}
	for i := range n {
		for j := i + 1; j < n; j++ {
			c.conns[i] = append(c.conns[i], j)
		}
	}
	return c
}

func star(n int) scaleCase {
	c := scaleCase{name: fmt.Sprintf("star=%d", n), hosts: n, conns: make([][]int, n)}
	for i := 1; i < n; i++ {
		c.conns[i] = []int{0}
	}
	return c
}

// scaleTimeout bounds every call; nothing should come near it.
const scaleTimeout = time.Minute

// scaleServer accepts forever on port 7 and gives each connection a
// process that echoes one {packet,4} message and closes.
func scaleServer(p *gentcp.Process) error {
	l, err := p.Listen(7, gentcp.Binary, gentcp.Packet(4), gentcp.Active(false), gentcp.Backlog(1024))
	if err != nil {
		return err
	}
	for {
		c, err := p.Accept(l, gentcp.Infinity)
		if err != nil {
			return err
		}
		h := p.Node().Spawn(func(*gentcp.Process) {
			defer c.Close()
			if d, err := c.Recv(0, scaleTimeout); err == nil {
				_ = c.Send(d.Bytes)
			}
		})
		if err := p.ControllingProcess(c, h); err != nil {
			return err
		}
	}
}

// scaleClient sends one message to host on port 7, checks the echo and
// closes.
func scaleClient(p *gentcp.Process, from, host string) error {
	c, err := p.Connect(host, 7, scaleTimeout, gentcp.Binary, gentcp.Packet(4), gentcp.Active(false))
	if err != nil {
		return fmt.Errorf("%s: connect to %s: %w", from, host, err)
	}
	defer c.Close()
	msg := []byte(from + "→" + host)
	if err := c.Send(msg); err != nil {
		return fmt.Errorf("%s: send to %s: %w", from, host, err)
	}
	d, err := c.Recv(0, scaleTimeout)
	if err != nil {
		return fmt.Errorf("%s: recv from %s: %w", from, host, err)
	}
	if !bytes.Equal(d.Bytes, msg) {
		return fmt.Errorf("%s: %s echoed %q", from, host, d.Bytes)
	}
	return nil
}

// hostName is the name of host i, as sim gives it by default.
func hostName(i int) string { return fmt.Sprintf("n%d", i+1) }

// runSim runs the case in the simulation and returns its virtual time.
func (c scaleCase) runSim() (time.Duration, error) {
	hosts := make([]sim.Host, c.hosts)
	for i := range hosts {
		hosts[i].Start = scaleServer
	}
	res, err := sim.Run(sim.Options{Seed: 1, Hosts: hosts}, func(s *sim.Sim) {
		for i, to := range c.conns {
			for _, j := range to {
				s.Go(s.Host(hostName(i)), func(p *gentcp.Process) error {
					return scaleClient(p, hostName(i), hostName(j))
				})
			}
		}
	})
	if err != nil {
		return 0, err
	}
	return res.Elapsed, nil
}

// runRealTime runs the case on a real-time network: a stack per host at
// sim's default addresses, the clients as goroutines.
func (c scaleCase) runRealTime() error {
	n, err := memlink.NewNetwork(memlink.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	table := map[string][]netip.Addr{}
	addrs := make([]netip.Addr, c.hosts)
	for i := range addrs {
		k := uint32(i + 1)
		addrs[i] = netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)})
		table[hostName(i)] = []netip.Addr{addrs[i]}
	}
	nodes := make([]*gentcp.Node, c.hosts)
	var servers []*gentcp.Process
	defer func() {
		for _, p := range servers {
			p.Exit()
		}
	}()
	for i := range nodes {
		port, err := n.AddPort(hostName(i), addrs[i])
		if err != nil {
			return err
		}
		st, err := stack.New(stack.Options{
			NICs:  []stack.NIC{{Name: "eth0", Link: port, Addresses: []netip.Prefix{netip.PrefixFrom(addrs[i], 16)}}},
			Hosts: table,
		})
		if err != nil {
			port.Close()
			return err
		}
		defer st.Close()
		nodes[i] = gentcp.NewNode(st)
		sp := nodes[i].NewProcess()
		servers = append(servers, sp)
		go func() { _ = scaleServer(sp) }()
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i, to := range c.conns {
		for _, j := range to {
			wg.Go(func() {
				p := nodes[i].NewProcess()
				defer p.Exit()
				if err := scaleClient(p, hostName(i), hostName(j)); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// watchMemory samples the heap's objects and the goroutine stacks until
// the returned function is called, which returns their peak less what
// was in use at the start.
func watchMemory() (peak func() uint64) {
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	read := func() uint64 {
		metrics.Read(samples)
		return samples[0].Value.Uint64() + samples[1].Value.Uint64()
	}
	base := read()
	top := base
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				top = max(top, read())
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		return max(top, read()) - base
	}
}
