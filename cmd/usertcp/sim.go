package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/usertcp/usertcp/config"
	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/sim"
	"github.com/usertcp/usertcp/sim/timeline"
)

// simDefaultLatency is the one-way latency of demo --sim when none is
// configured.
const simDefaultLatency = time.Millisecond

// runSimDemo runs the demo (demo --sim) in a deterministic simulation
// (package sim): the same echo server, handshake, pings and bulk echo,
// as processes on a virtual clock, with every random choice drawn from
// the seed. The report reads virtual time, so a seed prints the same
// report every time; only the wall time differs.
func runSimDemo(cfg *config.Config, f demoFlags, pcap io.Writer, stdout, stderr io.Writer) error {
	if cfg.Link.Kind != config.Memlink {
		return fmt.Errorf("--sim needs a memlink link, not %q", cfg.Link.Kind)
	}
	if len(cfg.Stacks) < 2 {
		return errors.New("the demo needs two stacks, one on each end of the link")
	}
	if cfg.Link.Latency == 0 {
		// In virtual time an unset latency would be sim.MinLatency (1 µs)
		// and the report would show absurd rates; 1 ms is a LAN.
		cfg.Link.Latency = simDefaultLatency
	}
	l := cfg.Link
	opts := sim.Options{
		Seed: uint64(l.Seed),
		Link: memlink.Options{
			MTU: uint32(l.MTU), Loss: l.Loss, Duplicate: l.Duplicate, Corrupt: l.Corrupt,
			Reorder: l.Reorder, Latency: l.Latency, Jitter: l.Jitter, JitterReorders: l.JitterReorders, Rate: int64(l.Rate),
			Pcap: pcap,
		},
	}
	if l.Ethernet != nil {
		opts.Link.Ethernet = *l.Ethernet
	}
	if l.Offload != nil && !*l.Offload {
		opts.Link.NoGSO, opts.Link.NoGRO = true, true
	}
	if l.ChecksumOffload != nil {
		opts.Link.ChecksumOffload = *l.ChecksumOffload
	} else {
		opts.Link.ChecksumOffload = l.Corrupt == 0
	}
	// The first stack serves, the second is the client; each sits on the
	// end of the link its config names.
	server, client := cfg.Stacks[0], cfg.Stacks[1]
	serverOnA := server.End != config.EndB
	opts.A = sim.Stack{Name: server.Name, Addresses: server.Addresses, TCP: stackOptions(server, nil, 0).TCP}
	opts.B = sim.Stack{Name: client.Name, Addresses: client.Addresses, TCP: stackOptions(client, nil, 0).TCP}
	if !serverOnA {
		opts.A, opts.B = opts.B, opts.A
	}

	rep := &report{server: server.Name, client: client.Name}
	// The progress line runs on the wall clock and only reads counters,
	// so the simulation stays deterministic.
	prog := &demoProgress{pingsWant: f.pings, bytes: f.bytes}
	p := startProgress(stderr, prog.status)
	var s *sim.Sim
	res, err := sim.Run(opts, func(sm *sim.Sim) {
		s = sm
		srv, cli := s.A(), s.B()
		if !serverOnA {
			srv, cli = cli, srv
		}
		// Numbered in config order, as the real-time demo's: the
		// server's pids are <0.N.0>, the client's <1.N.0>.
		srv.SetNumber(0)
		cli.SetNumber(1)
		s.Go(srv, func(p *gentcp.Process) error { return simEchoServer(p, f.port) })
		s.Go(cli, func(p *gentcp.Process) error { return simEchoClient(s, p, server.Name, srv, f, rep, prog) })
	})
	p.Stop()
	if f.timeline != "" && res != nil {
		if terr := writeTimeline(f.timeline, res, stdout); terr != nil {
			return errors.Join(err, terr)
		}
	}
	if err != nil {
		return err
	}
	w := &world{}
	w.link[0], w.link[1] = s.Link()
	rep.linkA, rep.linkB = describeCounters(w, 0), describeCounters(w, 1)
	rep.print(stdout, cfg, f)
	fmt.Fprintf(stdout, "simulation:    seed %d: %v of virtual time in %v of wall time (%d steps)\n",
		opts.Seed, res.Elapsed, roundDuration(res.Wall), res.Steps)
	fmt.Fprintf(stdout, "trace:         %d frames delivered, SHA-256 %s\n", len(res.Frames), res.Hash)
	if f.pcap != "" {
		fmt.Fprintf(stdout, "capture:       %s (timestamps are virtual, from %s; read it with: tcpdump -nn -r %s)\n",
			f.pcap, sim.Epoch.Format(time.DateOnly), f.pcap)
	}
	return nil
}

