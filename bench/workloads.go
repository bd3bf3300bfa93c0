package bench

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usertcp/usertcp/gentcp"
)

// startGo sets up a case of a Go system (gentcp, gonet, kernel, and the
// links).
func startGo(c Case) (runner, error) {
	sys, err := newSystem(c)
	if err != nil {
		return nil, err
	}
	// opts are what the workload adds to gentcp's sockets (OTP's get the
	// same, otp.go); gonet and the kernel take no gen_tcp options.
	opts := workloadOptions(c.Measurement)
	var r runner
	switch c.Measurement {
	case Bulk:
		r, err = startBulk(sys, max(c.Conns, 1), c.Dir, opts)
	case LinkBulk:
		r, err = startBulk(sys, 1, Up, opts)
	case RoundTrip:
		r, err = startRTT(sys, opts)
	case ConnRate:
		r, err = startConnRate(sys, opts)
	case MessageRate:
		if g, ok := sys.(*gentcpSystem); ok {
			r, err = startGentcpMsgRate(g, c.Mode, opts)
		} else {
			r, err = startFramedMsgRate(sys)
		}
	default:
		err = fmt.Errorf("bench: %s is not an operation loop", c.Measurement)
	}
	if err != nil {
		sys.close()
		return nil, err
	}
	return r, nil
}

// ---------------------------------------------------------------------------
// bulk: senders write 64 KiB chunks; receivers read into 64 KiB buffers
// (not io.Copy to io.Discard, whose 8 KiB reads would handicap the kernel)
// and count.

type bulkRunner struct {
	sys       system
	l         listener
	senders   []stream
	receivers []stream
	chunk     []byte

	received atomic.Int64
	target   atomic.Int64
	progress chan struct{} // nudged when received reaches target, or on error
	errMu    sync.Mutex
	err      error
	wg       sync.WaitGroup
}

func startBulk(sys system, conns int, dir string, opts []gentcp.Option) (runner, error) {
	l, err := sys.listen(0, opts)
	if err != nil {
		return nil, err
	}
	r := &bulkRunner{sys: sys, l: l, chunk: make([]byte, Chunk), progress: make(chan struct{}, 1)}
	for range conns {
		c, s, err := connectPair(l)
		if err != nil {
			r.close()
			return nil, err
		}
		if dir == Down {
			c, s = s, c
		}
		r.senders = append(r.senders, c)
		r.receivers = append(r.receivers, s)
	}
	r.target.Store(-1)
	for _, s := range r.receivers {
		r.wg.Add(1)
		go r.drain(s)
	}
	return r, nil
}

func (r *bulkRunner) drain(s stream) {
	defer r.wg.Done()
	buf := make([]byte, Chunk)
	for {
		n, err := s.read(buf)
		if n > 0 {
			if t := r.target.Load(); r.received.Add(int64(n)) >= t && t >= 0 {
				r.nudge()
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				r.fail(err)
			}
			return
		}
	}
}

func (r *bulkRunner) nudge() {
	select {
	case r.progress <- struct{}{}:
	default:
	}
}

func (r *bulkRunner) fail(err error) {
	r.errMu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.errMu.Unlock()
	r.nudge()
}

func (r *bulkRunner) failed() error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.err
}

