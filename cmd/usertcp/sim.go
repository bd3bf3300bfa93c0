package main

import (
	"errors"
	"fmt"
	"io"
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
	if len(cfg.Stacks) < 2 {
		return errors.New("the demo needs two stacks, one on each end of the link")
	}
	link, err := simLink(cfg, pcap)
	if err != nil {
		return err
	}
	opts := sim.Options{Seed: uint64(cfg.Link.Seed), Link: link}
	var serverName string
	var clients []string
	if f.hosts > 2 {
		hosts, err := demoHosts(cfg, f.hosts)
		if err != nil {
			return err
		}
		for _, h := range hosts {
			opts.Hosts = append(opts.Hosts, sim.Host{Name: h.Name, Addresses: h.Addresses, TCP: stackOptions(h, nil, 0).TCP})
		}
		serverName, clients = hosts[0].Name, clientNames(hosts)
	} else {
		// The first stack serves, the second is the client; each sits
		// on the end of the link its config names.
		server, client := cfg.Stacks[0], cfg.Stacks[1]
		opts.A = sim.Stack{Name: server.Name, Addresses: server.Addresses, TCP: stackOptions(server, nil, 0).TCP}
		opts.B = sim.Stack{Name: client.Name, Addresses: client.Addresses, TCP: stackOptions(client, nil, 0).TCP}
		if server.End == config.EndB {
			opts.A, opts.B = opts.B, opts.A
		}
		serverName, clients = server.Name, []string{client.Name}
	}

	n := len(clients)
	reps := make([]*report, n)
	var serverRetrans, serverSegs uint64
	// The progress line runs on the wall clock and only reads counters,
	// so the simulation stays deterministic.
	prog := &demoProgress{pingsWant: f.pings * n, bytes: f.bytes * int64(n)}
	p := startProgress(stderr, prog.status)
	var s *sim.Sim
	res, err := sim.Run(opts, func(sm *sim.Sim) {
		s = sm
		// Numbered in config order, as the real-time demo's: the
		// server's pids are <0.N.0>, the first client's <1.N.0>.
		srv := s.Host(serverName)
		srv.SetNumber(0)
		s.Go(srv, func(p *gentcp.Process) error {
			ls, err := listenEcho(p, f.port, n)
			if err != nil {
				return err
			}
			err = serveEchoes(p, ls, n)
			serverRetrans, serverSegs = tcpCounts(p.Node())
			return err
		})
		for i, name := range clients {
			cli := s.Host(name)
			cli.SetNumber(uint32(i + 1))
			reps[i] = &report{server: serverName, client: name}
			s.Go(cli, func(p *gentcp.Process) error {
				err := echoClient(p, s.Now, s.Seed(), i, serverName, f, reps[i], prog)
				reps[i].retrans[1], reps[i].segs[1] = tcpCounts(p.Node())
				return err
			})
		}
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
	for _, r := range reps {
		r.retrans[0], r.segs[0] = serverRetrans, serverSegs
	}
	if n > 1 {
		printHosts(stdout, cfg, reps, s.Network())
	} else {
		a, b := s.Link()
		reps[0].linkA, reps[0].linkB = describeCounters(a.Counters()), describeCounters(b.Counters())
		reps[0].print(stdout, cfg, f)
	}
	printSimRun(stdout, opts.Seed, res, f)
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

// simLink is the network of demo --sim: the config's link, which must be
// a memlink, with a latency of simDefaultLatency unless one is set (in
// virtual time an unset latency would be sim.MinLatency, 1 µs, and the
// report would show absurd rates; 1 ms is a LAN). It sets the latency in
// cfg too, for the report.
func simLink(cfg *config.Config, pcap io.Writer) (memlink.Options, error) {
	if cfg.Link.Kind != config.Memlink {
		return memlink.Options{}, fmt.Errorf("--sim needs a memlink link, not %q", cfg.Link.Kind)
	}
	if cfg.Link.Latency == 0 {
		cfg.Link.Latency = simDefaultLatency
	}
	return memlinkOptions(cfg.Link, pcap), nil
}

// printSimRun prints what a simulated run adds to the report: the seed,
// virtual and wall time, the trace, and where the capture went.
func printSimRun(out io.Writer, seed uint64, res *sim.Result, f demoFlags) {
	fmt.Fprintf(out, "simulation:    seed %d: %v of virtual time in %v of wall time (%d steps)\n",
		seed, res.Elapsed, roundDuration(res.Wall), res.Steps)
	fmt.Fprintf(out, "trace:         %d frames delivered, SHA-256 %s\n", len(res.Frames), res.Hash)
	if f.pcap != "" {
		fmt.Fprintf(out, "capture:       %s (timestamps are virtual, from %s; read it with: tcpdump -nn -r %s)\n",
			f.pcap, sim.Epoch.Format(time.DateOnly), f.pcap)
	}
}
