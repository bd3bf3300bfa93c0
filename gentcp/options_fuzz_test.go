package gentcp_test

import (
	"errors"
	"math"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/internal/testutil"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// TestZeroIPIsBadArg: IP(netip.Addr{}) is a bad argument to Listen,
// Connect and SetDefaults, as {ip,junk} is to OTP; formatting the error
// indexed the zero address's missing bytes and panicked.
func TestZeroIPIsBadArg(t *testing.T) {
	e := newEnv(t)
	_, port := e.listen(passive...)
	zero := gentcp.IP(netip.Addr{})
	_, err := e.sp.Listen(0, zero)
	if !errors.Is(err, gentcp.ErrBadArg) {
		t.Errorf("Listen(0, IP(zero)) = %v, want badarg", err)
	}
	_, err = e.cp.Connect("10.0.0.1", port, 5*time.Second, zero)
	if !errors.Is(err, gentcp.ErrBadArg) {
		t.Errorf("Connect(IP(zero)) = %v, want badarg", err)
	}
	if err := e.client.SetDefaults([]gentcp.Option{zero}, nil); !errors.Is(err, gentcp.ErrBadArg) {
		t.Errorf("SetDefaults(connect: IP(zero)) = %v, want badarg", err)
	}
	if err := e.client.SetDefaults(nil, []gentcp.Option{zero}); !errors.Is(err, gentcp.ErrBadArg) {
		t.Errorf("SetDefaults(listen: IP(zero)) = %v, want badarg", err)
	}
	if got := zero.String(); got == "" {
		t.Errorf("IP(zero).String() is empty")
	}
}

// optionConstructors builds every option with a value from the fuzzer's
// integer, bool and address, so that each constructor meets zero,
// negative and extreme values.
var optionConstructors = []func(n int64, b bool, a netip.Addr) gentcp.Option{
	func(_ int64, b bool, _ netip.Addr) gentcp.Option { return gentcp.Mode(b) },
	func(_ int64, b bool, _ netip.Addr) gentcp.Option { return gentcp.Active(b) },
	func(n int64, _ bool, _ netip.Addr) gentcp.Option { return gentcp.ActiveN(int(n)) },
	func(n int64, _ bool, _ netip.Addr) gentcp.Option { return gentcp.Packet(int(n)) },
	func(n int64, _ bool, _ netip.Addr) gentcp.Option { return gentcp.PacketSize(int(n)) },
	func(n int64, _ bool, _ netip.Addr) gentcp.Option { return gentcp.Header(int(n)) },
	func(n int64, _ bool, _ netip.Addr) gentcp.Option { return gentcp.LineDelimiter(byte(n)) },
	func(n int64, _ bool, _ netip.Addr) gentcp.Option { return gentcp.Backlog(int(n)) },
	func(_ int64, _ bool, a netip.Addr) gentcp.Option { return gentcp.IP(a) },
	func(n int64, _ bool, _ netip.Addr) gentcp.Option { return gentcp.Port(int(n)) },
	func(_ int64, _ bool, _ netip.Addr) gentcp.Option { return gentcp.FD(nil, nil) },
	func(_ int64, b bool, _ netip.Addr) gentcp.Option { return gentcp.ExitOnClose(b) },
	func(_ int64, b bool, _ netip.Addr) gentcp.Option { return gentcp.ShowEconnreset(b) },
	func(n int64, _ bool, _ netip.Addr) gentcp.Option { return gentcp.Buffer(int(n)) },
	func(n int64, _ bool, _ netip.Addr) gentcp.Option { return gentcp.Recbuf(int(n)) },
	func(n int64, _ bool, _ netip.Addr) gentcp.Option { return gentcp.Sndbuf(int(n)) },
	func(_ int64, b bool, _ netip.Addr) gentcp.Option { return gentcp.Nodelay(b) },
	func(_ int64, b bool, _ netip.Addr) gentcp.Option { return gentcp.Keepalive(b) },
	func(_ int64, b bool, _ netip.Addr) gentcp.Option { return gentcp.Reuseaddr(b) },
	func(n int64, b bool, _ netip.Addr) gentcp.Option { return gentcp.LingerOpt(b, int(n)) },
	func(_ int64, b bool, _ netip.Addr) gentcp.Option { return gentcp.SendTimeoutClose(b) },
	func(n int64, _ bool, _ netip.Addr) gentcp.Option { return gentcp.HighWatermark(int(n)) },
	func(n int64, _ bool, _ netip.Addr) gentcp.Option { return gentcp.LowWatermark(int(n)) },
	func(n int64, _ bool, _ netip.Addr) gentcp.Option { return gentcp.HighMsgqWatermark(int(n)) },
	func(n int64, _ bool, _ netip.Addr) gentcp.Option { return gentcp.LowMsgqWatermark(int(n)) },
	func(_ int64, b bool, _ netip.Addr) gentcp.Option { return gentcp.DelaySend(b) },
	func(n int64, _ bool, _ netip.Addr) gentcp.Option { return gentcp.Priority(int(n)) },
	func(n int64, _ bool, _ netip.Addr) gentcp.Option { return gentcp.Tos(int(n)) },
	func(n int64, _ bool, _ netip.Addr) gentcp.Option { return gentcp.SendTimeout(time.Duration(n)) },
}

// callError reports err unless it is nil or a gentcp Reason (an
// OptionError wraps one): a bad option is an error, never a panic, a hang
// or an error from somewhere else.
func callError(t *testing.T, call string, o gentcp.Option, err error) {
	t.Helper()
	var r gentcp.Reason
	if err != nil && !errors.As(err, &r) {
		t.Errorf("%s with %v: %v (%T), want nil or a gentcp reason", call, o, err, err)
	}
}

// FuzzOptionConstructors feeds every option constructor's result, with
// zero and extreme values, into real calls: SetDefaults (connect and
// listen), Listen, Connect and Setopts on the connected socket. Each must
// return nil or a gentcp reason, never panic; a socket the option was
// accepted on still carries data to its passive peer. The seed corpus runs in every go test; go test
// -fuzz=FuzzOptionConstructors ./gentcp/ explores further.
func FuzzOptionConstructors(f *testing.F) {
	extremes := []int64{0, 1, -1, 2, 3, 4, 255, 256, 65535, 65536, 32767, 32768, -32768, -32769,
		math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64}
	addrs := [][]byte{nil, {}, {10, 0, 0, 2}, {0, 0, 0, 0}, {255, 255, 255, 255}, {1, 2, 3}, make([]byte, 16),
		{0xfd, 0, 0, 0x75, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}}
	for i := range optionConstructors {
		for j, n := range extremes {
			f.Add(uint8(i), n, j%2 == 0, addrs[j%len(addrs)])
		}
	}

	f.Cleanup(func() { goleak.VerifyNone(f) })
	p := testutil.NewPair(f, memlink.Options{}, stack.TCPOptions{MinRTO: 20 * time.Millisecond})
	server, client := gentcp.NewNode(p.A), gentcp.NewNode(p.B)
	sp, cp := server.NewProcess(), client.NewProcess()
	f.Cleanup(func() {
		sp.Exit()
		cp.Exit()
	})
	l, err := sp.Listen(0, gentcp.Binary, gentcp.Active(false), gentcp.Backlog(64))
	if err != nil {
		f.Fatal(err)
	}
	port, err := l.Port()
	if err != nil {
		f.Fatal(err)
	}
	// scratch gets the defaults, so that a bad one cannot reach the calls
	// below.
	scratch := gentcp.NewNode(p.B)

	f.Fuzz(func(t *testing.T, ctor uint8, n int64, b bool, addrBytes []byte) {
		a, _ := netip.AddrFromSlice(addrBytes)
		o := optionConstructors[int(ctor)%len(optionConstructors)](n, b, a)
		_ = o.String()

		callError(t, "SetDefaults(connect)", o, scratch.SetDefaults([]gentcp.Option{o}, nil))
		callError(t, "SetDefaults(listen)", o, scratch.SetDefaults(nil, []gentcp.Option{o}))

		ls, err := sp.Listen(0, o)
		callError(t, "Listen", o, err)
		if err == nil {
			ls.Close()
		}

		c, err := cp.Connect("10.0.0.1", port, 2*time.Second, gentcp.Binary, gentcp.Active(false), o)
		callError(t, "Connect", o, err)
		if err != nil {
			return
		}
		defer c.Close()
		s, err := sp.Accept(l, 2*time.Second)
		if err != nil {
			t.Fatalf("Accept after Connect with %v: %v", o, err)
		}
		defer s.Close()
		if err := c.Send([]byte("ping")); err != nil {
			t.Errorf("Send after Connect with %v: %v", o, err)
		} else if _, err := s.Recv(0, 2*time.Second); err != nil {
			t.Errorf("Recv of data sent after Connect with %v: %v", o, err)
		}

		err = c.Setopts(o)
		callError(t, "Setopts", o, err)
		if err != nil {
			return
		}
		if err := c.Send([]byte("pong")); err != nil {
			t.Errorf("Send after Setopts(%v): %v", o, err)
		} else if _, err := s.Recv(0, 2*time.Second); err != nil {
			t.Errorf("Recv of data sent after Setopts(%v): %v", o, err)
		}
	})
}
