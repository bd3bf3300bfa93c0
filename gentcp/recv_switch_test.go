package gentcp_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/usertcp/usertcp/gentcp"
)

// A passive recv pending while another goroutine's Setopts changes the
// packet type, as OTP 25 does it (integration/otp's switch_* scenarios
// hold erl's side).

// pendingRecv is a recv running on its own goroutine.
type pendingRecv struct {
	t  *testing.T
	f  func() recvResult
	ch chan recvResult
}

type recvResult struct {
	d   gentcp.Data
	p   gentcp.HTTPPacket
	err error
}

func startRecv(t *testing.T, f func() recvResult) *pendingRecv {
	r := &pendingRecv{t: t, f: f, ch: make(chan recvResult, 1)}
	go func() { r.ch <- f() }()
	return r
}

// quiet asserts that the recv has not returned after a while (it must
// wait for the peer's next bytes, which the test has not sent yet).
func (r *pendingRecv) quiet(what string) {
	r.t.Helper()
	select {
	case res := <-r.ch:
		r.t.Fatalf("the recv returned %q/%v/%v %s", res.d.Bytes, res.p, res.err, what)
	case <-time.After(100 * time.Millisecond):
	}
}

func (r *pendingRecv) result() recvResult {
	r.t.Helper()
	select {
	case res := <-r.ch:
		return res
	case <-time.After(5 * time.Second):
		r.t.Fatal("the recv did not return")
	}
	return recvResult{}
}

// busy waits until r's recv is in progress on s: a poll of the same kind
// answers ealready then (before, it finds nothing whole and takes
// nothing, in every case here). A recv that began while a poll was in
// progress got ealready itself; it is started again.
func (r *pendingRecv) busy(s *gentcp.Socket, http bool) {
	r.t.Helper()
	for range 500 {
		select {
		case res := <-r.ch:
			require.Equal(r.t, gentcp.Ealready, res.err, "the recv returned %q/%v before the setopts", res.d.Bytes, res.p)
			go func() { r.ch <- r.f() }()
		default:
		}
		var err error
		if http {
			_, err = s.RecvHTTP(0)
		} else {
			_, err = s.Recv(0, 0)
		}
		if err == gentcp.Ealready {
			return
		}
		require.Equal(r.t, gentcp.Timeout, err, "a poll before the recv started")
		time.Sleep(10 * time.Millisecond)
	}
	r.t.Fatal("the recv did not start")
}

// acrossSwitch connects a passive socket c, of the type from (nil: raw),
// to its peer a, has a send pre (if any) and waits for it to arrive,
// starts recv(c) and, once it waits and has stayed quiet, sets to: the
// recv is pending across the switch.
func acrossSwitch(t *testing.T, from *gentcp.Option, pre string, recv func(c *gentcp.Socket) func() recvResult, http bool, to gentcp.Option) (c, a *gentcp.Socket, r *pendingRecv) {
	t.Helper()
	opts := passive
	if from != nil {
		opts = append(append([]gentcp.Option(nil), passive...), *from)
	}
	c, a = newEnv(t).connected(opts, passive...)
	if pre != "" {
		require.NoError(t, a.Send([]byte(pre)))
		time.Sleep(50 * time.Millisecond)
	}
	r = startRecv(t, recv(c))
	r.busy(c, http)
	r.quiet("before the setopts")
	require.NoError(t, c.Setopts(to))
	return c, a, r
}

// recvData and recvHTTP are the recvs acrossSwitch starts: Recv(length,
// timeout) and RecvHTTP(timeout) on the socket it makes.
func recvData(length int, timeout time.Duration) func(*gentcp.Socket) func() recvResult {
	return func(c *gentcp.Socket) func() recvResult {
		return func() recvResult {
			d, err := c.Recv(length, timeout)
			return recvResult{d: d, err: err}
		}
	}
}

func recvHTTP(timeout time.Duration) func(*gentcp.Socket) func() recvResult {
	return func(c *gentcp.Socket) func() recvResult {
		return func() recvResult {
			p, err := c.RecvHTTP(timeout)
			return recvResult{p: p, err: err}
		}
	}
}

