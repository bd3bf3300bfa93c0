package config

import (
	"net/netip"
	"time"
)

// Config is one usertcp setup: the link, the stacks attached to it, and the
// defaults for gen_tcp sockets. It is the [link] table, the [[stack]]
// tables and the [sockets] table of the file.
type Config struct {
	Link    Link    // the [link] table
	Stacks  []Stack // the [[stack]] tables, in file order
	Sockets Sockets // the [sockets] table
}

// Stack returns the stack called name, or nil when there is none.
func (c *Config) Stack(name string) *Stack {
	for i := range c.Stacks {
		if c.Stacks[i].Name == name {
			return &c.Stacks[i]
		}
	}
	return nil
}

// LinkKind names a kind of link.
type LinkKind string

// The kinds of link.
const (
	// Memlink is an in-memory wire with two ends, "a" and "b".
	Memlink LinkKind = "memlink"
	// Tap is a Linux TAP device: one stack on one side, the kernel on the
	// other.
	Tap LinkKind = "tap"
)

// End names where a stack attaches to the link.
type End string

// The ends of a link.
const (
	EndA   End = "a"   // end a of a memlink
	EndB   End = "b"   // end b of a memlink
	EndTap End = "tap" // the stack's side of a TAP device
)

// Limits on Link.MTU, in bytes.
const (
	// MinMTU is the smallest MTU IPv4 allows (RFC 791), and the smallest
	// a TAP link takes.
	MinMTU = 68
	// MinMTUMemlink is the smallest MTU a memlink takes (link/memlink
	// refuses less; cmd/usertcp's tests check that the two agree).
	MinMTUMemlink = 576
	// MinMTUIPv6 is the smallest MTU IPv6 allows (RFC 8200); links with an
	// IPv6 address on them need at least this much.
	MinMTUIPv6 = 1280
	// MaxMTU is the largest MTU a link accepts.
	MaxMTU = 65520
)

// Link is the [link] table: which link joins the stacks, and the faults it
// injects. The fault knobs apply to both directions.
type Link struct {
	// Kind is the kind of link; Decode sets Memlink when the key is absent.
	Kind LinkKind

	// MTU is the link's maximum transmission unit in bytes, as CheckMTU
	// allows. Zero means the link's default.
	MTU int

	// Seed seeds the random faults so that a run can be repeated. Zero is
	// a seed like any other, and the default.
	Seed int64

	// ChecksumOffload, when true, makes the link claim checksum offload so
	// that the stacks neither compute nor verify checksums. Nil means the
	// link's default.
	ChecksumOffload *bool

	// Offload, when false, turns off segmentation offload: memlink's
	// GSO and GRO, a TAP device's virtio-net header (TSO both ways). Nil
	// means on, as on a Linux veth pair or a virtual machine's NIC.
	Offload *bool

	// Loss, Duplicate, Corrupt and Reorder are the probabilities, from 0 to
	// 1, that a frame is dropped, sent twice, has a bit flipped, or is held
	// back behind the next frame. Zero (the default) means never.
	Loss, Duplicate, Corrupt, Reorder float64

	// Latency delays every frame; Jitter adds a random delay between 0 and
	// Jitter on top, as a queue of varying depth does: frames keep their
	// order. Zero (the default) means no delay.
	Latency, Jitter time.Duration

	// JitterReorders draws each frame's jitter independently (Linux
	// netem's jitter), so that frames overtake one another, as on a path
	// over parallel queues. False (the default) keeps their order.
	JitterReorders bool

	// Rate caps the bandwidth, in bytes per second; zero (the default)
	// means no cap. The file gives it as an integer of bytes per second or
	// as a string such as "100Mbit" or "10MB" (see ParseRate).
	Rate uint64

	// Ethernet, when true, frames packets in Ethernet with ARP and NDP;
	// when false, frames are bare IP packets. Nil means the link's default.
	Ethernet *bool

	// Name is the TAP device's name (tap only). Empty means the tap link's
	// default.
	Name string

	// KernelAddresses are the addresses with prefix length the kernel side
	// of the TAP device gets (tap only), such as 10.0.0.2/24. Empty means
	// none.
	KernelAddresses []netip.Prefix
}

