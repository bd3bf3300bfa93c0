package kv

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/usertcp/usertcp/gentcp"
	"gvisor.dev/gvisor/pkg/tcpip"
)

// Ports the servers listen on, both {packet,4}.
const (
	// ClientPort takes requests: "put K V" (answered "ok", "notprimary"
	// or "unavailable"), "get K" ("val V", "none" or "notprimary").
	ClientPort = 7
	// ReplicaPort takes a primary's replication stream: "hello R" (the
	// primary's rank), then "rep SEQ K V" (answered "ack SEQ") and "hb".
	ReplicaPort = 8
)

// Timing of the protocol.
const (
	// Heartbeat is how often a primary sends "hb" to each backup, and
	// how often a server looks at its timers.
	Heartbeat = 50 * time.Millisecond
	// FailoverAfter is how long the next in succession waits without a
	// word from its primary before it takes over.
	FailoverAfter = 300 * time.Millisecond
	// ReplicationTimeout is how long Safe keeps a put waiting for its
	// backups before it answers "unavailable".
	ReplicationTimeout = 200 * time.Millisecond
)

// Server returns the start process of the server Nodes[rank] (a
// sim.Host's Start, or a process to spawn on a real stack's node). It
// runs until its process exits.
func Server(rank int, mode Mode) func(p *gentcp.Process) error {
	return func(p *gentcp.Process) error {
		s := &server{p: p, rank: rank, mode: mode, clock: p.Node().Stack().Clock(),
			store: map[string]string{}, backups: map[*gentcp.Socket]int{}, clients: map[*gentcp.Socket]bool{}}
		return s.run()
	}
}

// server is one node's state, owned by its main process: the other
// processes (acceptors, connectors) only hand it sockets by message.
type server struct {
	p     *gentcp.Process
	rank  int
	mode  Mode
	clock tcpip.Clock

	primary int // the rank of the primary this node follows (its own when it leads)
	store   map[string]string
	seq     int // the last replication sequence number sent (primary)

	backups  map[*gentcp.Socket]int // primary: connected backups by socket, with their rank
	upstream *gentcp.Socket         // backup: the primary's replication socket
	heard    tcpip.MonotonicTime    // backup: when the primary last spoke
	clients  map[*gentcp.Socket]bool
	pending  []*pendingPut // Safe: puts waiting for their backups, in seq order
}

// pendingPut is a put Safe has applied and sent, waiting for the acks of
// every backup before it answers.
type pendingPut struct {
	seq      int
	client   *gentcp.Socket
	waiting  map[int]bool // ranks that have not acked
	deadline tcpip.MonotonicTime
}

// accepted and connected are what the acceptors and connectors send the
// main process: a socket it now owns.
type (
	accepted struct {
		sock   *gentcp.Socket
		client bool // from ClientPort; ReplicaPort otherwise
	}
	connected struct {
		sock *gentcp.Socket
		rank int
	}
)

func (s *server) run() error {
	opts := []gentcp.Option{gentcp.Binary, gentcp.Packet(4), gentcp.Nodelay(true), gentcp.Active(false), gentcp.Reuseaddr(true)}
	cl, err := s.p.Listen(ClientPort, opts...)
	if err != nil {
		return err
	}
	rl, err := s.p.Listen(ReplicaPort, opts...)
	if err != nil {
		return err
	}
	s.acceptor(cl, true)
	s.acceptor(rl, false)
	s.heard = s.clock.NowMonotonic()
	if s.rank == 0 {
		s.lead()
	}
	next := s.clock.NowMonotonic().Add(Heartbeat)
	for {
		m, err := s.p.Receive(max(next.Sub(s.clock.NowMonotonic()), 0))
		switch {
		case err == gentcp.Timeout:
			s.tick()
			next = s.clock.NowMonotonic().Add(Heartbeat)
		case err != nil:
			return nil // the process exited: the host is going down
		default:
			s.handle(m)
		}
	}
}

// acceptor starts a process that accepts on l forever and hands each
// socket to the main process.
func (s *server) acceptor(l *gentcp.Socket, client bool) {
	main := s.p
	if err := main.ControllingProcess(l, main.Node().Spawn(func(a *gentcp.Process) {
		for {
			c, err := a.Accept(l, gentcp.Infinity)
			if err != nil {
				return
			}
			if a.ControllingProcess(c, main) == nil {
				main.Send(accepted{c, client})
			}
		}
	})); err != nil {
		panic(err) // the new process is alive and main owns l
	}
}

// lead makes this node the primary: it follows no one and connects to
// every node after it in succession as its backups.
func (s *server) lead() {
	s.primary = s.rank
	if s.upstream != nil {
		s.upstream.Close()
		s.upstream = nil
	}
	for r := s.rank + 1; r < len(Nodes); r++ {
		s.connect(r)
	}
}

// connect starts a process that connects to the backup of rank r,
// retrying until it gets through, says hello and hands the socket over.
func (s *server) connect(r int) {
	main := s.p
	hello := fmt.Appendf(nil, "hello %d", s.rank)
	main.Node().Spawn(func(c *gentcp.Process) {
		for c.Alive() {
			sock, err := c.Connect(Nodes[r], ReplicaPort, ReplicationTimeout, gentcp.Binary, gentcp.Packet(4), gentcp.Nodelay(true), gentcp.Active(false))
			if err != nil {
				c.Sleep(Heartbeat)
				continue
			}
			if sock.Send(hello) == nil && c.ControllingProcess(sock, main) == nil {
				main.Send(connected{sock, r})
				return
			}
			sock.Close()
		}
	})
}

