package bench

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/internal/testutil"
)

// The baselines are made as BENCHMARKS.md ("How the baselines are made")
// says. These tests check the structure, never the speed.

// spy wraps a system so that every stream it makes logs its reads and
// writes.
type spy struct {
	mu     sync.Mutex
	bufs   map[int]int // len(buf) of each read: count
	maxGot int         // the most bytes one read returned
	writes map[int]int // len(b) of each write: count
	bad    []string    // frames whose header does not say MessageSize
	framed bool        // check each write is one {packet,4} frame
}

type spySystem struct {
	system
	log *spy
}

func (s spySystem) listen(port int, opts []gentcp.Option) (listener, error) {
	l, err := s.system.listen(port, opts)
	if err != nil {
		return nil, err
	}
	return spyListener{l, s.log}, nil
}

type spyListener struct {
	listener
	log *spy
}

func (l spyListener) accept() (stream, error) { return l.wrap(l.listener.accept()) }
func (l spyListener) dial() (stream, error)   { return l.wrap(l.listener.dial()) }

func (l spyListener) wrap(s stream, err error) (stream, error) {
	if err != nil {
		return nil, err
	}
	return spyStream{s, l.log}, nil
}

type spyStream struct {
	stream
	log *spy
}

func (s spyStream) read(buf []byte) (int, error) {
	n, err := s.stream.read(buf)
	s.log.mu.Lock()
	s.log.bufs[len(buf)]++
	s.log.maxGot = max(s.log.maxGot, n)
	s.log.mu.Unlock()
	return n, err
}

func (s spyStream) write(b []byte) error {
	s.log.mu.Lock()
	s.log.writes[len(b)]++
	if s.log.framed && (len(b) < 4 || int(binary.BigEndian.Uint32(b)) != len(b)-4) {
		s.log.bad = append(s.log.bad, fmt.Sprintf("% x", b[:min(len(b), 8)]))
	}
	s.log.mu.Unlock()
	return s.stream.write(b)
}

func newSpy() *spy { return &spy{bufs: map[int]int{}, writes: map[int]int{}} }

// TestBulkReadsAndWrites64KiB: every system's bulk writes 64 KiB a call
// and reads into a 64 KiB buffer, and no read returns more (gentcp's Recv
// is bounded by {buffer,65536}), so no system reads in larger or smaller
// pieces than another.
func TestBulkReadsAndWrites64KiB(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, c := range []Case{
		{Measurement: Bulk, System: Gonet, MTU: 1500, Conns: 1, Dir: Up},
		{Measurement: Bulk, System: Gonet, MTU: 65520, Conns: 1, Dir: Down},
		{Measurement: Bulk, System: Kernel, Conns: 2, Dir: Up},
		{Measurement: Bulk, System: Gentcp, MTU: 65520, Conns: 1, Dir: Up},
		{Measurement: Bulk, System: Gentcp, MTU: 65520, Conns: 1, Dir: Up, Mode: Append},
		{Measurement: Bulk, System: Gentcp, MTU: 65520, Conns: 1, Dir: Up, Mode: NetConn},
	} {
		t.Run(c.Name(), func(t *testing.T) {
			sys, err := newSystem(c)
			require.NoError(t, err)
			log := newSpy()
			r, err := startBulk(spySystem{sys, log}, c.Conns, c.Dir, workloadOptions(c.Measurement))
			require.NoError(t, err)
			require.NoError(t, r.run(32))
			require.NoError(t, r.close())
			log.mu.Lock()
			defer log.mu.Unlock()
			assert.Equal(t, map[int]int{Chunk: 32}, log.writes, "writes by size")
			assert.Len(t, log.bufs, 1, "reads by buffer size: %v", log.bufs)
			assert.Contains(t, log.bufs, Chunk, "reads by buffer size")
			assert.LessOrEqual(t, log.maxGot, Chunk, "the most one read returned")
			assert.Positive(t, log.maxGot)
		})
	}
}

// TestFramedBaselineIsPacket4: gonet's and the kernel's message rate send
// each message as one {packet,4} frame in one write, as gentcp's Send
// with {packet,4} does, and read them through a 64 KiB bufio.Reader.
func TestFramedBaselineIsPacket4(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, c := range []Case{
		{Measurement: MessageRate, System: Gonet, MTU: 1500},
		{Measurement: MessageRate, System: Kernel},
	} {
		t.Run(c.Name(), func(t *testing.T) {
			sys, err := newSystem(c)
			require.NoError(t, err)
			log := newSpy()
			log.framed = true
			r, err := startFramedMsgRate(spySystem{sys, log})
			require.NoError(t, err)
			assert.Equal(t, Chunk, r.(*framedRunner).rd.Size(), "the reader's buffer")
			require.NoError(t, r.run(100))
			require.NoError(t, r.close())
			log.mu.Lock()
			defer log.mu.Unlock()
			assert.Equal(t, map[int]int{4 + MessageSize: 100}, log.writes, "writes by size")
			assert.Empty(t, log.bad, "frames without a 4-byte length of their body")
			assert.Contains(t, log.bufs, Chunk, "bufio fills its 64 KiB")
		})
	}
}

