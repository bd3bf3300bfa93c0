package gentcp_test

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/usertcp/usertcp/gentcp"
)

// floodFor is how long a flood lasts unless the test stops it: far longer
// than any call may take while it runs (callBound).
const floodFor = 30 * time.Second

// callBound is how long a call on a flooded socket may take. OTP answers
// in well under a millisecond (close 507 µs, getstat 113 µs); the bound
// is generous for a loaded machine under -race, and a reader that holds
// the socket for the whole flood exceeds it by the flood's length.
const callBound = 5 * time.Second

// flooder sends 1-byte packets, framed for the flooded socket's packet
// type, as fast as the connection takes them, until stopped, floodFor
// passes or a send fails.
type flooder struct {
	stop    chan struct{}
	done    chan struct{}
	stopped sync.Once
	sent    atomic.Int64 // packets sent
	// over: the flood ended by itself (floodFor passed) or the test
	// stopped it; not set when a send fails because the socket closed.
	over atomic.Bool
}

func startFlood(c *gentcp.Socket, frame []byte) *flooder {
	f := &flooder{stop: make(chan struct{}), done: make(chan struct{})}
	// Many frames per Send, so that the peer's receive buffer stays full
	// and its reader never runs dry.
	const perSend = 512
	chunk := bytes.Repeat(frame, perSend)
	go func() {
		defer close(f.done)
		end := time.Now().Add(floodFor)
		for {
			select {
			case <-f.stop:
				f.over.Store(true)
				return
			default:
			}
			if time.Now().After(end) {
				f.over.Store(true)
				return
			}
			if c.Send(chunk) != nil {
				return
			}
			f.sent.Add(perSend)
		}
	}()
	return f
}

// end stops the flood and waits for the flooder to leave.
func (f *flooder) end() {
	f.stopped.Do(func() { close(f.stop) })
	<-f.done
}

// running reports whether the flood still goes on.
func (f *flooder) running() bool {
	select {
	case <-f.done:
		return false
	default:
		return true
	}
}

// lasted reports whether the flood went on until floodFor or the test's
// stop: as long as a call that waits for it to end.
func (f *flooder) lasted() bool { return f.over.Load() }

// TestFloodLeavesSocketResponsive: a peer floods an active socket with
// 1-byte packets at full speed while its owner drains the mailbox (and
// re-arms once and N); meanwhile Getstat, Setopts, Send and Close on the
// flooded socket each return within callBound, with the flood still
// going on, in every active mode and for raw, 1, 2, 4 and line packets.
// The reader used to hold the socket's lock as long as data kept coming,
// so each call waited for the flood to end (issue 18: Close at t=1 s
// returned after 11 s).
func TestFloodLeavesSocketResponsive(t *testing.T) {
	const n = 100
	modes := []struct {
		name string
		opt  gentcp.Option
	}{
		{"true", gentcp.Active(true)},
		{"once", gentcp.ActiveOnce},
		{"N", gentcp.ActiveN(n)},
	}
	packets := []struct {
		name  string
		opt   gentcp.Option
		frame []byte // one packet on the wire
		want  []byte // one packet delivered (raw: nil)
	}{
		// raw delivers what has come, any number of x's at once.
		{"raw", gentcp.PacketRaw, []byte("x"), nil},
		{"1", gentcp.Packet(1), []byte{1, 'x'}, []byte("x")},
		{"2", gentcp.Packet(2), []byte{0, 1, 'x'}, []byte("x")},
		{"4", gentcp.Packet(4), []byte{0, 0, 0, 1, 'x'}, []byte("x")},
		{"line", gentcp.PacketLine, []byte("x\n"), []byte("x\n")},
	}
	for _, m := range modes {
		for _, p := range packets {
			t.Run(m.name+"/"+p.name, func(t *testing.T) {
				delivery := func(b []byte) bool { return bytes.Equal(b, p.want) }
				if p.want == nil {
					delivery = func(b []byte) bool { return len(b) > 0 && len(bytes.Trim(b, "x")) == 0 }
				}
				testFlood(t, m.opt, p.opt, p.frame, delivery)
			})
		}
	}
}

// testFlood floods a socket in mode with packet framing (frame is one
// packet on the wire; delivery checks one delivered packet) and makes the
// calls.
func testFlood(t *testing.T, mode, packet gentcp.Option, frame []byte, delivery func([]byte) bool) {
	e := newEnv(t)
	c, a := e.connected(passive, gentcp.Binary, gentcp.Active(false), packet)
	f := startFlood(c, frame)
	defer func() {
		f.end()
		require.NoError(t, c.Close())
	}()

	// The owner takes every message as it comes, checks it, and asks for
	// more in once and N mode.
	var delivered atomic.Int64
	var bad atomic.Value
	ownerDone := make(chan struct{})
	stopOwner := make(chan struct{})
	go func() {
		defer close(ownerDone)
		for {
			select {
			case <-stopOwner:
				return
			default:
			}
			msg, err := e.sp.Receive(10 * time.Millisecond)
			if err != nil {
				continue
			}
			switch msg := msg.(type) {
			case gentcp.TCP:
				if !delivery(msg.Data.Bytes) {
					bad.Store(msg)
				}
				delivered.Add(1)
				if mode == gentcp.ActiveOnce {
					_ = a.Setopts(gentcp.ActiveOnce)
				}
			case gentcp.TCPPassive:
				_ = a.Setopts(mode)
			}
		}
	}()
	defer func() {
		close(stopOwner)
		<-ownerDone
	}()

	require.NoError(t, a.Setopts(mode))
	// Wait until the flood is under way: the owner has had many packets.
	deadline := time.Now().Add(callBound)
	for delivered.Load() < 2000 {
		require.True(t, time.Now().Before(deadline), "flood never got going: %d delivered, %d sent", delivered.Load(), f.sent.Load())
		require.True(t, f.running(), "the flood ended before it got going")
		time.Sleep(time.Millisecond)
	}

	// call runs one call on the flooded socket and fails the test unless
	// it returns within callBound with the flood still running.
	call := func(what string, do func() error) {
		t.Helper()
		before := delivered.Load()
		res := make(chan error, 1)
		start := time.Now()
		go func() { res <- do() }()
		select {
		case err := <-res:
			require.NoError(t, err, what)
			require.False(t, f.lasted(), "%s returned only when the flood was over (after %v)", what, time.Since(start))
		case <-time.After(callBound):
			f.end()
			<-res
			t.Fatalf("%s on a flooded socket did not return within %v (it returned %v after the start, once the flood was stopped)", what, callBound, time.Since(start))
		}
		t.Logf("%s: %v, %d packets delivered meanwhile", what, time.Since(start), delivered.Load()-before)
	}
	call("Getstat", func() error {
		_, err := a.Getstat()
		return err
	})
	call("Setopts", func() error { return a.Setopts(gentcp.Nodelay(true)) })
	call("Send", func() error { return a.Send([]byte("y")) })
	// The flood is still delivering after those calls.
	after := delivered.Load()
	deadline = time.Now().Add(callBound)
	for delivered.Load() < after+100 {
		require.True(t, time.Now().Before(deadline), "delivery stopped after the calls: %d delivered", delivered.Load())
		time.Sleep(time.Millisecond)
	}
	call("Close", a.Close)
	if m := bad.Load(); m != nil {
		t.Fatalf("a packet was delivered wrong: %v", m)
	}
}