// handle takes one message from the mailbox.
func (s *server) handle(m gentcp.Message) {
	switch m := m.(type) {
	case accepted:
		if m.client {
			s.clients[m.sock] = true
		}
		m.sock.Setopts(gentcp.Active(true))
	case connected:
		if s.primary != s.rank {
			m.sock.Close()
			return
		}
		s.backups[m.sock] = m.rank
		m.sock.Setopts(gentcp.Active(true))
		// Bring the backup up to date: everything the primary has, in
		// key order (a map's order would differ from run to run).
		for _, k := range slices.Sorted(maps.Keys(s.store)) {
			m.sock.Send(fmt.Appendf(nil, "rep %d %s %s", s.seq, k, s.store[k]))
		}
	case gentcp.TCP:
		s.message(m.Socket, strings.Fields(string(m.Data.Bytes)))
	case gentcp.TCPClosed:
		s.gone(m.Socket)
	case gentcp.TCPError:
		s.gone(m.Socket)
	}
}

// gone forgets a socket whose peer closed it or that failed.
func (s *server) gone(sock *gentcp.Socket) {
	sock.Close()
	delete(s.clients, sock)
	if r, ok := s.backups[sock]; ok {
		delete(s.backups, sock)
		s.connect(r)
	}
	if sock == s.upstream {
		s.upstream = nil
	}
}

// message handles one request or replication message.
func (s *server) message(sock *gentcp.Socket, f []string) {
	reply := func(format string, args ...any) { sock.Send(fmt.Appendf(nil, format, args...)) }
	switch {
	case s.clients[sock] && len(f) == 3 && f[0] == "put":
		if s.primary != s.rank {
			reply("notprimary")
			return
		}
		s.put(sock, f[1], f[2])
	case s.clients[sock] && len(f) == 2 && f[0] == "get":
		switch v, ok := s.store[f[1]]; {
		case s.primary != s.rank:
			reply("notprimary")
		case ok:
			reply("val %s", v)
		default:
			reply("none")
		}
	case len(f) == 2 && f[0] == "hello":
		// A primary's stream: the newest one is the one to follow.
		r, _ := strconv.Atoi(f[1])
		if s.upstream != nil && s.upstream != sock {
			s.upstream.Close()
		}
		s.upstream, s.primary, s.heard = sock, r, s.clock.NowMonotonic()
	case sock == s.upstream && len(f) == 4 && f[0] == "rep":
		s.store[f[2]] = f[3]
		s.heard = s.clock.NowMonotonic()
		reply("ack %s", f[1])
	case sock == s.upstream && len(f) == 1 && f[0] == "hb":
		s.heard = s.clock.NowMonotonic()
	case len(f) == 2 && f[0] == "ack":
		if r, ok := s.backups[sock]; ok {
			seq, _ := strconv.Atoi(f[1])
			s.acked(r, seq)
		}
	}
}

// put applies a client's write and replicates it. Naive answers "ok" at
// once, before any backup has it; Safe answers once every backup acked.
func (s *server) put(client *gentcp.Socket, k, v string) {
	s.store[k] = v
	s.seq++
	if s.mode == Naive {
		client.Send([]byte("ok"))
	} else {
		p := &pendingPut{seq: s.seq, client: client, waiting: map[int]bool{},
			deadline: s.clock.NowMonotonic().Add(ReplicationTimeout)}
		for r := s.rank + 1; r < len(Nodes); r++ {
			p.waiting[r] = true
		}
		s.pending = append(s.pending, p)
	}
	rep := fmt.Appendf(nil, "rep %d %s %s", s.seq, k, v)
	for _, b := range s.sortedBackups() {
		b.Send(rep)
	}
	s.answer()
}

// acked records that backup r has every put up to seq (its stream is in
// order).
func (s *server) acked(r, seq int) {
	for _, p := range s.pending {
		if p.seq <= seq {
			delete(p.waiting, r)
		}
	}
	s.answer()
}

// answer replies to the pending puts every backup has, and tells those
// past their deadline the write may not have happened.
func (s *server) answer() {
	now := s.clock.NowMonotonic()
	s.pending = slices.DeleteFunc(s.pending, func(p *pendingPut) bool {
		switch {
		case len(p.waiting) == 0:
			p.client.Send([]byte("ok"))
		case now.Sub(p.deadline) >= 0:
			p.client.Send([]byte("unavailable"))
		default:
			return false
		}
		return true
	})
}

// tick runs every Heartbeat: a primary sends heartbeats and expires
// pending puts; the next in succession takes over from a silent primary.
func (s *server) tick() {
	if s.primary == s.rank {
		for _, b := range s.sortedBackups() {
			b.Send([]byte("hb"))
		}
		s.answer()
		return
	}
	if s.rank == s.primary+1 && s.clock.NowMonotonic().Sub(s.heard) > FailoverAfter {
		s.lead()
	}
}

// sortedBackups returns the backup sockets in rank order, so that what
// goes on the wire does not depend on a map's order.
func (s *server) sortedBackups() []*gentcp.Socket {
	socks := slices.Collect(maps.Keys(s.backups))
	slices.SortFunc(socks, func(a, b *gentcp.Socket) int { return s.backups[a] - s.backups[b] })
	return socks
}