// optionNames are the options compared between gentcp's sockets and
// OTP's: all that the benchmarks set and that getopts can read back.
var optionNames = []string{"mode", "active", "nodelay", "buffer", "packet", "reuseaddr"}

// TestOTPGetsGentcpOptions: in every measurement OTP has, OTP's sockets
// (listen, connecting, accepted) read back with inet:getopts the options
// gentcp's sockets of the same case read back with Getopts: the escript
// is given gentcp's list, and applies it.
func TestOTPGetsGentcpOptions(t *testing.T) {
	testutil.Escript(t, "the comparison of OTP's socket options with gentcp's")
	defer goleak.VerifyNone(t)
	for _, c := range []Case{
		{Measurement: Bulk, Conns: 1, Dir: Up},
		{Measurement: RoundTrip},
		{Measurement: ConnRate},
		{Measurement: MessageRate, Mode: ActiveOnce},
		{Measurement: MessageRate, Mode: Passive},
	} {
		g, o := c, c
		g.System, g.MTU = Gentcp, 1500
		o.System = OTP
		t.Run(c.Measurement+"-"+c.Mode, func(t *testing.T) {
			want := gentcpOptions(t, g)
			got := otpOptions(t, o)
			assert.Equal(t, want, got)
			assert.Len(t, got, map[bool]int{true: 2, false: 3}[c.Measurement == ConnRate], "sockets compared: %v", got)
			for role, opts := range got {
				assert.Contains(t, opts, "{nodelay,true}", role)
				assert.Contains(t, opts, fmt.Sprintf("{buffer,%d}", Chunk), role)
				if c.Measurement == MessageRate {
					assert.Contains(t, opts, "{packet,4}", role)
				}
			}
		})
	}
}

// gentcpOptions starts case c and returns its sockets' options by role
// (listen, client, server), each as Erlang text.
func gentcpOptions(t *testing.T, c Case) map[string][]string {
	r, err := startGo(c)
	require.NoError(t, err)
	defer r.close()
	socks := map[string]*gentcp.Socket{}
	var l listener
	switch r := r.(type) {
	case *bulkRunner:
		l = r.l
		socks["client"], socks["server"] = r.senders[0].(gentcpStream).s, r.receivers[0].(gentcpStream).s
	case *rttRunner:
		l = r.l
		socks["client"], socks["server"] = r.client.(gentcpStream).s, r.server.(gentcpStream).s
	case *gentcpMsgRunner:
		l = r.l
		socks["client"], socks["server"] = r.sender, r.recv
	case *connRateRunner:
		// As OTP's side does: one connection made for the look, its
		// client compared (the acceptor closes the server end).
		l = r.l
		s, err := l.dial()
		require.NoError(t, err)
		defer func() {
			require.NoError(t, s.close())
			require.NoError(t, <-r.accepted)
		}()
		socks["client"] = s.(gentcpStream).s
	default:
		t.Fatalf("no sockets known for %T", r)
	}
	socks["listen"] = l.(*gentcpListener).l
	out := map[string][]string{}
	for role, s := range socks {
		opts, err := s.Getopts(optionNames...)
		require.NoError(t, err, role)
		for _, o := range opts {
			if o.Name == "mode" {
				// getopts' form, as inet:getopts returns it.
				out[role] = append(out[role], "{mode,"+o.String()+"}")
				continue
			}
			out[role] = append(out[role], o.String())
		}
	}
	return out
}

// otpOptions starts case c on OTP and returns its sockets' options by
// role, as inet:getopts gives them.
func otpOptions(t *testing.T, c Case) map[string][]string {
	r, err := startOTP(c)
	require.NoError(t, err)
	defer func() { require.NoError(t, r.close()) }()
	o := r.(*otpRunner)
	_, err = fmt.Fprintf(o.in, "opts %s\n", strings.Join(optionNames, ","))
	require.NoError(t, err)
	line, err := o.line()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(line, "ok "), "escript said %q (%s)", line, o.stderr.String())
	out := map[string][]string{}
	for f := range strings.FieldsSeq(line[3:]) {
		role, list, ok := strings.Cut(f, "=")
		require.True(t, ok, f)
		opts, err := gentcp.ParseOptions(list)
		require.NoError(t, err, list)
		for _, o := range opts {
			s := o.String()
			if o.Name == "mode" {
				s = "{mode," + s + "}"
			}
			out[role] = append(out[role], s)
		}
	}
	return out
}