// TestRecvPendingSwitchFramesAtArrival: Setopts does not make a pending
// recv frame what is buffered with the new type; the next bytes from the
// peer do, the buffer framed before them (line -> raw: the buffered "ab"
// alone; line -> {packet,4}: the whole packet buffered, the new byte left).
func TestRecvPendingSwitchFramesAtArrival(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to gentcp.Option
		pre      string
		post     string
		want     string
		next     string // what the next Recv(0) returns; "" for a timeout
	}{
		{"line to raw", gentcp.PacketLine, gentcp.PacketRaw, "ab", "cd\nef", "ab", "cd\nef"},
		{"line to packet 4", gentcp.PacketLine, gentcp.Packet(4), "\x00\x00\x00\x02ab", "x", "ab", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, a, r := acrossSwitch(t, &tc.from, tc.pre, recvData(0, gentcp.Infinity), false, tc.to)
			r.quiet("at the setopts, before the peer sent more")
			require.NoError(t, a.Send([]byte(tc.post)))
			res := r.result()
			require.NoError(t, res.err)
			assert.Equal(t, tc.want, string(res.d.Bytes))
			d, err := c.Recv(0, 100*time.Millisecond)
			if tc.next == "" {
				assert.Equal(t, gentcp.Timeout, err)
			} else {
				require.NoError(t, err)
				assert.Equal(t, tc.next, string(d.Bytes))
			}
		})
	}
}

// TestRecvPendingSwitchTimesOut: a whole packet of the new type buffered
// at the switch is not delivered by it; the recv's timeout ends the recv
// and the next Recv gets the packet.
func TestRecvPendingSwitchTimesOut(t *testing.T) {
	line := gentcp.PacketLine
	c, _, r := acrossSwitch(t, &line, "ab", recvData(0, 500*time.Millisecond), false, gentcp.PacketRaw)
	assert.Equal(t, gentcp.Timeout, r.result().err)
	d, err := c.Recv(0, 100*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, "ab", string(d.Bytes))
}

// TestRecvPendingSwitchPacket4HalfToRaw: a {packet,4} packet half there
// when the type becomes raw: the recv reads exactly the packet's rest and
// returns the whole buffer, header and all; the peer's close before the
// rest discards it (closed, then enotconn).
func TestRecvPendingSwitchPacket4HalfToRaw(t *testing.T) {
	half, p4 := "\x00\x00\x00\x05ab", gentcp.Packet(4)
	t.Run("rest", func(t *testing.T) {
		c, a, r := acrossSwitch(t, &p4, half, recvData(0, gentcp.Infinity), false, gentcp.PacketRaw)
		r.quiet("at the setopts")
		require.NoError(t, a.Send([]byte("cdefg")))
		res := r.result()
		require.NoError(t, res.err)
		assert.Equal(t, half+"cde", string(res.d.Bytes))
		d, err := c.Recv(0, second)
		require.NoError(t, err)
		assert.Equal(t, "fg", string(d.Bytes))
	})
	t.Run("close", func(t *testing.T) {
		c, a, r := acrossSwitch(t, &p4, half, recvData(0, gentcp.Infinity), false, gentcp.PacketRaw)
		r.quiet("at the setopts")
		require.NoError(t, a.Close())
		assert.Equal(t, gentcp.Closed, r.result().err)
		_, err := c.Recv(0, second)
		assert.Equal(t, gentcp.Enotconn, err)
	})
}

