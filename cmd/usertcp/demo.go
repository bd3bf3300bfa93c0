package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/usertcp/usertcp/config"
	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
)

// demoFlags are the demo's knobs; impairment flags override the config.
type demoFlags struct {
	config string
	pcap   string
	bytes  int64
	pings  int
	port   int
	mtu    int
	sim    bool
	hosts  int
	// timeline: demo --sim writes the run's timeline here (.svg, or "-"
	// for text on stdout).
	timeline string
	impairFlags
}

func runDemo(args []string, stdout, stderr io.Writer) error {
	var f demoFlags
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	help := `Usage: usertcp demo [flags]

Two userspace stacks on an in-memory link: an echo server on one (gen_tcp listen/accept),
a client on the other. The client measures the handshake, round trips and a bulk echo
checked by SHA-256, and the demo reports what happened on the wire. The report goes to
stdout, progress to stderr.

With --hosts N, a server and N-1 clients on one in-memory network (memlink's network:
a frame goes to the port of its destination), all clients at once, and a report per
client. The hosts are "server" (10.0.0.1/16, fd00:75::1/64) and "client1".. (10.0.0.2,
fd00:75::2, ...); each takes the TCP settings of the config's first stack (the server)
or its second (the clients), and every pair of hosts the link's faults.

Flags:
`
	fs.StringVar(&f.config, "config", "", "config file (TOML); default: the embedded two-stack setup")
	fs.StringVar(&f.pcap, "pcap", "", "write a pcap capture of the wire to this file")
	fs.Int64Var(&f.bytes, "bytes", 8<<20, "bytes the client sends (and gets echoed back)")
	fs.IntVar(&f.pings, "pings", 200, "1-byte round trips to time")
	fs.IntVar(&f.port, "port", 7, "the echo server's port")
	fs.IntVar(&f.mtu, "mtu", 0, "link MTU (default: the config's)")
	f.impairFlags.register(fs)
	fs.IntVar(&f.hosts, "hosts", 2, fmt.Sprintf("`N` hosts: a server and N-1 clients, 2..%d (more than 2: on a network, a report per client)", maxDemoHosts))
	fs.BoolVar(&f.sim, "sim", false, "run in a deterministic simulation: virtual time (latency 1ms unless set), the same report for the same --seed")
	fs.StringVar(&f.timeline, "timeline", "", "with --sim: write the run's timeline to this file (SVG if it ends in .svg, else text; - for text on stdout)")
	if err := parseFlags(fs, args, help, stdout); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	cfg, err := loadConfig(f.config)
	if err != nil {
		return err
	}
	if err := f.apply(cfg); err != nil {
		return usageError{err}
	}
	var pcapFile *os.File
	var pcapW io.Writer
	if f.pcap != "" {
		if pcapFile, err = os.Create(f.pcap); err != nil {
			return err
		}
		defer pcapFile.Close()
		pcapW = pcapFile
	}
	if f.timeline != "" && !f.sim {
		return usageError{errors.New("--timeline needs --sim")}
	}
	if f.sim {
		return runSimDemo(cfg, f, pcapW, stdout, stderr)
	}
	if f.hosts > 2 {
		err = runHostsDemo(cfg, f, pcapW, stdout, stderr)
	} else {
		err = runLinkDemo(cfg, f, pcapW, stdout, stderr)
	}
	if err != nil {
		return err
	}
	if pcapFile != nil {
		fmt.Fprintf(stdout, "capture:       %s (read it with: tcpdump -nn -r %s)\n", f.pcap, f.pcap)
	}
	return nil
}