func (r *bulkRunner) run(n int) error {
	target := r.received.Load() + int64(n)*Chunk
	r.target.Store(target)
	var wg sync.WaitGroup
	for i, s := range r.senders {
		share := n / len(r.senders)
		if i < n%len(r.senders) {
			share++
		}
		if share == 0 {
			continue
		}
		wg.Go(func() {
			for range share {
				if err := s.write(r.chunk); err != nil {
					r.fail(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for r.received.Load() < target {
		if err := r.failed(); err != nil {
			return err
		}
		<-r.progress
	}
	return r.failed()
}

func (r *bulkRunner) close() error {
	for _, s := range r.senders {
		s.close()
	}
	r.wg.Wait()
	for _, s := range r.receivers {
		s.close()
	}
	r.l.close()
	r.sys.close()
	return nil
}

// ---------------------------------------------------------------------------
// rtt: a 1-byte ping-pong; the server echoes what it reads.

type rttRunner struct {
	conn
	done    chan struct{}
	samples []time.Duration
}

func startRTT(sys system, opts []gentcp.Option) (runner, error) {
	c, err := openConn(sys, opts)
	if err != nil {
		return nil, err
	}
	r := &rttRunner{conn: c, done: make(chan struct{})}
	go r.echo()
	return r, nil
}

func (r *rttRunner) echo() {
	defer close(r.done)
	buf := make([]byte, 64)
	for {
		n, err := r.server.read(buf)
		if err != nil {
			return
		}
		// gentcp's read counts bytes it keeps in its own slice; the
		// ping is one byte of zero either way.
		if err := r.server.write(buf[:n]); err != nil {
			return
		}
	}
}

func (r *rttRunner) run(n int) error {
	ping := []byte{0}
	buf := make([]byte, 64)
	for range n {
		start := time.Now()
		if err := r.client.write(ping); err != nil {
			return err
		}
		if _, err := r.client.read(buf); err != nil {
			return err
		}
		r.samples = append(r.samples, time.Since(start))
	}
	return nil
}

func (r *rttRunner) takeSamples() []time.Duration {
	s := r.samples
	r.samples = nil
	return s
}

func (r *rttRunner) close() error {
	r.client.close()
	<-r.done // the echo ends when it reads the client's close
	r.server.close()
	r.l.close()
	r.sys.close()
	return nil
}

// ---------------------------------------------------------------------------
// connrate: connect, then close; the server accepts and closes; the next
// connect waits for that.

type connRateRunner struct {
	sys      system
	l        listener
	accepted chan error
	done     chan struct{}
}

func startConnRate(sys system, opts []gentcp.Option) (runner, error) {
	l, err := sys.listen(0, opts)
	if err != nil {
		return nil, err
	}
	r := &connRateRunner{sys: sys, l: l, accepted: make(chan error, 1), done: make(chan struct{})}
	go r.acceptLoop()
	return r, nil
}

func (r *connRateRunner) acceptLoop() {
	defer close(r.done)
	for {
		s, err := r.l.accept()
		if err != nil {
			return
		}
		r.accepted <- s.close()
	}
}

func (r *connRateRunner) run(n int) error {
	for range n {
		c, err := r.l.dial()
		if err != nil {
			return err
		}
		if err := c.close(); err != nil {
			return err
		}
		select {
		case err := <-r.accepted:
			if err != nil {
				return err
			}
		case <-r.done:
			return errors.New("accept failed")
		}
	}
	return nil
}

func (r *connRateRunner) close() error {
	r.l.close()
	<-r.done
	r.sys.close()
	return nil
}

// ---------------------------------------------------------------------------
// msgrate: 64-byte messages with a 4-byte big-endian length, one way
// (client to server), one send per message.

// StallAfter bounds how long a message-rate receiver may go without a
// message. A stream of small segments that loses many of them can stall
// for minutes in retransmission timeouts (netstack's RACK did, which is
// why stack.TCPOptions.RACK is off by default); the case then fails with
// ErrStalled instead of hanging the suite.
const StallAfter = 10 * time.Second

// ErrStalled says a message-rate stream delivered nothing for StallAfter.
var ErrStalled = errors.New("bench: no message for " + StallAfter.String() + ": the stream stalled")

// stallWatch counts a receiver's messages and calls stop, which must make
// the receiver's blocked read fail, when the count stands still for
// after (StallAfter in the workloads). It costs the receiver one atomic
// add a message.
type stallWatch struct {
	received atomic.Int64
	done     chan struct{}
	ended    chan struct{}
	// fired is set by the watch goroutine before it closes ended, and read
	// by end only after that.
	fired bool
}

func watchStall(after time.Duration, stop func()) *stallWatch {
	w := &stallWatch{done: make(chan struct{}), ended: make(chan struct{})}
	go func() {
		defer close(w.ended)
		tick := time.NewTicker(after / 10)
		defer tick.Stop()
		last, still := w.received.Load(), time.Duration(0)
		for {
			select {
			case <-w.done:
				return
			case <-tick.C:
			}
			if n := w.received.Load(); n != last {
				last, still = n, 0
				continue
			}
			if still += after / 10; still >= after {
				w.fired = true
				stop()
				return
			}
		}
	}()
	return w
}

// end stops the watch; err is what the receiver returned, replaced by
// ErrStalled if the watch made it fail.
func (w *stallWatch) end(err error) error {
	close(w.done)
	<-w.ended
	if w.fired {
		return ErrStalled
	}
	return err
}

// conn is a case's one connection and what it runs on, for the
// workloads of one connection.
type conn struct {
	sys            system
	l              listener
	client, server stream
}

// openConn listens on sys with opts and connects one pair.
func openConn(sys system, opts []gentcp.Option) (conn, error) {
	l, err := sys.listen(0, opts)
	if err != nil {
		return conn{}, err
	}
	c, s, err := connectPair(l)
	if err != nil {
		l.close()
		return conn{}, err
	}
	return conn{sys: sys, l: l, client: c, server: s}, nil
}

// close closes both ends, the listener and the system.
func (c *conn) close() error {
	c.client.close()
	c.server.close()
	c.l.close()
	c.sys.close()
	return nil
}

// runMessages is the message-rate loop: send n messages on a goroutine
// of its own, take them with receive, under a stall watch whose stop must
// make a blocked receive fail.
func runMessages(n int, stop func(), send, receive func() error) error {
	watch := watchStall(StallAfter, stop)
	sent := make(chan error, 1)
	go func() {
		for range n {
			if err := send(); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	for range n {
		if err := receive(); err != nil {
			return watch.end(err)
		}
		watch.received.Add(1)
	}
	return watch.end(<-sent)
}

// framedRunner is the Go baseline: frames written one Write each, read
// back with a bufio.Reader, as Go code does {packet,4} by hand.
type framedRunner struct {
	conn
	rd    *bufio.Reader
	frame []byte
	hdr   [4]byte
	body  []byte
}

func startFramedMsgRate(sys system) (runner, error) {
	c, err := openConn(sys, nil)
	if err != nil {
		return nil, err
	}
	frame := make([]byte, 4+MessageSize)
	binary.BigEndian.PutUint32(frame, MessageSize)
	return &framedRunner{conn: c, rd: bufio.NewReaderSize(streamReader{c.server}, Chunk), frame: frame, body: make([]byte, MessageSize)}, nil
}

// streamReader is a stream as an io.Reader (for a net.Conn's stream,
// its Read).
type streamReader struct{ s stream }

func (r streamReader) Read(b []byte) (int, error) { return r.s.read(b) }

func (r *framedRunner) run(n int) error {
	return runMessages(n, func() { r.server.close() },
		func() error { return r.client.write(r.frame) }, r.receive)
}

// receive reads one frame.
func (r *framedRunner) receive() error {
	if _, err := io.ReadFull(r.rd, r.hdr[:]); err != nil {
		return err
	}
	size := binary.BigEndian.Uint32(r.hdr[:])
	if int(size) > len(r.body) {
		return fmt.Errorf("frame of %d bytes", size)
	}
	_, err := io.ReadFull(r.rd, r.body[:size])
	return err
}

// gentcpMsgRunner is the gen_tcp way: {packet,4} on both sockets, the
// receiver a process of its own in {active,once} (Setopts, then
// Process.Receive) or passive (Recv) mode.
type gentcpMsgRunner struct {
	conn
	sender *gentcp.Socket
	recv   *gentcp.Socket
	rp     *gentcp.Process
	once   bool
	msg    []byte
}

func startGentcpMsgRate(sys *gentcpSystem, mode string, opts []gentcp.Option) (runner, error) {
	if mode != Passive && mode != ActiveOnce {
		return nil, fmt.Errorf("bench: msgrate mode %q (want passive or once)", mode)
	}
	c, err := openConn(sys, opts)
	if err != nil {
		return nil, err
	}
	r := &gentcpMsgRunner{conn: c, sender: c.client.(gentcpStream).s, recv: c.server.(gentcpStream).s,
		rp: sys.server.NewProcess(), once: mode == ActiveOnce, msg: make([]byte, MessageSize)}
	if err := sys.sp.ControllingProcess(r.recv, r.rp); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func (r *gentcpMsgRunner) run(n int) error {
	// The receiving process's exit closes its socket and ends a Receive
	// or Recv blocked on it.
	return runMessages(n, r.rp.Exit, func() error { return r.sender.Send(r.msg) }, r.receive)
}

// receive takes one message, in the runner's mode.
func (r *gentcpMsgRunner) receive() error {
	if r.once {
		if err := r.recv.Setopts(gentcp.ActiveOnce); err != nil {
			return err
		}
		m, err := r.rp.Receive(gentcp.Infinity)
		if err != nil {
			return err
		}
		if d, ok := m.(gentcp.TCP); !ok || len(d.Data.Bytes) != MessageSize {
			return fmt.Errorf("unexpected message %v", m)
		}
		return nil
	}
	d, err := r.recv.Recv(0, gentcp.Infinity)
	if err != nil {
		return err
	}
	if len(d.Bytes) != MessageSize {
		return fmt.Errorf("message of %d bytes", len(d.Bytes))
	}
	return nil
}

func (r *gentcpMsgRunner) close() error {
	r.rp.Exit()
	return r.conn.close()
}