// writeTimeline writes the run's timeline (--timeline): text on stdout
// for "-", else a file, SVG if its name ends in .svg.
func writeTimeline(path string, res *sim.Result, stdout io.Writer) error {
	if path != "-" {
		if err := timeline.WriteFile(path, res, timeline.Options{}); err != nil {
			return fmt.Errorf("--timeline: %w", err)
		}
		return nil
	}
	tl, err := timeline.New(res, timeline.Options{})
	if err != nil {
		return fmt.Errorf("--timeline: %w", err)
	}
	return tl.WriteText(stdout)
}

// simEchoServer accepts one connection and echoes it until the peer
// closes, as the real-time demo's server does.
func simEchoServer(p *gentcp.Process, port int) error {
	ls, err := p.Listen(port, gentcp.Binary, gentcp.Active(false), gentcp.PacketRaw, gentcp.Buffer(64<<10), gentcp.Nodelay(true))
	if err != nil {
		return fmt.Errorf("server listen on port %d: %w", port, err)
	}
	s, err := p.Accept(ls, gentcp.Infinity)
	if err != nil {
		return fmt.Errorf("echo server: %w", err)
	}
	for {
		d, err := s.Recv(0, gentcp.Infinity)
		if errors.Is(err, gentcp.Closed) {
			return nil
		} else if err != nil {
			return fmt.Errorf("echo server: %w", err)
		}
		if err := s.Send(d.Bytes); err != nil {
			return fmt.Errorf("echo server: %w", err)
		}
	}
}

// simEchoClient is the demo's client: handshake, one-byte round trips,
// then a bulk echo whose sender is a second process, all timed on the
// virtual clock.
func simEchoClient(s *sim.Sim, p *gentcp.Process, server string, srv *gentcp.Node, f demoFlags, rep *report, prog *demoProgress) error {
	opts := []gentcp.Option{gentcp.Binary, gentcp.Active(false), gentcp.PacketRaw, gentcp.Buffer(64 << 10), gentcp.Nodelay(true)}
	start := s.Now()
	c, err := p.Connect(server, f.port, 10*time.Second, opts...)
	if err != nil {
		return fmt.Errorf("client connect to %s:%d: %w", server, f.port, err)
	}
	defer c.Close()
	rep.handshake = s.Now() - start
	if a, err := c.Peername(); err == nil {
		rep.serverAddr = a.String()
	}
	for range f.pings {
		t0 := s.Now()
		if err := c.Send([]byte{'x'}); err != nil {
			return fmt.Errorf("ping send: %w", err)
		}
		if _, err := c.Recv(1, 10*time.Second); err != nil {
			return fmt.Errorf("ping recv: %w", err)
		}
		rep.rtts = append(rep.rtts, s.Now()-t0)
		prog.pinged.Add(1)
	}

	// Bulk echo: a writer process sends seeded random bytes while this
	// one reads the echo; both hash what they saw.
	var seed [32]byte
	seed[0] = byte(s.Seed())
	rng := rand.NewChaCha8(seed)
	hSent, hEcho := sha256.New(), sha256.New()
	start = s.Now()
	prog.bulkStart.Store(time.Now().UnixNano())
	p.Node().Spawn(func(*gentcp.Process) {
		chunk := make([]byte, 64<<10)
		var err error
		for left := f.bytes; left > 0 && err == nil; {
			n := min(int64(len(chunk)), left)
			rng.Read(chunk[:n])
			hSent.Write(chunk[:n])
			if err = c.Send(chunk[:n]); err == nil {
				rep.sent += n
				left -= n
			}
		}
		p.Send(err)
	})
	for rep.echoed < f.bytes {
		d, err := c.Recv(0, 30*time.Second)
		if err != nil {
			return fmt.Errorf("bulk recv after %d bytes: %w", rep.echoed, err)
		}
		hEcho.Write(d.Bytes)
		rep.echoed += int64(len(d.Bytes))
		prog.echoed.Store(rep.echoed)
	}
	rep.bulk = s.Now() - start
	m, err := p.Receive(gentcp.Infinity)
	if err != nil {
		return err
	}
	if err, _ := m.(error); err != nil {
		return fmt.Errorf("bulk send: %w", err)
	}
	copy(rep.sumSent[:], hSent.Sum(nil))
	copy(rep.sumEchoed[:], hEcho.Sum(nil))
	for i, n := range []*gentcp.Node{srv, p.Node()} {
		tcp := n.Stack().Netstack().Stats().TCP
		rep.retrans[i], rep.segs[i] = tcp.Retransmits.Value(), tcp.SegmentsSent.Value()
	}
	return nil
}
