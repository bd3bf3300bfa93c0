package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ptr[T any](v T) *T { return &v }

func prefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

func addrs(ss ...string) []netip.Addr {
	as := make([]netip.Addr, len(ss))
	for i, s := range ss {
		as[i] = netip.MustParseAddr(s)
	}
	return as
}

// errBogus is what bogusCheck returns: a stand-in for gentcp's ErrBadArg.
var errBogus = errors.New("bogus option")

// bogusCheck is a tiny option check that rejects any term holding "bogus".
func bogusCheck(term string) error {
	if strings.Contains(term, "bogus") {
		return errBogus
	}
	return nil
}

func TestDefault(t *testing.T) {
	want := &Config{
		Link: Link{Kind: Memlink, MTU: 1500},
		Stacks: []Stack{
			{
				Name:      "server",
				End:       EndA,
				Addresses: prefixes("10.0.0.1/24", "fd00:75::1/64"),
				Hosts:     map[string][]netip.Addr{"client": addrs("10.0.0.2", "fd00:75::2")},
			},
			{
				Name:      "client",
				End:       EndB,
				Addresses: prefixes("10.0.0.2/24", "fd00:75::2/64"),
				Hosts:     map[string][]netip.Addr{"server": addrs("10.0.0.1", "fd00:75::1")},
			},
		},
	}
	got := Default()
	assert.Equal(t, want, got)

	require.NotNil(t, got.Stack("client"))
	assert.Equal(t, EndB, got.Stack("client").End)
	assert.Nil(t, got.Stack("router"))

	// Each call returns a Config of its own.
	got.Stacks[0].Name = "changed"
	assert.Equal(t, "server", Default().Stacks[0].Name)
}

func TestLoad_Example(t *testing.T) {
	got, err := Load("example.toml", WithOptionCheck(bogusCheck))
	require.NoError(t, err)
	want := &Config{
		Link: Link{
			Kind:            Memlink,
			MTU:             1500,
			Seed:            42,
			ChecksumOffload: ptr(false),
			Offload:         ptr(true),
			Loss:            0.01,
			Duplicate:       0.001,
			Corrupt:         0.0001,
			Reorder:         0.005,
			Latency:         5 * time.Millisecond,
			Jitter:          time.Millisecond,
			Rate:            12_500_000,
			Ethernet:        ptr(true),
		},
		Stacks: []Stack{
			{
				Name:      "server",
				End:       EndA,
				Addresses: prefixes("10.0.0.1/24", "fd00:75::1/64"),
				Routes: []Route{
					{Dest: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.0.0.2")},
					{Dest: netip.MustParsePrefix("::/0"), Gateway: netip.MustParseAddr("fd00:75::2")},
					{Dest: netip.MustParsePrefix("192.168.7.0/24")},
				},
				Hosts: map[string][]netip.Addr{"client": addrs("10.0.0.2", "fd00:75::2")},
				TCP: TCP{
					CongestionControl:     Cubic,
					SACK:                  ptr(true),
					RACK:                  ptr(false),
					SendBuffer:            BufferSizes{Min: 4096, Default: 1 << 20, Max: 4 << 20},
					ReceiveBuffer:         BufferSizes{Min: 4096, Default: 1 << 20, Max: 4 << 20},
					MinRTO:                200 * time.Millisecond,
					MaxRTO:                120 * time.Second,
					TimeWait:              60 * time.Second,
					KeepaliveIdle:         2 * time.Hour,
					KeepaliveInterval:     75 * time.Second,
					KeepaliveCount:        9,
					ModerateReceiveBuffer: ptr(true),
				},
			},
			{
				Name:      "client",
				End:       EndB,
				Addresses: prefixes("10.0.0.2/24", "fd00:75::2/64"),
				Hosts:     map[string][]netip.Addr{"server": addrs("10.0.0.1", "fd00:75::1")},
				TCP: TCP{
					CongestionControl: Reno,
					SACK:              ptr(false),
					MinRTO:            time.Second,
				},
			},
		},
		Sockets: Sockets{
			ConnectOptions: "[binary, {packet, 4}, {active, once}]",
			ListenOptions:  "[binary, {reuseaddr, true}]",
		},
	}
	assert.Equal(t, want, got)
}

func TestDecode_Tap(t *testing.T) {
	doc := `
[link]
kind = "tap"
name = "utcp1"
kernel_addresses = ["10.1.0.2/24"]

[[stack]]
name = "s"
end = "tap"
addresses = ["10.1.0.1/24"]
`
	got, err := Decode("tap.toml", []byte(doc))
	require.NoError(t, err)
	assert.Equal(t, Link{Kind: Tap, Name: "utcp1", KernelAddresses: prefixes("10.1.0.2/24")}, got.Link)
	assert.Equal(t, EndTap, got.Stacks[0].End)
}

func TestDecode_Minimal(t *testing.T) {
	got, err := Decode("min.toml", []byte("[[stack]]\nname = \"solo\"\nend = \"b\"\n"))
	require.NoError(t, err)
	assert.Equal(t, &Config{Link: Link{Kind: Memlink}, Stacks: []Stack{{Name: "solo", End: EndB}}}, got)
}

func TestDecode_Rate(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  uint64
	}{
		{`125000`, 125000},
		{`0`, 0},
		{`"0"`, 0},
		{`"1Gbit"`, 125_000_000},
		{`"10MB/s"`, 10_000_000},
	} {
		t.Run(tt.value, func(t *testing.T) {
			got, err := Decode("rate.toml", []byte("[link]\nrate = "+tt.value+"\n[[stack]]\nname=\"s\"\nend=\"a\"\n"))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.Link.Rate)
		})
	}
}