// runLinkDemo is the demo of two stacks on a link (memlink.New), the
// config's first as the server, its second as the client.
func runLinkDemo(cfg *config.Config, f demoFlags, pcap io.Writer, stdout, stderr io.Writer) error {
	w, err := build(cfg, pcap)
	if err != nil {
		return err
	}
	defer w.close()
	if len(cfg.Stacks) < 2 {
		return errors.New("the demo needs two stacks, one on each end of the link")
	}
	reps, err := demo(w, cfg.Stacks[0].Name, []string{cfg.Stacks[1].Name}, f, stderr)
	if err != nil {
		return err
	}
	rep := reps[0]
	rep.linkA = describeCounters(w.link[0].Counters())
	rep.linkB = describeCounters(w.link[1].Counters())
	rep.print(stdout, cfg, f)
	return nil
}

func (f *demoFlags) apply(cfg *config.Config) error {
	if err := applyMTU(cfg, f.mtu); err != nil {
		return err
	}
	if err := f.impairFlags.apply(cfg); err != nil {
		return err
	}
	if f.bytes < 0 || f.pings < 0 {
		return errors.New("--bytes and --pings must not be negative")
	}
	if f.port < 1 || f.port > 65535 {
		return fmt.Errorf("--port %d: want 1..65535", f.port)
	}
	if f.hosts < 2 || f.hosts > maxDemoHosts {
		return fmt.Errorf("--hosts %d: want 2..%d (a server and at least one client)", f.hosts, maxDemoHosts)
	}
	if f.hosts > 2 && cfg.Link.Kind != config.Memlink {
		return fmt.Errorf("--hosts %d needs a memlink link, not %q", f.hosts, cfg.Link.Kind)
	}
	return nil
}

// report is what the demo measured.
type report struct {
	server, client     string
	serverAddr         string
	handshake          time.Duration
	rtts               []time.Duration
	sent, echoed       int64
	bulk               time.Duration
	sumSent, sumEchoed [32]byte
	retrans            [2]uint64
	segs               [2]uint64
	linkA, linkB       string
}

// demo runs the echo server on the server's node and a client on each
// client's node, all at once, in real time, and returns a report per
// client, in order (the server's counts are in each).
func demo(w *world, serverName string, clientNames []string, f demoFlags, stderr io.Writer) ([]*report, error) {
	n := len(clientNames)
	prog := &demoProgress{pingsWant: f.pings * n, bytes: f.bytes * int64(n)}
	defer startProgress(stderr, prog.status).Stop()

	// The server listens before any client connects, then serves in a
	// goroutine of its own.
	srv := w.nodes[serverName]
	sp := srv.NewProcess()
	defer sp.Exit()
	ls, err := listenEcho(sp, f.port, n)
	if err != nil {
		return nil, err
	}
	echoDone := make(chan error, 1)
	go func() { echoDone <- serveEchoes(sp, ls, n) }()

	type result struct {
		i   int
		err error
	}
	results := make(chan result, n)
	reps := make([]*report, n)
	procs := make([]*gentcp.Process, n)
	start := time.Now()
	now := func() time.Duration { return time.Since(start) }
	for i, name := range clientNames {
		reps[i] = &report{server: serverName, client: name}
		procs[i] = w.nodes[name].Spawn(func(p *gentcp.Process) {
			err := echoClient(p, now, uint64(w.cfg.Link.Seed), i, serverName, f, reps[i], prog)
			reps[i].retrans[1], reps[i].segs[1] = tcpCounts(p.Node())
			results <- result{i, err}
		})
	}
	var failed error
	for range n {
		r := <-results
		if r.err == nil || failed != nil {
			continue
		}
		failed = r.err
		if n > 1 {
			failed = fmt.Errorf("%s: %w", clientNames[r.i], r.err)
		}
		// The others and the server cannot finish now: end them.
		for _, p := range procs {
			p.Exit()
		}
		sp.Exit()
	}
	if err := <-echoDone; failed == nil {
		failed = err
	}
	if failed != nil {
		return nil, failed
	}
	sr, ss := tcpCounts(srv)
	for _, r := range reps {
		r.retrans[0], r.segs[0] = sr, ss
	}
	return reps, nil
}

