package gentcp_test

import (
	"encoding/binary"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/usertcp/usertcp/gentcp"
)

// A stream of small sends is corked: the messages that queue behind one
// endpoint write leave in one segment, as Linux's autocorking sends OTP's.
// Without the cork netstack sends one segment per nodelay write, and a
// reader that falls behind them overflows its buffer (netstack charges
// each queued segment about 1 KB beyond its payload): 8,000-18,000
// segments and thousands retransmitted for these 20,000 messages.
func TestSmallSendsInAStreamShareSegments(t *testing.T) {
	e, c, a := nodelayPair(t)
	const msgs = 20000
	tcp := e.pair.B.Netstack().Stats().TCP
	before := tcp.SegmentsSent.Value()
	got := make(chan error, 1)
	go func() {
		for i := range msgs {
			d, err := a.Recv(0, 5*second)
			if err != nil {
				got <- err
				return
			}
			if n := binary.BigEndian.Uint64(d.Bytes); n != uint64(i) || len(d.Bytes) != 64 {
				got <- assert.AnError
				t.Errorf("message %d: got number %d, %d bytes", i, n, len(d.Bytes))
				return
			}
		}
		got <- nil
	}()
	msg := make([]byte, 64)
	for i := range msgs {
		binary.BigEndian.PutUint64(msg, uint64(i))
		require.NoError(t, c.Send(msg))
	}
	require.NoError(t, <-got, "every message arrives, in order")
	segs := tcp.SegmentsSent.Value() - before
	t.Logf("%d messages in %d segments, %d retransmitted, %d timeouts", msgs, segs, tcp.Retransmits.Value(), tcp.Timeouts.Value())
	assert.Less(t, segs, uint64(msgs/4), "small sends in a stream share segments")
	require.NoError(t, c.Close())
	require.NoError(t, a.Close())
}

// The same in bursts: a burst of small sends after a reply leaves in a
// few segments, not one a message, however open the window is.
func TestBurstOfSmallSendsSharesSegments(t *testing.T) {
	e, c, a := nodelayPair(t)
	const bursts, burst = 200, 16
	tcp := e.pair.B.Netstack().Stats().TCP
	before := tcp.SegmentsSent.Value()
	msg := make([]byte, 64)
	for range bursts {
		for range burst {
			require.NoError(t, c.Send(msg))
		}
		for range burst {
			_, err := a.Recv(0, 5*second)
			require.NoError(t, err)
		}
		require.NoError(t, a.Send([]byte("ok")))
		_, err := c.Recv(0, 5*second)
		require.NoError(t, err)
	}
	segs := tcp.SegmentsSent.Value() - before
	t.Logf("%d bursts of %d messages in %d segments", bursts, burst, segs)
	// One segment a message and the ACKs of the replies would be 3,400.
	assert.Less(t, segs, uint64(bursts*burst/2), "a burst of small sends shares segments")
	require.NoError(t, c.Close())
	require.NoError(t, a.Close())
}

// A reply, a send that follows a delivery to the application, is written
// to the endpoint at once (nothing queued, corked or not, when Send
// returns): a round trip pays no goroutine hop for the cork.
func TestReplyIsNotCorked(t *testing.T) {
	_, c, a := nodelayPair(t)
	for i := range 200 {
		require.NoError(t, c.Send([]byte("ping")))
		require.Zero(t, gentcp.Queued(c), "request %d queued", i)
		_, err := a.Recv(0, 5*second)
		require.NoError(t, err)
		require.NoError(t, a.Send([]byte("pong")))
		require.Zero(t, gentcp.Queued(a), "reply %d queued", i)
		_, err = c.Recv(0, 5*second)
		require.NoError(t, err)
	}
	require.NoError(t, c.Close())
	require.NoError(t, a.Close())
}

// nodelayPair connects two passive {packet,4} sockets with nodelay, so
// that only the cork, not Nagle, can make small sends share a segment.
func nodelayPair(t *testing.T) (*env, *gentcp.Socket, *gentcp.Socket) {
	e := newEnv(t)
	opts := append([]gentcp.Option{gentcp.Packet(4), gentcp.Nodelay(true)}, passive...)
	c, a := e.connected(opts, opts...)
	return e, c, a
}