// errorCase is a file that fails, with the place the error must name.
type errorCase struct {
	name string
	doc  string
	line int
	key  string
	msg  string // the message after "file:line: key: " must contain this
}

// stacks is a valid pair of stacks, to append to documents under test.
const stacks = `
[[stack]]
name = "server"
end = "a"
addresses = ["10.0.0.1/24"]

[[stack]]
name = "client"
end = "b"
addresses = ["10.0.0.2/24"]
`

var errorCases = []errorCase{
	// Found by go-toml.
	{"an unknown key", "[link]\nkind = \"memlink\"\nmtuu = 1500\n" + stacks, 3, "link.mtuu", "unknown key (did you mean mtu?)"},
	{"an unknown key in a second stack", stacks + "adresses = []\n", 11, "stack[1].adresses", "unknown key (did you mean addresses?)"},
	{"an unknown key in an inline table", "[[stack]]\nname = \"s\"\nend = \"a\"\nroutes = [{ dest = \"0.0.0.0/0\", gw = \"10.0.0.1\" }]\n", 4, "stack[0].routes[0].gw", "unknown key"},
	{"an unknown table", stacks + "[stack.tcpp]\nsack = true\n", 11, "stack[1].tcpp", "unknown table (did you mean tcp?)"},
	{"an unknown top-level key", "lnk = 1\n" + stacks, 1, "lnk", "unknown key (did you mean link?)"},
	{"a syntax error", "[link]\nmtu = 1500\nloss = \n" + stacks, 3, "link.loss", "unexpected character"},
	{"a syntax error in a second stack", stacks + "name = \"x\" \"y\"\n", 11, "stack[1].name", ""},
	{"an unclosed table header", "[link\nmtu = 1\n", 1, "", "expected ']'"},
	{"a duplicate key", "[link]\nmtu = 1500\nmtu = 9000\n" + stacks, 3, "link.mtu", "already defined"},
	{"a string for an integer", "[link]\nmtu = \"1500\"\n" + stacks, 2, "link.mtu", `want an integer, not the string "1500"`},
	{"an integer for a string", stacks + "[stack.tcp]\nmin_rto = 200\n", 12, "stack[1].tcp.min_rto", "want a string, not the integer 200"},
	{"an integer in an array of strings", "[[stack]]\nname = \"s\"\nend = \"a\"\naddresses = [\n  \"10.0.0.1/24\",\n  42,\n]\n", 6, "stack[0].addresses[1]", "want a string, not the integer 42"},
	{"a boolean for a table", "link = true\n" + stacks, 1, "link", "want a table, not the boolean true"},
	{"a string for a boolean", stacks + "forwarding = \"yes\"\n", 11, "stack[1].forwarding", `want true or false, not the string "yes"`},
	{"an array for an integer", "[link]\nmtu =  [\n  1500,\n]\n" + stacks, 2, "link.mtu", "want an integer, not an array"},
	{"an array for a route", "[[stack]]\nname = \"s\"\nend = \"a\"\nroutes = [\n  { dest = \"::/0\" },\n  [\"10.0.0.0/8\"],\n]\n", 6, "stack[0].routes[1]", "want a table, not an array"},
	{"an array of routes in a second stack", stacks + "routes = [[1]]\n", 11, "stack[1].routes[0]", "want a table, not an array"},
	{"an integer in a host's addresses", "[[stack]]\nname = \"s\"\nend = \"a\"\n[stack.hosts]\nc = [\"10.0.0.2\", 3]\n", 5, "stack[0].hosts.c[1]", "want a string, not the integer 3"},
	{"a date for an integer", "[link]\nmtu = 1979-05-27\n" + stacks, 2, "link.mtu", "want an integer, not the date 1979-05-27"},
	{"a dotted key of the wrong type", stacks + "tcp.sack = 1\n", 11, "stack[1].tcp.sack", "want true or false, not the integer 1"},
	{"an integer too large", "[link]\nseed = 99999999999999999999\n" + stacks, 2, "link.seed", "too large"},

	// Found by Decode.
	{"a bad address", "[[stack]]\nname = \"server\"\nend = \"a\"\naddresses = [\"10.0.0.1/24\"]\n\n[[stack]]\nname = \"client\"\nend = \"b\"\naddresses = [\n  \"fd00:75::2/64\",\n  \"10.0.0.300/24\",\n]\n", 11, "stack[1].addresses[1]", `"10.0.0.300/24" is not an IP prefix`},
	{"an address without a prefix length", "[[stack]]\nname = \"s\"\nend = \"a\"\naddresses = [\"10.0.0.1\"]\n", 4, "stack[0].addresses[0]", "add the prefix length"},
	{"a bad prefix length", "[[stack]]\nname = \"s\"\nend = \"a\"\naddresses = [\"fd00::1/129\"]\n", 4, "stack[0].addresses[0]", `"fd00::1/129" is not an IP prefix`},
	{"a multicast address", "[[stack]]\nname = \"s\"\nend = \"a\"\naddresses = [\"224.0.0.1/4\"]\n", 4, "stack[0].addresses[0]", "cannot be an interface address"},
	{"an address listed twice", "[[stack]]\nname = \"s\"\nend = \"a\"\naddresses = [\"10.0.0.1/24\", \"10.0.0.1/8\"]\n", 4, "stack[0].addresses[1]", "listed twice"},
	{"an address on two stacks", "[[stack]]\nname = \"s\"\nend = \"a\"\naddresses = [\"10.0.0.1/24\"]\n[[stack]]\nname = \"t\"\nend = \"b\"\naddresses = [\"10.0.0.1/24\"]\n", 8, "stack[1].addresses[0]", `also an address of stack "s"`},
	{"a route with host bits", "[[stack]]\nname = \"s\"\nend = \"a\"\nroutes = [\n  { dest = \"::/0\" },\n  { dest = \"10.0.0.1/8\" },\n]\n", 6, "stack[0].routes[1].dest", `did you mean "10.0.0.0/8"?`},
	{"a route without dest", "[[stack]]\nname = \"s\"\nend = \"a\"\nroutes = [{ gateway = \"10.0.0.1\" }]\n", 4, "stack[0].routes[0]", "missing dest"},
	{"a gateway of the wrong family", "[[stack]]\nname = \"s\"\nend = \"a\"\nroutes = [{ dest = \"::/0\", gateway = \"10.0.0.1\" }]\n", 4, "stack[0].routes[0].gateway", "not in the address family"},
	{"a bad host address", "[[stack]]\nname = \"s\"\nend = \"a\"\n[stack.hosts]\n\"db.example\" = [\"10.0.0.9\", \"nope\"]\n", 5, `stack[0].hosts."db.example"[1]`, `"nope" is not an IP address`},
	{"localhost in hosts", "[[stack]]\nname = \"s\"\nend = \"a\"\nhosts = { localhost = [\"127.0.0.2\"] }\n", 4, "stack[0].hosts.localhost", "built in"},
	{"a bad duration", stacks + "  [stack.tcp]\n  min_rto = \"200 ms\"\n", 12, "stack[1].tcp.min_rto", `"200 ms" is not a duration`},
	{"a zero timer", stacks + "[stack.tcp]\ntime_wait = \"0s\"\n", 12, "stack[1].tcp.time_wait", "leave the key out"},
	{"a negative latency", "[link]\nlatency = \"-1ms\"\n" + stacks, 2, "link.latency", "negative"},
	{"min_rto above max_rto", stacks + "[stack.tcp]\nmin_rto = \"2s\"\nmax_rto = \"1s\"\n", 13, "stack[1].tcp.max_rto", "less than min_rto"},
	{"buffer sizes out of order", stacks + "[stack.tcp]\nsend_buffer = { min = 8192, default = 4096 }\n", 12, "stack[1].tcp.send_buffer.default", "less than min"},
	{"a zero buffer size", stacks + "[stack.tcp.receive_buffer]\nmax = 0\n", 12, "stack[1].tcp.receive_buffer.max", "outside 1.."},
	{"a keepalive count too high", stacks + "[stack.tcp]\nkeepalive_count = 1000\n", 12, "stack[1].tcp.keepalive_count", "outside 1..127"},
	{"an unknown congestion control", stacks + "[stack.tcp]\ncongestion_control = \"bbr\"\n", 12, "stack[1].tcp.congestion_control", `unknown congestion control "bbr"`},
	{"a negative mtu", "[link]\nmtu = -1\n" + stacks, 2, "link.mtu", "-1 is outside 576..65520, the range of a memlink link"},
	{"an mtu too large", "[link]\nmtu = 65521\n" + stacks, 2, "link.mtu", "outside 576..65520"},
	{"an mtu below memlink's floor", "[link]\nmtu = 575\n" + stacks, 2, "link.mtu", "575 is outside 576..65520"},
	{"an mtu below IPv4's floor on a tap", "[link]\nkind = \"tap\"\nmtu = 67\n[[stack]]\nname = \"s\"\nend = \"tap\"\naddresses = [\"10.0.0.1/24\"]\n", 3, "link.mtu", "67 is outside 68..65520, the range of a tap link"},
	{"a huge mtu", "[link]\nmtu = 99999999999\n" + stacks, 2, "link.mtu", "65521 is outside"},
	{"an mtu too small for IPv6", "[link]\nmtu = 576\n[[stack]]\nname = \"s\"\nend = \"a\"\naddresses = [\"fd00::1/64\"]\n", 2, "link.mtu", "less than IPv6's minimum of 1280"},
	{"a probability above 1", "[link]\nloss = 1.5\n" + stacks, 2, "link.loss", "1.5 is not a probability"},
	{"a NaN probability", "[link]\ncorrupt = nan\n" + stacks, 2, "link.corrupt", "NaN is not a probability"},
	{"a bad rate", "[link]\nrate = \"100Mbps\"\n" + stacks, 2, "link.rate", `unknown unit "Mbps"`},
	{"a negative rate", "[link]\nrate = -5\n" + stacks, 2, "link.rate", "negative"},
	{"a float rate", "[link]\nrate = 1.5\n" + stacks, 2, "link.rate", "want bytes per second"},
	{"an unknown link kind", "[link]\nkind = \"wire\"\n" + stacks, 2, "link.kind", `unknown link kind "wire"`},
	{"a tap name on a memlink", "[link]\nname = \"tap0\"\n" + stacks, 2, "link.name", "only for kind"},
	{"a tap name too long", "[link]\nkind = \"tap\"\nname = \"a-very-long-tap-name\"\n[[stack]]\nname = \"s\"\nend = \"tap\"\n", 3, "link.name", "longer than 15 bytes"},
	{"a memlink end on tap", "[link]\nkind = \"tap\"\n[[stack]]\nname = \"s\"\nend = \"a\"\n", 5, "stack[0].end", `want "tap"`},
	{"an unknown end", stacks + "[[stack]]\nname = \"x\"\nend = \"c\"\n", 13, "stack[2].end", `end "c" is not on a memlink`},
	{"two stacks on one end", stacks + "[[stack]]\nname = \"x\"\nend = \"a\"\n", 13, "stack[2].end", `end "a" already has stack "server"`},
	{"a missing end", "\n[[stack]]\nname = \"s\"\n", 2, "stack[0]", "missing end"},
	{"a missing name", "[[stack]]\nend = \"a\"\n", 1, "stack[0]", "missing name"},
	{"duplicate stack names", "[[stack]]\nname = \"server\"\nend = \"a\"\n[[stack]]\nname = \"server\"\nend = \"b\"\n", 5, "stack[1].name", `"server" is also the name of stack[0]`},
	{"a bad stack name", "[[stack]]\nname = \"my server\"\nend = \"a\"\n", 2, "stack[0].name", "is not a stack name"},
	{"no stacks", "[link]\nmtu = 1500\n", 1, "stack", "no [[stack]] table"},
	{"a bad connect option", stacks + "\n[sockets]\nlisten_options = \"[binary]\"\nconnect_options = \"[binary, bogus]\"\n", 14, "sockets.connect_options", "bad options [binary, bogus]: bogus option"},
	{"a bad listen option", stacks + "[sockets]\nlisten_options = '[{bogus, 1}]'\n", 12, "sockets.listen_options", "bogus option"},
}

