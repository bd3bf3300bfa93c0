package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/usertcp/usertcp/config"
	"github.com/usertcp/usertcp/gentcp"
)

// servicePorts are the ports of serve's services; 0 turns one off.
type servicePorts struct {
	echo, discard, http int
}

func (p *servicePorts) register(fs *flag.FlagSet) {
	fs.IntVar(&p.echo, "echo", 7, "`PORT` of the echo service (RFC 862) on gen_tcp; 0: off")
	fs.IntVar(&p.discard, "discard", 9, "`PORT` of the discard service (RFC 863) on gen_tcp; 0: off")
	fs.IntVar(&p.http, "http", 80, "`PORT` of the HTTP server (Go's net/http on gentcp's net.Listener); 0: off")
}

func (p *servicePorts) check() error {
	seen := map[int]string{}
	for _, s := range []struct {
		name string
		port int
	}{{"echo", p.echo}, {"discard", p.discard}, {"http", p.http}} {
		if s.port < 0 || s.port > 65535 {
			return fmt.Errorf("--%s %d: want 0..65535", s.name, s.port)
		}
		if s.port == 0 {
			continue
		}
		if other, ok := seen[s.port]; ok {
			return fmt.Errorf("--%s and --%s are both port %d", other, s.name, s.port)
		}
		seen[s.port] = s.name
	}
	return nil
}

func runServe(args []string, stdout, stderr io.Writer) error {
	var lf linkFlags
	var ports servicePorts
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	help := `Usage: usertcp serve --tap NAME [flags]

Runs services on a userspace stack attached to a TAP device, for the kernel
and real programs on its other side to use: echo and discard on gen_tcp, and
an HTTP server (Go's net/http over gentcp's net.Listener). Each listens on
IPv4 and IPv6. Ctrl-C (SIGINT) or SIGTERM stops them, closes the stack and
removes the device if serve created it.

The device is created if it does not exist; its kernel side then gets
10.77.0.1/30 and fd77:75::1/64, and the stack 10.77.0.2 and fd77:75::2.
scripts/tapns.sh makes one inside a network namespace instead:

  sudo scripts/tapns.sh up
  sudo usertcp serve --tap usertcp0 --netns usertcp &
  sudo ip netns exec usertcp curl http://10.77.0.2/

HTTP paths: / (a greeting), /bytes/N (N bytes of a fixed pattern),
POST /sha256 (the SHA-256 of the body).

Flags:
`
	lf.register(fs)
	ports.register(fs)
	if err := parseFlags(fs, args, help, stdout); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if err := ports.check(); err != nil {
		return usageError{err}
	}
	cfg, err := lf.load()
	if err != nil {
		return err
	}
	if cfg.Link.Kind != config.Tap {
		return usageError{errors.New("serve needs a TAP link: --tap NAME, or a config with [link] kind = \"tap\" (on a memlink, 'usertcp connect' runs the services in its own process)")}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	w, closeWorld, err := lf.open(cfg)
	if err != nil {
		return err
	}
	name := cfg.Stacks[0].Name
	node := w.nodes[name]
	svc, err := startServices(node, ports, stderr)
	if err != nil {
		closeWorld()
		return err
	}
	fmt.Fprintf(stdout, "usertcp serve: stack %q on %s\n", name, describeTap(w.tap))
	var addrs []string
	for _, a := range w.stacks[name].Addresses() {
		if !a.Addr().IsLoopback() {
			addrs = append(addrs, a.String())
		}
	}
	fmt.Fprintf(stdout, "  addresses  %s\n", strings.Join(addrs, " "))
	for _, l := range svc.describe() {
		fmt.Fprintf(stdout, "  %s\n", l)
	}
	fmt.Fprintln(stdout, "ready; Ctrl-C stops")
	<-ctx.Done()
	fmt.Fprintln(stdout, "usertcp serve: stopping")
	svc.stop()
	closeWorld()
	msg := "usertcp serve: stopped after " + plural(svc.served.Load(), "connection")
	if w.tap.Created() {
		msg += "; TAP " + w.tap.Name() + " removed"
	}
	fmt.Fprintln(stdout, msg)
	return nil
}

// services are echo, discard and HTTP on one node.
type services struct {
	node   *gentcp.Node
	log    io.Writer
	served atomic.Int64
	lines  []string

	mu      sync.Mutex
	stopped bool
	procs   map[*gentcp.Process]struct{}
	listens []*gentcp.Socket
	wg      sync.WaitGroup

	httpSrv *http.Server
	httpLn  net.Listener
	httpErr chan error
}

// startServices opens the listeners and starts one acceptor per gen_tcp
// service and the HTTP server. On error nothing is left running.
func startServices(node *gentcp.Node, ports servicePorts, log io.Writer) (*services, error) {
	s := &services{node: node, log: log, procs: map[*gentcp.Process]struct{}{}}
	for _, gs := range []struct {
		name   string
		port   int
		handle func(*gentcp.Socket)
	}{{"echo", ports.echo, echoConn}, {"discard", ports.discard, discardConn}} {
		if gs.port == 0 {
			continue
		}
		if err := s.listenGenTCP(gs.name, gs.port, gs.handle); err != nil {
			s.stop()
			return nil, err
		}
	}
	if ports.http != 0 {
		// One listener for both families: an IPv6 endpoint bound to the
		// unspecified address takes IPv4 connections too, as Linux's
		// with ipv6_v6only off.
		ln, err := node.Listen("tcp6", ":"+strconv.Itoa(ports.http))
		if err != nil {
			s.stop()
			return nil, fmt.Errorf("http on port %d: %w", ports.http, err)
		}
		s.httpLn = ln
		s.httpSrv = &http.Server{Handler: httpHandler(), ReadHeaderTimeout: 10 * time.Second}
		s.httpSrv.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.served.Add(1)
			}
		}
		s.httpErr = make(chan error, 1)
		go func() { s.httpErr <- s.httpSrv.Serve(ln) }()
		s.lines = append(s.lines, fmt.Sprintf("http       tcp %d (net/http on gentcp)", ports.http))
	}
	sort.Strings(s.lines)
	return s, nil
}

