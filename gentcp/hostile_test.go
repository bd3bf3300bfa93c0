package gentcp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/usertcp/usertcp/gentcp"
)

// Issue 18's bugs: what an outside probe broke through the public API.
// Each test names the behaviour it checks; the expected values are real
// OTP 25's on Linux where OTP has one.

// TestTinyBuffersKeepTCPMoving: {sndbuf,1} and {recbuf,1..3}, given at
// creation or by setopts, are raised to Linux's minimums (getopts then
// reports 4608 and 2304, as OTP on Linux does), so 100 KiB still moves and
// both ends close; 1 byte moved in 5 s before, then send and close hung.
func TestTinyBuffersKeepTCPMoving(t *testing.T) {
	const total = 100 << 10
	for _, tc := range []struct {
		name      string
		sender    []gentcp.Option
		receiver  []gentcp.Option
		bySetopts bool
	}{
		{name: "sndbuf 1", sender: []gentcp.Option{gentcp.Sndbuf(1)}},
		{name: "recbuf 1", receiver: []gentcp.Option{gentcp.Recbuf(1)}},
		{name: "recbuf 2", receiver: []gentcp.Option{gentcp.Recbuf(2)}},
		{name: "recbuf 3", receiver: []gentcp.Option{gentcp.Recbuf(3)}},
		{name: "both 1", sender: []gentcp.Option{gentcp.Sndbuf(1), gentcp.Recbuf(1)}, receiver: []gentcp.Option{gentcp.Sndbuf(1), gentcp.Recbuf(1)}},
		{name: "both 1 by setopts", sender: []gentcp.Option{gentcp.Sndbuf(1), gentcp.Recbuf(1)}, receiver: []gentcp.Option{gentcp.Sndbuf(1), gentcp.Recbuf(1)}, bySetopts: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			copts, lopts := append([]gentcp.Option(nil), passive...), append([]gentcp.Option(nil), passive...)
			if !tc.bySetopts {
				copts = append(copts, tc.sender...)
				lopts = append(lopts, tc.receiver...)
			}
			c, a := e.connected(copts, lopts...)
			if tc.bySetopts {
				require.NoError(t, c.Setopts(tc.sender...))
				require.NoError(t, a.Setopts(tc.receiver...))
			}
			for _, s := range []*gentcp.Socket{c, a} {
				got, err := s.Getopts("sndbuf", "recbuf")
				require.NoError(t, err)
				assert.GreaterOrEqual(t, got[0].Value, 4608, "sndbuf below Linux's minimum")
				assert.GreaterOrEqual(t, got[1].Value, 2304, "recbuf below Linux's minimum")
			}
			sent := start(func() result {
				chunk := make([]byte, 1024)
				for range total / len(chunk) {
					if err := c.Send(chunk); err != nil {
						return result{err: err}
					}
				}
				return result{}
			})
			got := 0
			for got < total {
				d, err := a.Recv(0, hang)
				require.NoError(t, err, "after %d of %d bytes", got, total)
				got += len(d.Bytes)
			}
			require.NoError(t, await(t, "the sends", sent).err)
			closed := start(func() result { return result{err: a.Close()} })
			await(t, "the receiver's Close", closed)
			await(t, "the sender's Close", start(func() result { return result{err: c.Close()} }))
		})
	}
}

// TestTinyBufferGetopts: getopts after {sndbuf,1} and {recbuf,1} reports
// what Linux does, 4608 and 2304 (real erl on a kernel socket, at creation
// and after setopts); sizes above the minimums read back as set.
func TestTinyBufferGetopts(t *testing.T) {
	e := newEnv(t)
	c, a := e.connected(append([]gentcp.Option{gentcp.Sndbuf(1), gentcp.Recbuf(1)}, passive...), passive...)
	got, err := c.Getopts("sndbuf", "recbuf", "buffer")
	require.NoError(t, err)
	assert.Equal(t, []gentcp.Option{{Name: "sndbuf", Value: 4608}, {Name: "recbuf", Value: 2304}, {Name: "buffer", Value: 1460}}, got)
	for _, n := range []int{1, 2, 3, 1000, 2303, 2304, 4607, 4608, 10000} {
		require.NoError(t, a.Setopts(gentcp.Sndbuf(n), gentcp.Recbuf(n)))
		got, err := a.Getopts("sndbuf", "recbuf")
		require.NoError(t, err)
		assert.Equal(t, []gentcp.Option{{Name: "sndbuf", Value: max(n, 4608)}, {Name: "recbuf", Value: max(n, 2304)}}, got, fmt.Sprintf("after setopts %d", n))
	}
	c.Close()
	a.Close()
}

