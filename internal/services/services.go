package services

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usertcp/usertcp/gentcp"
)

// Ports are the ports of the services; 0 turns one off.
type Ports struct {
	// Echo, Discard and HTTP are the TCP ports of the echo (RFC 862),
	// discard (RFC 863) and HTTP services.
	Echo, Discard, HTTP int
}

// Services are the running services of one node, made by Start.
type Services struct {
	node   *gentcp.Node
	log    io.Writer
	served atomic.Int64
	lines  []string

	mu      sync.Mutex
	stopped bool
	procs   map[*gentcp.Process]struct{}
	wg      sync.WaitGroup

	httpSrv *http.Server
	httpErr chan error
}

// Start opens the listeners of the services whose port is not 0, each
// for IPv4 and IPv6, and starts one acceptor per gen_tcp service and the
// HTTP server. A failed accept other than by Stop is written to log as a
// line. On error nothing is left running.
func Start(node *gentcp.Node, ports Ports, log io.Writer) (*Services, error) {
	s := &Services{node: node, log: log, procs: map[*gentcp.Process]struct{}{}}
	for _, gs := range []struct {
		name   string
		port   int
		handle func(*gentcp.Socket) error
	}{{"echo", ports.Echo, Echo}, {"discard", ports.Discard, Discard}} {
		if gs.port == 0 {
			continue
		}
		if err := s.listenGenTCP(gs.name, gs.port, gs.handle); err != nil {
			s.Stop()
			return nil, err
		}
	}
	if ports.HTTP != 0 {
		// One listener for both families: an IPv6 endpoint bound to the
		// unspecified address takes IPv4 connections too, as Linux's
		// with ipv6_v6only off.
		ln, err := node.Listen("tcp6", ":"+strconv.Itoa(ports.HTTP))
		if err != nil {
			s.Stop()
			return nil, fmt.Errorf("http on port %d: %w", ports.HTTP, err)
		}
		s.httpSrv = &http.Server{Handler: HTTPHandler(), ReadHeaderTimeout: 10 * time.Second}
		s.httpSrv.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.served.Add(1)
			}
		}
		s.httpErr = make(chan error, 1)
		go func() { s.httpErr <- s.httpSrv.Serve(ln) }()
		s.lines = append(s.lines, fmt.Sprintf("http       tcp %d (net/http on gentcp)", ports.HTTP))
	}
	sort.Strings(s.lines)
	return s, nil
}

// Describe returns a line per service (its name, port and server), in
// the order of their names.
func (s *Services) Describe() []string { return s.lines }

// Served returns how many connections the services have accepted so far,
// HTTP's (one per connection, not per request) included.
func (s *Services) Served() int64 { return s.served.Load() }

// listenGenTCP opens a gen_tcp listen socket and starts its first
// acceptor.
func (s *Services) listenGenTCP(name string, port int, handle func(*gentcp.Socket) error) error {
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
	s.mu.Unlock()
	s.lines = append(s.lines, fmt.Sprintf("%-10s tcp %d (gen_tcp)", name, port))
	s.spawnAcceptor(l, handle)
	return nil
}

// spawnAcceptor starts a process that accepts one connection on l,
// spawns the next acceptor and serves the connection with handle.
func (s *Services) spawnAcceptor(l *gentcp.Socket, handle func(*gentcp.Socket) error) {
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
		// A connection's end, a reset included, is its own business:
		// the service goes on.
		_ = handle(c)
	}()
}

// Stop closes the listeners, then every connection, and waits for the
// services' goroutines. It returns the HTTP server's error if that
// server had stopped before, for another reason than Stop.
func (s *Services) Stop() error {
	s.mu.Lock()
	s.stopped = true
	procs := make([]*gentcp.Process, 0, len(s.procs))
	for p := range s.procs {
		procs = append(procs, p)
	}
	s.mu.Unlock()
	var err error
	if s.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := s.httpSrv.Shutdown(ctx); err != nil {
			s.httpSrv.Close()
		}
		cancel()
		if err = <-s.httpErr; errors.Is(err, http.ErrServerClosed) {
			err = nil
		} else {
			err = fmt.Errorf("http: %w", err)
		}
	}
	// Exiting a process closes its sockets: the listen sockets (their
	// acceptors then get closed) and the connections (their recv gets
	// closed).
	for _, p := range procs {
		p.Exit()
	}
	s.wg.Wait()
	return err
}