func (s *services) describe() []string { return s.lines }

// listenGenTCP opens a gen_tcp listen socket and starts its first
// acceptor. The acceptors follow Erlang's pattern: each accepts one
// connection, spawns the next acceptor, and then serves its connection.
func (s *services) listenGenTCP(name string, port int, handle func(*gentcp.Socket)) error {
	owner := s.node.NewProcess()
	// exit_on_close false: after the peer's FIN the socket can still send
	// (echo answers a half-closed client), and close is explicit.
	l, err := owner.Listen(port, gentcp.Inet6, gentcp.Binary, gentcp.Active(false), gentcp.PacketRaw,
		gentcp.Reuseaddr(true), gentcp.Backlog(128), gentcp.ExitOnClose(false), gentcp.Nodelay(true),
		gentcp.Buffer(64<<10))
	if err != nil {
		owner.Exit()
		return fmt.Errorf("%s on port %d: %w", name, port, err)
	}
	s.mu.Lock()
	s.procs[owner] = struct{}{}
	s.listens = append(s.listens, l)
	s.mu.Unlock()
	s.lines = append(s.lines, fmt.Sprintf("%-10s tcp %d (gen_tcp)", name, port))
	s.spawnAcceptor(l, handle)
	return nil
}

// spawnAcceptor starts a process that accepts one connection on l.
func (s *services) spawnAcceptor(l *gentcp.Socket, handle func(*gentcp.Socket)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.wg.Add(1)
	p := s.node.NewProcess()
	s.procs[p] = struct{}{}
	go func() {
		defer s.wg.Done()
		defer func() {
			p.Exit()
			s.mu.Lock()
			delete(s.procs, p)
			s.mu.Unlock()
		}()
		c, err := p.Accept(l, gentcp.Infinity)
		if err != nil {
			if !errors.Is(err, gentcp.Closed) {
				fmt.Fprintf(s.log, "usertcp serve: accept: %v\n", err)
			}
			return
		}
		s.served.Add(1)
		s.spawnAcceptor(l, handle)
		handle(c)
	}()
}

// stop closes the listeners, then every connection, and waits for the
// service goroutines.
func (s *services) stop() {
	s.mu.Lock()
	s.stopped = true
	procs := make([]*gentcp.Process, 0, len(s.procs))
	for p := range s.procs {
		procs = append(procs, p)
	}
	s.mu.Unlock()
	if s.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := s.httpSrv.Shutdown(ctx); err != nil {
			s.httpSrv.Close()
		}
		cancel()
		<-s.httpErr
	}
	// Exiting a process closes its sockets: the listen sockets (their
	// acceptors then get closed) and the connections (their recv gets
	// closed).
	for _, p := range procs {
		p.Exit()
	}
	s.wg.Wait()
}

// echoConn sends back what it receives until the peer closes its side,
// then closes (after the echo has gone out).
func echoConn(c *gentcp.Socket) {
	defer c.Close()
	for {
		d, err := c.Recv(0, gentcp.Infinity)
		if err != nil {
			return
		}
		if err := c.Send(d.Bytes); err != nil {
			return
		}
	}
}

// discardConn reads and drops everything until the peer closes its side.
func discardConn(c *gentcp.Socket) {
	defer c.Close()
	for {
		if _, err := c.Recv(0, gentcp.Infinity); err != nil {
			return
		}
	}
}

// patternByte is byte i of the /bytes/N body: the residues mod 251, a
// prime, so that a shifted or repeated block shows.
func patternByte(i int64) byte { return byte(i % 251) }

func httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hello from usertcp: Go's net/http over gen_tcp over a userspace TCP/IP stack (gVisor netstack).\nYou are %s.\n", r.RemoteAddr)
	})
	mux.HandleFunc("GET /bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
		if err != nil || n < 0 || n > 1<<34 {
			http.Error(w, "want /bytes/N with N from 0 to 2^34", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		buf := make([]byte, 64<<10)
		for off := int64(0); off < n; {
			k := min(int64(len(buf)), n-off)
			for i := range k {
				buf[i] = patternByte(off + i)
			}
			if _, err := w.Write(buf[:k]); err != nil {
				return
			}
			off += k
		}
	})
	mux.HandleFunc("POST /sha256", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%x  %d\n", h.Sum(nil), n)
	})
	return mux
}