// TestNilContextIsBackground: every call that takes a context treats nil
// as context.Background(), also when it has to wait. RecvContext killed
// the process (fatal error: sync: unlock of unlocked mutex, not even
// recoverable); ConnectContext and ReceiveContext panicked.
func TestNilContextIsBackground(t *testing.T) {
	e := newEnv(t)
	l, port := e.listen(passive...)
	var nilCtx context.Context
	const short = 50 * time.Millisecond

	c, err := e.cp.ConnectContext(nilCtx, "10.0.0.1", port, hang, passive...)
	require.NoError(t, err, "ConnectContext(nil) to a listener")
	a, err := e.sp.AcceptContext(nilCtx, l, hang)
	require.NoError(t, err, "AcceptContext(nil) with a connection waiting")
	_, err = e.sp.AcceptContext(nilCtx, l, short)
	assert.Equal(t, gentcp.Timeout, err, "AcceptContext(nil) that waits")

	_, err = a.RecvContext(nilCtx, 0, short)
	assert.Equal(t, gentcp.Timeout, err, "RecvContext(nil) that waits")
	_, err = a.RecvAppendContext(nilCtx, nil, 0, short)
	assert.Equal(t, gentcp.Timeout, err, "RecvAppendContext(nil) that waits")
	go func() {
		time.Sleep(short)
		_ = c.Send([]byte("late"))
	}()
	d, err := a.RecvContext(nilCtx, 4, hang)
	require.NoError(t, err, "RecvContext(nil) woken by data")
	assert.Equal(t, "late", string(d.Bytes))

	_, err = e.sp.ReceiveContext(nilCtx, short)
	assert.Equal(t, gentcp.Timeout, err, "ReceiveContext(nil) that waits")
	e.sp.Send("hi")
	m, err := e.sp.ReceiveContext(nilCtx, short)
	require.NoError(t, err)
	assert.Equal(t, "hi", m)

	// A send that waits on a busy queue: the peer reads nothing and the
	// queue's watermarks are tiny, so the second send waits until its
	// send_timeout.
	require.NoError(t, c.Setopts(gentcp.HighWatermark(1), gentcp.LowWatermark(1), gentcp.SendTimeout(short)))
	var sendErr error
	for range 1000 {
		if sendErr = c.SendContext(nilCtx, make([]byte, 64<<10)); sendErr != nil {
			break
		}
	}
	assert.Equal(t, gentcp.Timeout, sendErr, "SendContext(nil) on a busy queue")

	conn, err := e.client.DialContext(nilCtx, "tcp", fmt.Sprintf("10.0.0.1:%d", port))
	require.NoError(t, err, "DialContext(nil)")
	conn.Close()
	// a closes with unread input (a reset), so c's queue is dropped and
	// its Close does not wait; DialContext's connection is in l's queue.
	a.Close()
	c.Close()
	l.Close()
}

// TestMailboxClosesWhenProcessExits: the channel of Mailbox yields the
// messages sent before the process exited and then closes, so a range over
// it ends; it never closed before.
func TestMailboxClosesWhenProcessExits(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		before int // messages sent before the exit
		early  bool
	}{
		{"exit with an empty mailbox, the feed waiting", 0, true},
		{"exit with three messages queued", 3, false},
		{"exit after the feed started, two queued", 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := e.server.NewProcess()
			var mb <-chan gentcp.Message
			if tc.early {
				mb = p.Mailbox()
			}
			for i := range tc.before {
				p.Send(i)
			}
			p.Exit()
			p.Send("after exit") // dropped
			if mb == nil {
				mb = p.Mailbox()
			}
			got := make(chan []any, 1)
			go func() {
				var ms []any
				for m := range mb {
					ms = append(ms, m)
				}
				got <- ms
			}()
			want := []any{}
			for i := range tc.before {
				want = append(want, i)
			}
			select {
			case ms := <-got:
				assert.Equal(t, want, append([]any{}, ms...))
			case <-time.After(hang):
				t.Fatalf("range over the exited process's Mailbox still blocked after %v", hang)
			}
		})
	}
}

// TestSocketCapCountsClosingSockets: a socket closed with output still
// queued keeps its endpoint, drain and queue, so it counts under the
// node's cap (SetMaxSockets) until the queue is sent; OTP counts such a
// port too (erl 25: port_count and port_info keep a closed port until the
// peer reads its queue). Both ways of closing: the owner's exit, and
// close/1 giving up its wait (linger 1 s). With a cap of 4, 21 endpoints
// lived before.
func TestSocketCapCountsClosingSockets(t *testing.T) {
	for _, how := range []string{"owner exits", "close with linger 1 s"} {
		t.Run(how, func(t *testing.T) {
			e := newEnvTCP(t, smallBuffers)
			e.client.SetMaxSockets(1)
			l, port := e.listen(passive...)
			q := e.client.NewProcess()
			c, err := q.Connect("10.0.0.1", port, hang, append(passive, gentcp.LingerOpt(true, 1))...)
			require.NoError(t, err)
			a, err := e.sp.Accept(l, hang)
			require.NoError(t, err)
			const total = 1 << 20
			require.NoError(t, c.Send(make([]byte, total)), "one large send is queued")
			if how == "owner exits" {
				q.Exit()
			} else {
				require.NoError(t, c.Close())
				q.Exit()
			}
			assert.Equal(t, 1, e.client.OpenSockets(), "the closed socket with 1 MiB queued")
			_, err = e.cp.Connect("10.0.0.1", port, hang, passive...)
			assert.Equal(t, gentcp.Emfile, err, "a connect while the closed socket still sends")

			got := 0
			for got < total {
				d, err := a.Recv(0, hang)
				require.NoError(t, err, "after %d of %d bytes", got, total)
				got += len(d.Bytes)
			}
			deadline := time.Now().Add(hang)
			for e.client.OpenSockets() != 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			assert.Equal(t, 0, e.client.OpenSockets(), "the queue was sent")
			c2, err := e.cp.Connect("10.0.0.1", port, hang, passive...)
			require.NoError(t, err, "a connect after the queue went out")
			c2.Close()
			a.Close()
			l.Close()
		})
	}
}