// Stack is one [[stack]] table: a userspace TCP/IP stack with one NIC on
// the link.
type Stack struct {
	// Name names the stack, unique in the file: letters, digits, '_', '-'
	// and '.'. Required.
	Name string

	// End is where the stack's NIC attaches: EndA or EndB on a memlink,
	// EndTap on a tap link. Each end takes one stack. Required.
	End End

	// Addresses are the NIC's addresses with their prefix lengths, such as
	// 10.0.0.1/24; each prefix also gives an on-link route to its subnet.
	Addresses []netip.Prefix

	// Routes are the routes beyond the on-link subnets, in order.
	Routes []Route

	// Hosts is the stack's host table, from host name to addresses.
	// "localhost" (127.0.0.1 and ::1) is always there and cannot be set.
	// Nil when the file has no hosts.
	Hosts map[string][]netip.Addr

	// Forwarding makes the stack forward IP packets between its NICs.
	// False (the default) means it does not.
	Forwarding bool

	// TCP tunes the stack's TCP.
	TCP TCP
}

// Route is one entry of Stack.Routes.
type Route struct {
	// Dest is the destination subnet, such as 0.0.0.0/0; its host bits are
	// zero. Required.
	Dest netip.Prefix
	// Gateway is the next hop, in Dest's address family; the zero Addr
	// (the default) means Dest is on the link.
	Gateway netip.Addr
}

// The values of TCP.CongestionControl.
const (
	Reno  = "reno"
	Cubic = "cubic"
)

// TCP is a stack's [stack.tcp] table. Each zero or nil field means the
// stack library's default (gVisor netstack's unless the stack package says
// otherwise).
type TCP struct {
	// CongestionControl is Reno or Cubic; empty means the default.
	CongestionControl string

	// SACK turns selective acknowledgements (RFC 2018) on or off.
	SACK *bool

	// RACK turns RACK-TLP loss detection (RFC 8985) on or off (off by
	// default: see stack.TCPOptions.RACK).
	RACK *bool

	// SendBuffer and ReceiveBuffer bound the socket buffers, as Linux's
	// tcp_wmem and tcp_rmem do.
	SendBuffer, ReceiveBuffer BufferSizes

	// MinRTO and MaxRTO bound the retransmission timeout.
	MinRTO, MaxRTO time.Duration

	// TimeWait is how long a closed connection stays in TIME-WAIT.
	TimeWait time.Duration

	// KeepaliveIdle is the idle time before the first keepalive probe,
	// KeepaliveInterval the time between probes, and KeepaliveCount the
	// number of unanswered probes (1 to 127) after which the connection is
	// dropped. They apply to sockets with {keepalive, true}.
	KeepaliveIdle, KeepaliveInterval time.Duration
	KeepaliveCount                   int

	// ModerateReceiveBuffer turns receive buffer auto-tuning on or off.
	ModerateReceiveBuffer *bool
}

// BufferSizes bounds a socket buffer, in bytes. Zero in a field means the
// default for that field; set fields must be positive and in order
// Min <= Default <= Max.
type BufferSizes struct {
	// Min is the least a buffer may shrink to.
	Min int
	// Default is the size a new socket starts with.
	Default int
	// Max is the most a buffer may grow to, by auto-tuning or by a
	// socket's sndbuf/recbuf option.
	Max int
}

// Sockets is the [sockets] table: options every gen_tcp socket starts from,
// as OTP's kernel parameters inet_default_connect_options and
// inet_default_listen_options do. Each is the text of an Erlang list of
// options, such as "[binary, {packet, 4}]"; empty (the default) means [].
// The options a call gives are applied after these, so they win.
type Sockets struct {
	// ConnectOptions apply to gen_tcp:connect.
	ConnectOptions string
	// ListenOptions apply to gen_tcp:listen.
	ListenOptions string
}