// TestRecvPendingAcrossHTTPSwitch: where OTP's pending recv returns a
// packet of the other kind (an HTTP packet to a Recv, raw data to a
// RecvHTTP), gentcp's returns einval when that packet is whole, not at
// the setopts nor for half of it, and leaves it buffered: the call that
// takes the new type gets it, and nothing is lost.
func TestRecvPendingAcrossHTTPSwitch(t *testing.T) {
	t.Run("raw to http_bin", func(t *testing.T) {
		c, a, r := acrossSwitch(t, nil, "", recvData(0, gentcp.Infinity), false, gentcp.PacketHTTPBin)
		r.quiet("at the setopts")
		require.NoError(t, a.Send([]byte("GET / HT")))
		r.quiet("for half a request line")
		require.NoError(t, a.Send([]byte("TP/1.1\r\nHost: h\r\n\r\n")))
		err := r.result().err
		assert.True(t, errors.Is(err, gentcp.Einval), "Recv after a switch to http_bin: %v", err)
		p, err := c.RecvHTTP(second)
		require.NoError(t, err)
		req, ok := p.(gentcp.HTTPRequest)
		require.True(t, ok, "%#v", p)
		assert.Equal(t, "GET", req.Method)
		p, err = c.RecvHTTP(second)
		require.NoError(t, err)
		assert.Equal(t, "Host", p.(gentcp.HTTPHeader).Field)
		p, err = c.RecvHTTP(second)
		require.NoError(t, err)
		assert.Equal(t, gentcp.HTTPEOH{}, p)
	})
	t.Run("http_bin to raw", func(t *testing.T) {
		httpBin := gentcp.PacketHTTPBin
		c, a, r := acrossSwitch(t, &httpBin, "GET / HT", recvHTTP(gentcp.Infinity), true, gentcp.PacketRaw)
		r.quiet("at the setopts")
		require.NoError(t, a.Send([]byte("TP/1.1\r\n")))
		err := r.result().err
		assert.True(t, errors.Is(err, gentcp.Einval), "RecvHTTP after a switch to raw: %v", err)
		d, err := c.Recv(0, second)
		require.NoError(t, err)
		assert.Equal(t, "GET / HT", string(d.Bytes))
		d, err = c.Recv(0, second)
		require.NoError(t, err)
		assert.Equal(t, "TP/1.1\r\n", string(d.Bytes))
	})
}

// TestRecvLengthPendingAcrossSwitch: a pending Recv(N) takes exactly N
// bytes, as they came, whatever type Setopts switches to meanwhile (OTP
// reads the same N bytes, then strips a {packet,4} header from them or
// parses them as an HTTP line: gentcp/doc.go).
func TestRecvLengthPendingAcrossSwitch(t *testing.T) {
	for _, tc := range []struct {
		name string
		to   gentcp.Option
		n    int
	}{
		{"packet 4", gentcp.Packet(4), 8},
		{"http_bin", gentcp.PacketHTTPBin, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, a, r := acrossSwitch(t, nil, "", recvData(tc.n, gentcp.Infinity), false, tc.to)
			r.quiet("at the setopts")
			w := "\x00\x00\x00\x03abc\x00\x00\x00\x01dGET / HTTP/1.1\r\n"
			require.NoError(t, a.Send([]byte(w)))
			res := r.result()
			require.NoError(t, res.err)
			assert.Equal(t, w[:tc.n], string(res.d.Bytes))
		})
	}
}

// TestRecvAppendPendingAcrossSwitch: a RecvAppend waiting with
// {packet,raw}, which copies raw bytes into the caller's buffer, cannot
// return a {packet,4} packet once Setopts sets that type: it says einval
// when the packet is whole and leaves it, header unread, for the next
// call.
func TestRecvAppendPendingAcrossSwitch(t *testing.T) {
	recvAppend := func(c *gentcp.Socket) func() recvResult {
		return func() recvResult {
			b, err := c.RecvAppend(make([]byte, 0, 64), 0, gentcp.Infinity)
			return recvResult{d: gentcp.Data{Bytes: b}, err: err}
		}
	}
	c, a, r := acrossSwitch(t, nil, "", recvAppend, false, gentcp.Packet(4))
	r.quiet("at the setopts")
	require.NoError(t, a.Send([]byte("\x00\x00")))
	r.quiet("for half a header")
	require.NoError(t, a.Send([]byte("\x00\x03abc")))
	res := r.result()
	assert.True(t, errors.Is(res.err, gentcp.Einval), "RecvAppend after a switch to {packet,4}: %q %v", res.d.Bytes, res.err)
	b, err := c.RecvAppend(nil, 0, second)
	require.NoError(t, err)
	assert.Equal(t, "abc", string(b))
}
