package main

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/internal/services"
)

// The demo's echo server and client, one of each for every run of it: in
// real time and under --sim, with two hosts or --hosts N. They block only
// in gentcp calls and talk to their helpers through mailboxes, so the
// simulation can schedule them; the clock they time with is passed in.

// demoSocket are the options of both ends of the demo's connections.
// They override the config's defaults where the echo needs them.
var demoSocket = []gentcp.Option{gentcp.Binary, gentcp.Active(false), gentcp.PacketRaw, gentcp.Buffer(64 << 10), gentcp.Nodelay(true)}

// listenEcho opens the echo server's listen socket for clients
// connections at once: a backlog of at least that many, so that clients
// connecting together wait in the queue instead of having their SYNs
// dropped.
func listenEcho(p *gentcp.Process, port, clients int) (*gentcp.Socket, error) {
	ls, err := p.Listen(port, slices.Concat(demoSocket, []gentcp.Option{gentcp.Backlog(max(5, clients))})...)
	if err != nil {
		return nil, fmt.Errorf("server listen on port %d: %w", port, err)
	}
	return ls, nil
}

// echoEnded is what an acceptor of serveEchoes tells the listener's owner
// when its connection is over.
type echoEnded struct{ err error }

// serveEchoes accepts n connections on ls, owned by p, and echoes each
// until its peer closes, in Erlang's acceptor pattern: an acceptor takes
// one connection, spawns the next acceptor, then serves its own. p is the
// first acceptor and returns when every connection has ended (ls must stay
// open until the last accept), with the first error of any. With n = 1 it
// is one process that accepts and echoes.
func serveEchoes(p *gentcp.Process, ls *gentcp.Socket, n int) error {
	owner := p
	var accept func(p *gentcp.Process, i int) error
	accept = func(p *gentcp.Process, i int) error {
		s, err := p.Accept(ls, gentcp.Infinity)
		if err != nil {
			return fmt.Errorf("echo server: %w", err)
		}
		if i+1 < n {
			p.Node().Spawn(func(next *gentcp.Process) { owner.Send(echoEnded{accept(next, i+1)}) })
		}
		return echoUntilClosed(s)
	}
	first := accept(p, 0)
	for range n - 1 {
		if first != nil {
			return first
		}
		m, err := p.Receive(gentcp.Infinity)
		if err != nil {
			return err
		}
		if e, ok := m.(echoEnded); ok {
			first = e.err
		}
	}
	return first
}

// echoUntilClosed sends back what s receives until the peer closes: the
// echo of usertcp serve (services.Echo).
func echoUntilClosed(s *gentcp.Socket) error {
	if err := services.Echo(s); err != nil {
		return fmt.Errorf("echo server: %w", err)
	}
	return nil
}

// echoClient is the demo's client, the i-th of the run: handshake,
// one-byte round trips, then a bulk echo whose sender is a second
// process, all timed by now, and the whole recorded in rep. The bulk's
// bytes are drawn from seed and i, so every client sends its own.
func echoClient(p *gentcp.Process, now func() time.Duration, seed uint64, i int, server string, f demoFlags, rep *report, prog *demoProgress) error {
	start := now()
	c, err := p.Connect(server, f.port, 10*time.Second, demoSocket...)
	if err != nil {
		return fmt.Errorf("client connect to %s:%d: %w", server, f.port, err)
	}
	defer c.Close()
	rep.handshake = now() - start
	if a, err := c.Peername(); err == nil {
		rep.serverAddr = a.String()
	}
	for range f.pings {
		t0 := now()
		if err := c.Send([]byte{'x'}); err != nil {
			return fmt.Errorf("ping send: %w", err)
		}
		if _, err := c.Recv(1, 10*time.Second); err != nil {
			return fmt.Errorf("ping recv: %w", err)
		}
		rep.rtts = append(rep.rtts, now()-t0)
		prog.pinged.Add(1)
	}

	// Bulk echo: a writer process sends seeded random bytes while this
	// one reads the echo; both hash what they saw.
	var key [32]byte
	key[0], key[1], key[2] = byte(seed), byte(i), byte(i>>8)
	rng := rand.NewChaCha8(key)
	hSent, hEcho := sha256.New(), sha256.New()
	start = now()
	prog.bulkStart.CompareAndSwap(0, time.Now().UnixNano())
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
		p.Send(bulkSent{err})
	})
	for rep.echoed < f.bytes {
		d, err := c.Recv(0, 30*time.Second)
		if err != nil {
			return fmt.Errorf("bulk recv after %d bytes: %w", rep.echoed, err)
		}
		hEcho.Write(d.Bytes)
		rep.echoed += int64(len(d.Bytes))
		prog.echoed.Add(int64(len(d.Bytes)))
	}
	rep.bulk = now() - start
	for {
		m, err := p.Receive(gentcp.Infinity)
		if err != nil {
			return err
		}
		if m, ok := m.(bulkSent); ok {
			if m.err != nil {
				return fmt.Errorf("bulk send: %w", m.err)
			}
			break
		}
	}
	copy(rep.sumSent[:], hSent.Sum(nil))
	copy(rep.sumEchoed[:], hEcho.Sum(nil))
	return nil
}

// bulkSent is the bulk writer's last word to its client.
type bulkSent struct{ err error }

// tcpCounts reads a node's retransmitted and sent segments.
func tcpCounts(n *gentcp.Node) (retrans, segs uint64) {
	tcp := n.Stack().Netstack().Stats().TCP
	return tcp.Retransmits.Value(), tcp.SegmentsSent.Value()
}