// describeCounters says what the frames of a direction (or of the whole
// network) did.
func describeCounters(c memlink.Counters) string {
	return fmt.Sprintf("%d frames (%s), %d dropped, %d duplicated, %d corrupted, %d reordered, %d out of order",
		c.Frames, humanBytes(float64(c.Bytes)), c.Dropped, c.Duplicated, c.Corrupted, c.Reordered, c.OutOfOrder)
}

func (r *report) print(out io.Writer, cfg *config.Config, f demoFlags) {
	fmt.Fprintf(out, "usertcp demo: stack %q and stack %q on an in-memory link (%s). No kernel sockets were used.\n", r.server, r.client, describeLink(cfg.Link))
	r.printMeasures(out, "")
	fmt.Fprintf(out, "retransmits:   %s %d of %d segments, %s %d of %d segments\n", r.server, r.retrans[0], r.segs[0], r.client, r.retrans[1], r.segs[1])
	fmt.Fprintf(out, "wire a→b:      %s\n", r.linkA)
	fmt.Fprintf(out, "wire b→a:      %s\n", r.linkB)
}

// describeLink gives the link's MTU and, if it has any, its faults.
func describeLink(l config.Link) string {
	mtu := l.MTU
	if mtu == 0 {
		mtu = 1500
	}
	s := fmt.Sprintf("MTU %d", mtu)
	if l.Loss > 0 || l.Duplicate > 0 || l.Corrupt > 0 || l.Reorder > 0 || l.Latency > 0 || l.Jitter > 0 || l.Rate > 0 {
		s += fmt.Sprintf("; loss %g, duplicate %g, corrupt %g, reorder %g, latency %v, jitter %v", l.Loss, l.Duplicate, l.Corrupt, l.Reorder, l.Latency, l.Jitter)
		if l.Rate > 0 {
			s += fmt.Sprintf(", rate %s/s", humanBytes(float64(l.Rate)))
		}
		s += fmt.Sprintf("; seed %d", l.Seed)
	}
	return s
}

// printMeasures prints what the client measured, a line each, their
// labels after indent.
func (r *report) printMeasures(out io.Writer, indent string) {
	line := func(label, format string, args ...any) {
		fmt.Fprintf(out, "%s%-*s%s\n", indent, 15-len(indent), label+":", fmt.Sprintf(format, args...))
	}
	line("handshake", "%s connected to %s in %v (gen_tcp:connect)", r.client, r.serverAddr, roundDuration(r.handshake))
	if len(r.rtts) > 0 {
		s := slices.Clone(r.rtts)
		slices.Sort(s)
		p := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
		line("round trip", "%d one-byte pings: p50 %v, p99 %v, max %v", len(s), roundDuration(p(0.5)), roundDuration(p(0.99)), roundDuration(s[len(s)-1]))
	}
	if secs := r.bulk.Seconds(); secs > 0 {
		line("bulk echo", "%s sent and %s echoed back in %v: %s/s each way (%s)",
			humanBytes(float64(r.sent)), humanBytes(float64(r.echoed)), roundDuration(r.bulk),
			humanBytes(float64(r.sent)/secs), scaled(float64(r.sent)*8/secs, "bit/s"))
	}
	line("integrity", "SHA-256 sent %x…, echoed %x… (%s)", r.sumSent[:6], r.sumEchoed[:6], r.verdict())
}

// verdict says whether the echo matched what was sent.
func (r *report) verdict() string {
	if !bytes.Equal(r.sumSent[:], r.sumEchoed[:]) {
		return "MISMATCH: the echo differs from what was sent"
	}
	return "match: every byte came back in order"
}

// roundDuration keeps three significant digits of d, so that a short run
// shows as 412µs rather than 0s and a long one as 1.23s rather than
// 1.234567891s.
func roundDuration(d time.Duration) time.Duration {
	unit := time.Duration(1)
	for d >= 1000*unit && unit < time.Second {
		unit *= 10
	}
	return d.Round(unit)
}

// plural is "1 connection", "2 connections".
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.FormatInt(n, 10) + " " + noun + "s"
}

func humanBytes(n float64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", n/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f B", n)
}