func TestDecode_Errors(t *testing.T) {
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode("bad.toml", []byte(tt.doc), WithOptionCheck(bogusCheck))
			require.Error(t, err, "Decode(%q) = %+v, want an error", tt.doc, got)
			assert.Nil(t, got)

			var ce *Error
			require.True(t, errors.As(err, &ce), "Decode error %T (%v), want *Error", err, err)
			assert.Equal(t, "bad.toml", ce.File)
			assert.Equal(t, tt.line, ce.Line, "line of %v", err)
			assert.Equal(t, tt.key, ce.Key, "key of %v", err)

			prefix := "bad.toml:" + strconv.Itoa(tt.line) + ": "
			if tt.key != "" {
				prefix += tt.key + ": "
			}
			assert.True(t, strings.HasPrefix(err.Error(), prefix), "error %q, want it to start with %q", err, prefix)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestDecode_ErrorShapes(t *testing.T) {
	t.Run("a bad option wraps the check's error", func(t *testing.T) {
		_, err := Decode("x.toml", []byte(stacks+"[sockets]\nconnect_options = \"[bogus]\"\n"), WithOptionCheck(bogusCheck))
		assert.ErrorIs(t, err, errBogus)
	})
	t.Run("without a check, options are kept unchecked", func(t *testing.T) {
		c, err := Decode("x.toml", []byte(stacks+"[sockets]\nconnect_options = \"[bogus]\"\n"))
		require.NoError(t, err)
		assert.Equal(t, "[bogus]", c.Sockets.ConnectOptions)
	})
	t.Run("a syntax error wraps go-toml's DecodeError", func(t *testing.T) {
		_, err := Decode("x.toml", []byte("[link\n"))
		var de *toml.DecodeError
		require.ErrorAs(t, err, &de)
		line, _ := de.Position()
		assert.Equal(t, 1, line)
	})
	t.Run("a type error wraps go-toml's DecodeError", func(t *testing.T) {
		_, err := Decode("x.toml", []byte("[link]\nmtu = \"big\"\n"))
		var de *toml.DecodeError
		assert.ErrorAs(t, err, &de)
	})
	t.Run("several problems are joined in line order", func(t *testing.T) {
		doc := "[link]\nloss = 2.0\n[[stack]]\nname = \"s\"\nend = \"z\"\n[link.x]\n"
		_, err := Decode("x.toml", []byte(doc))
		require.Error(t, err)
		// The unknown table stops decoding before values are checked.
		assert.Equal(t, "x.toml:6: link.x: unknown table", err.Error())

		doc = "[[stack]]\nname = \"s\"\nend = \"z\"\n[link]\nloss = 2.0\nmtu = 1\n"
		_, err = Decode("x.toml", []byte(doc))
		require.Error(t, err)
		assert.Equal(t, strings.Join([]string{
			`x.toml:3: stack[0].end: end "z" is not on a memlink; want "a" or "b"`,
			`x.toml:5: link.loss: 2 is not a probability from 0 to 1`,
			`x.toml:6: link.mtu: 1 is outside 576..65520, the range of a memlink link`,
		}, "\n"), err.Error())
		var joined interface{ Unwrap() []error }
		require.ErrorAs(t, err, &joined)
		for _, e := range joined.Unwrap() {
			var ce *Error
			assert.ErrorAs(t, e, &ce)
		}
	})
	t.Run("several unknown keys are all reported", func(t *testing.T) {
		_, err := Decode("x.toml", []byte("[link]\nmtuu = 1\nlos = 0.1\n"))
		require.Error(t, err)
		assert.Equal(t, "x.toml:2: link.mtuu: unknown key (did you mean mtu?)\nx.toml:3: link.los: unknown key (did you mean loss?)", err.Error())
	})
}

func TestLoad(t *testing.T) {
	t.Run("a missing file gives the os error", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "none.toml"))
		assert.ErrorIs(t, err, os.ErrNotExist)
	})
	t.Run("errors name the path as given", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bad.toml")
		require.NoError(t, os.WriteFile(path, []byte("[link]\nmtu = 0\n"+stacks), 0o644))
		_, err := Load(path)
		var ce *Error
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, path, ce.File)
		assert.True(t, strings.HasPrefix(err.Error(), path+":2: link.mtu: "), "error %q", err)
	})
}