// What the cork holds is delivered, in order, when the sender closes or
// shuts down writing right after its last send, as OTP delivers what is
// in the kernel's buffer: the end of the stream comes after the data.
func TestCorkedSendsOutliveCloseAndShutdown(t *testing.T) {
	for _, end := range []string{"close", "shutdown"} {
		t.Run(end, func(t *testing.T) {
			_, c, a := nodelayPair(t)
			const msgs = 500
			msg := make([]byte, 64)
			for i := range msgs {
				binary.BigEndian.PutUint64(msg, uint64(i))
				require.NoError(t, c.Send(msg))
			}
			corked := gentcp.Queued(c)
			if end == "close" {
				require.NoError(t, c.Close())
			} else {
				require.NoError(t, c.Shutdown(gentcp.ShutdownWrite))
			}
			t.Logf("%d bytes queued when the stream ended", corked)
			for i := range msgs {
				d, err := a.Recv(0, 5*second)
				require.NoError(t, err, "message %d", i)
				require.Equal(t, uint64(i), binary.BigEndian.Uint64(d.Bytes), "message %d", i)
			}
			_, err := a.Recv(0, 5*second)
			require.ErrorIs(t, err, gentcp.Closed, "the end of the stream follows the data")
			if end == "shutdown" {
				require.NoError(t, c.Close())
			}
			require.NoError(t, a.Close())
		})
	}
}

// What the cork holds is not pending, as in OTP, where those bytes are in
// the kernel's buffer: send_pend leaves them out, and a send behind them
// finds the queue empty, so a stream of small sends ten times
// high_watermark does not make a sender busy (its sends would time out)
// while the drain has not run. The node's scheduler holds the drain until
// the sends are done.
func TestCorkedBytesAreNotPending(t *testing.T) {
	drains := &heldDrains{}
	e := newEnv(t)
	e.cp.Exit() // newEnv's; the node is unused yet, so it may take a scheduler
	e.client.SetScheduler(drains)
	e.cp = e.client.NewProcess() // newEnv's cleanup exits this one
	opts := append([]gentcp.Option{gentcp.Packet(4), gentcp.Nodelay(true),
		gentcp.HighWatermark(256), gentcp.LowWatermark(128), gentcp.SendTimeout(time.Second)}, passive...)
	c, a := e.connected(opts, opts...)

	const msgs = 40 // 64 bytes each with the header: 10x high_watermark
	msg := make([]byte, 60)
	for i := range msgs {
		binary.BigEndian.PutUint64(msg, uint64(i))
		require.NoError(t, c.Send(msg), "send %d", i)
	}
	// The cork holds less than high_watermark: the send that would take
	// it there writes the queue itself, the drain being held.
	corked := gentcp.Queued(c)
	require.Positive(t, corked, "the sends after the first are corked")
	require.Less(t, corked, 256, "the cork holds more than high_watermark")
	st, err := c.Getstat("send_pend")
	require.NoError(t, err)
	assert.Equal(t, []gentcp.Stat{{Name: "send_pend", Value: 0}}, st, "send_pend leaves out what the cork holds")

	drains.release()
	for i := range msgs {
		d, err := a.Recv(0, 5*second)
		require.NoError(t, err, "message %d", i)
		require.Equal(t, uint64(i), binary.BigEndian.Uint64(d.Bytes), "message %d", i)
	}
	require.NoError(t, c.Close())
	require.NoError(t, a.Close())
}

// heldDrains is a gentcp.Scheduler that holds every send queue's drain
// until release, and runs every other goroutine and wait as without a
// scheduler.
type heldDrains struct {
	mu   sync.Mutex
	held []func()
	free bool
}

func (h *heldDrains) Go(name string, _ *gentcp.Process, f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if strings.HasSuffix(name, " drain") && !h.free {
		h.held = append(h.held, f)
		return
	}
	go f()
}

// release starts the drains held so far, and every later one at once.
func (h *heldDrains) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.free = true
	for _, f := range h.held {
		go f()
	}
	h.held = nil
}

// Wait receives from the lowest ready channel of chs, blocking until one
// is; nil channels are never ready.
func (h *heldDrains) Wait(chs ...<-chan struct{}) (int, error) {
	for i, ch := range chs {
		select {
		case <-ch:
			return i, nil
		default:
		}
	}
	cases := make([]reflect.SelectCase, len(chs))
	for i, ch := range chs {
		cases[i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)}
	}
	i, _, _ := reflect.Select(cases)
	return i, nil
}
