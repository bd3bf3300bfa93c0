package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/usertcp/usertcp/config"
	"github.com/usertcp/usertcp/gentcp"
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

Flags:
`
	fs.StringVar(&f.config, "config", "", "config file (TOML); default: the embedded two-stack setup")
	fs.StringVar(&f.pcap, "pcap", "", "write a pcap capture of the wire to this file")
	fs.Int64Var(&f.bytes, "bytes", 8<<20, "bytes the client sends (and gets echoed back)")
	fs.IntVar(&f.pings, "pings", 200, "1-byte round trips to time")
	fs.IntVar(&f.port, "port", 7, "the echo server's port")
	fs.IntVar(&f.mtu, "mtu", 0, "link MTU (default: the config's)")
	f.impairFlags.register(fs)
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
	w, err := build(cfg, pcapW)
	if err != nil {
		return err
	}
	defer w.close()
	if len(cfg.Stacks) < 2 {
		return errors.New("the demo needs two stacks, one on each end of the link")
	}
	serverName, clientName := cfg.Stacks[0].Name, cfg.Stacks[1].Name
	rep, err := demo(w, serverName, clientName, f, stderr)
	if err != nil {
		return err
	}
	rep.print(stdout, cfg, f)
	if pcapFile != nil {
		fmt.Fprintf(stdout, "capture:       %s (read it with: tcpdump -nn -r %s)\n", f.pcap, f.pcap)
	}
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

func demo(w *world, serverName, clientName string, f demoFlags, stderr io.Writer) (*report, error) {
	srv, cli := w.nodes[serverName], w.nodes[clientName]
	rep := &report{server: serverName, client: clientName}
	prog := &demoProgress{pingsWant: f.pings, bytes: f.bytes}
	defer startProgress(stderr, prog.status).Stop()

	// The server: gen_tcp:listen, then one acceptor that echoes. Its
	// options override the config's defaults where the echo needs them.
	sp := srv.NewProcess()
	defer sp.Exit()
	ls, err := sp.Listen(f.port, gentcp.Binary, gentcp.Active(false), gentcp.PacketRaw, gentcp.Buffer(64<<10), gentcp.Nodelay(true))
	if err != nil {
		return nil, fmt.Errorf("server listen on port %d: %w", f.port, err)
	}
	echoDone := make(chan error, 1)
	srv.Spawn(func(p *gentcp.Process) {
		s, err := p.Accept(ls, gentcp.Infinity)
		if err != nil {
			echoDone <- err
			return
		}
		for {
			d, err := s.Recv(0, gentcp.Infinity)
			if err != nil {
				s.Close()
				if errors.Is(err, gentcp.Closed) {
					err = nil
				}
				echoDone <- err
				return
			}
			if err := s.Send(d.Bytes); err != nil {
				echoDone <- err
				return
			}
		}
	})

	cp := cli.NewProcess()
	defer cp.Exit()
	start := time.Now()
	c, err := cp.Connect(serverName, f.port, 10*time.Second, gentcp.Binary, gentcp.Active(false), gentcp.PacketRaw, gentcp.Buffer(64<<10), gentcp.Nodelay(true))
	if err != nil {
		return nil, fmt.Errorf("client connect to %s:%d: %w", serverName, f.port, err)
	}
	rep.handshake = time.Since(start)
	if a, err := c.Peername(); err == nil {
		rep.serverAddr = a.String()
	}

	// Round trips: one byte out, one byte back.
	one := []byte{'x'}
	for range f.pings {
		t0 := time.Now()
		if err := c.Send(one); err != nil {
			return nil, fmt.Errorf("ping send: %w", err)
		}
		if _, err := c.Recv(1, 10*time.Second); err != nil {
			return nil, fmt.Errorf("ping recv: %w", err)
		}
		rep.rtts = append(rep.rtts, time.Since(t0))
		prog.pinged.Add(1)
	}

	// Bulk echo: a writer sends random bytes while this goroutine reads the
	// echo; both sides hash what they saw.
	var seed [32]byte
	seed[0] = byte(w.cfg.Link.Seed)
	rng := rand.NewChaCha8(seed)
	chunk := make([]byte, 64<<10)
	sendErr := make(chan error, 1)
	hSent := sha256.New()
	start = time.Now()
	prog.bulkStart.Store(start.UnixNano())
	go func() {
		left := f.bytes
		for left > 0 {
			n := min(int64(len(chunk)), left)
			rng.Read(chunk[:n])
			hSent.Write(chunk[:n])
			if err := c.Send(chunk[:n]); err != nil {
				sendErr <- err
				return
			}
			rep.sent += n
			left -= n
		}
		sendErr <- nil
	}()
	hEcho := sha256.New()
	for rep.echoed < f.bytes {
		d, err := c.Recv(0, 30*time.Second)
		if err != nil {
			return nil, fmt.Errorf("bulk recv after %d bytes: %w", rep.echoed, err)
		}
		hEcho.Write(d.Bytes)
		rep.echoed += int64(len(d.Bytes))
		prog.echoed.Store(rep.echoed)
	}
	rep.bulk = time.Since(start)
	if err := <-sendErr; err != nil {
		return nil, fmt.Errorf("bulk send: %w", err)
	}
	copy(rep.sumSent[:], hSent.Sum(nil))
	copy(rep.sumEchoed[:], hEcho.Sum(nil))
	c.Close()
	if err := <-echoDone; err != nil {
		return nil, fmt.Errorf("echo server: %w", err)
	}
	ls.Close()
	for i, name := range []string{serverName, clientName} {
		st := w.stacks[name].Netstack().Stats().TCP
		rep.retrans[i] = st.Retransmits.Value()
		rep.segs[i] = st.SegmentsSent.Value()
	}
	rep.linkA = describeCounters(w, 0)
	rep.linkB = describeCounters(w, 1)
	return rep, nil
}

func describeCounters(w *world, i int) string {
	c := w.link[i].Counters()
	return fmt.Sprintf("%d frames (%s), %d dropped, %d duplicated, %d corrupted, %d reordered, %d out of order",
		c.Frames, humanBytes(float64(c.Bytes)), c.Dropped, c.Duplicated, c.Corrupted, c.Reordered, c.OutOfOrder)
}

func (r *report) print(out io.Writer, cfg *config.Config, f demoFlags) {
	l := cfg.Link
	mtu := l.MTU
	if mtu == 0 {
		mtu = 1500
	}
	fmt.Fprintf(out, "usertcp demo: stack %q and stack %q on an in-memory link (MTU %d", r.server, r.client, mtu)
	if l.Loss > 0 || l.Duplicate > 0 || l.Corrupt > 0 || l.Reorder > 0 || l.Latency > 0 || l.Jitter > 0 || l.Rate > 0 {
		fmt.Fprintf(out, "; loss %g, duplicate %g, corrupt %g, reorder %g, latency %v, jitter %v", l.Loss, l.Duplicate, l.Corrupt, l.Reorder, l.Latency, l.Jitter)
		if l.Rate > 0 {
			fmt.Fprintf(out, ", rate %s/s", humanBytes(float64(l.Rate)))
		}
		fmt.Fprintf(out, "; seed %d", l.Seed)
	}
	fmt.Fprintln(out, "). No kernel sockets were used.")
	fmt.Fprintf(out, "handshake:     client connected to %s in %v (gen_tcp:connect)\n", r.serverAddr, roundDuration(r.handshake))
	if len(r.rtts) > 0 {
		s := slices.Clone(r.rtts)
		slices.Sort(s)
		p := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
		fmt.Fprintf(out, "round trip:    %d one-byte pings: p50 %v, p99 %v, max %v\n", len(s), roundDuration(p(0.5)), roundDuration(p(0.99)), roundDuration(s[len(s)-1]))
	}
	secs := r.bulk.Seconds()
	if secs > 0 {
		fmt.Fprintf(out, "bulk echo:     %s sent and %s echoed back in %v: %s/s each way (%s)\n",
			humanBytes(float64(r.sent)), humanBytes(float64(r.echoed)), roundDuration(r.bulk),
			humanBytes(float64(r.sent)/secs), scaled(float64(r.sent)*8/secs, "bit/s"))
	}
	verdict := "match: every byte came back in order"
	if !bytes.Equal(r.sumSent[:], r.sumEchoed[:]) {
		verdict = "MISMATCH: the echo differs from what was sent"
	}
	fmt.Fprintf(out, "integrity:     SHA-256 sent %x…, echoed %x… (%s)\n", r.sumSent[:6], r.sumEchoed[:6], verdict)
	fmt.Fprintf(out, "retransmits:   %s %d of %d segments, %s %d of %d segments\n", r.server, r.retrans[0], r.segs[0], r.client, r.retrans[1], r.segs[1])
	fmt.Fprintf(out, "wire a→b:      %s\n", r.linkA)
	fmt.Fprintf(out, "wire b→a:      %s\n", r.linkB)
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