func TestParseRate(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
		err  string
	}{
		{in: "0", want: 0},
		{in: "125000", want: 125000},
		{in: "8bit", want: 1},
		{in: "100Mbit", want: 12_500_000},
		{in: "100mbit", want: 12_500_000},
		{in: "1Gbit", want: 125_000_000},
		{in: "1.5Gbit/s", want: 187_500_000},
		{in: "10kbit", want: 1250},
		{in: "10MB", want: 10_000_000},
		{in: "10 MB/s", want: 10_000_000},
		{in: "64KiB", want: 65536},
		{in: "1TiB", want: 1 << 40},
		{in: "12bit", want: 1},
		{in: "1bit", err: "less than 1 byte per second"},
		{in: "100Mbps", err: `unknown unit "Mbps"`},
		{in: "10mb", err: `unknown unit "mb"`},
		{in: "", err: "is not a rate"},
		{in: "-5", err: "is not a rate"},
		{in: "1.", err: "is not a rate"},
		{in: ".5MB", err: "is not a rate"},
		{in: "1.2.3", err: "is not a rate"},
		{in: "1e9", err: `unknown unit "e9"`},
		{in: "100000000TB", err: "more than 2^64-1"},
		{in: strings.Repeat("9", 41), err: "is not a rate"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if tt.err != "" {
				assert.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestCheckMTU is the one MTU rule, which Decode and the command line's
// --mtu share: the link kind's range, then IPv6's minimum where a stack
// has an IPv6 address.
func TestCheckMTU(t *testing.T) {
	v4 := []Stack{{Name: "a", Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}}}
	v6 := []Stack{v4[0], {Name: "b", Addresses: []netip.Prefix{netip.MustParsePrefix("fd00::2/64")}}}
	cases := []struct {
		mtu    int
		kind   LinkKind
		stacks []Stack
		want   string // "" for no error
	}{
		{0, Memlink, v6, ""},
		{576, Memlink, v4, ""},
		{575, Memlink, v4, "575 is outside 576..65520, the range of a memlink link"},
		{68, Tap, v4, ""},
		{67, Tap, v4, "67 is outside 68..65520, the range of a tap link"},
		{-5, Tap, v4, "-5 is outside 68..65520, the range of a tap link"},
		{65520, Memlink, v6, ""},
		{65521, Memlink, v4, "65521 is outside 576..65520, the range of a memlink link"},
		{1279, Memlink, v6, `1279 is less than IPv6's minimum of 1280, and stack "b" has fd00::2/64`},
		{1280, Tap, v6, ""},
	}
	for _, c := range cases {
		err := CheckMTU(c.mtu, c.kind, c.stacks)
		if c.want == "" {
			assert.NoError(t, err, "MTU %d on %s", c.mtu, c.kind)
		} else {
			assert.EqualError(t, err, c.want, "MTU %d on %s", c.mtu, c.kind)
		}
	}
	// Decode says the same, after the file, line and key.
	_, err := Decode("x.toml", []byte("[link]\nmtu = 1000\n[[stack]]\nname = \"b\"\nend = \"a\"\naddresses = [\"fd00::2/64\"]\n"))
	assert.EqualError(t, err, `x.toml:2: link.mtu: 1000 is less than IPv6's minimum of 1280, and stack "b" has fd00::2/64`)
}
