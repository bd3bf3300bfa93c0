package gentcp

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Option is one gen_tcp option, as an Erlang user writes it in a list:
// binary, {packet,4}, {active,once}. Build options with the constructors
// below (Binary, Packet(4), ActiveOnce) or parse them from Erlang syntax
// with ParseOptions; Getopts returns them in the same form.
//
// All option handling lives in this file, after OTP's inet.erl: an
// allow-list per operation, the defaults first, the caller's options folded
// left to right into one resolved set (later entries win) at creation, and
// first-wins atomic application in Setopts.
type Option struct {
	// Name is the option's Erlang name: "packet", "active", "mode", ...
	// The bare atoms binary and list are {mode,binary} and {mode,list};
	// inet and inet6 are {family,inet} and {family,inet6}.
	Name string
	// Value is the option's value: bool, int, an atom as string
	// ("once", "line", "raw", "infinity", "binary", "port", ...),
	// netip.Addr for ip, Linger for linger, Endpoint for fd.
	Value any
}

// Linger is the value of the linger option: {linger,{Enabled,Seconds}}.
type Linger struct {
	Enabled bool // linger on close
	Seconds int  // for at most this long; 0 resets the connection
}

// Endpoint is the value of the fd option: a netstack TCP endpoint made
// elsewhere (for example by netstack's TCP forwarder) and its waiter
// queue, adopted by Connect (an already connected endpoint) or Listen (an
// already listening one).
type Endpoint struct {
	EP tcpip.Endpoint // the TCP endpoint, connected or listening
	WQ *waiter.Queue  // the queue the endpoint was made with
}

// The options without arguments.
var (
	Binary = Option{"mode", "binary"}
	List   = Option{"mode", "list"}
	Inet   = Option{"family", "inet"}
	Inet6  = Option{"family", "inet6"}
	// ActiveOnce is {active,once}.
	ActiveOnce = Option{"active", "once"}
	// PacketRaw is {packet,raw}, the same as {packet,0}.
	PacketRaw = Option{"packet", 0}
	// PacketLine is {packet,line}.
	PacketLine = Option{"packet", "line"}
	// PacketASN1, PacketCDR, PacketSunRM, PacketFCGI and PacketTPKT are
	// {packet,asn1|cdr|sunrm|fcgi|tpkt}: packets framed by their
	// protocol's own header, delivered with the header.
	PacketASN1  = Option{"packet", "asn1"}
	PacketCDR   = Option{"packet", "cdr"}
	PacketSunRM = Option{"packet", "sunrm"}
	PacketFCGI  = Option{"packet", "fcgi"}
	PacketTPKT  = Option{"packet", "tpkt"}
	// PacketHTTP and PacketHTTPBin are {packet,http} and {packet,http_bin}:
	// HTTP request or status lines, then header lines until the empty
	// line, each delivered as an HTTPPacket (RecvHTTP, or the HTTP
	// message) with its strings as lists (http) or binaries (http_bin).
	// PacketHTTPH and PacketHTTPHBin ({packet,httph}, {packet,httph_bin})
	// read header lines only.
	PacketHTTP     = Option{"packet", "http"}
	PacketHTTPH    = Option{"packet", "httph"}
	PacketHTTPBin  = Option{"packet", "http_bin"}
	PacketHTTPHBin = Option{"packet", "httph_bin"}
	// DeliverPort and DeliverTerm choose the data message shape.
	DeliverPort = Option{"deliver", "port"}
	DeliverTerm = Option{"deliver", "term"}
)

// Infinity is the timeout that never expires, OTP's infinity.
const Infinity time.Duration = math.MaxInt64

// Constructors for options with a value follow, each named after its
// option.

// Mode is {mode,binary} for true and {mode,list} for false.
func Mode(binary bool) Option {
	if binary {
		return Binary
	}
	return List
}

// Active is {active,true} or {active,false}: with true the socket sends
// its data to the owner's mailbox as TCP messages; with false the owner
// reads with Recv.
func Active(on bool) Option { return Option{"active", on} }

// ActiveN is {active,N}: N data messages, then a TCPPassive message and
// {active,false}. N is -32768..32767; at creation N <= 0 is false, and
// setopts adds N to the count left, as OTP does.
func ActiveN(n int) Option { return Option{"active", n} }

// Packet is {packet,N}: 0 for raw bytes, or 1, 2 or 4 for packets each
// behind a big-endian length header of that many bytes, added on send
// and removed on receive.
func Packet(n int) Option { return Option{"packet", n} }

// PacketSize is {packet_size,N}: the largest packet body accepted; a
// longer one is emsgsize. 0 means no limit of the caller's (gentcp still
// stops at 64 MiB).
func PacketSize(n int) Option { return Option{"packet_size", n} }

// Header is {header,N}: in binary mode the first N bytes of each packet
// are delivered as list elements (Data.Header).
func Header(n int) Option { return Option{"header", n} }

// LineDelimiter is {line_delimiter,C}: the byte that ends a packet with
// {packet,line}; '\n' by default.
func LineDelimiter(c byte) Option { return Option{"line_delimiter", int(c)} }

// Backlog is {backlog,N}: how many connections a listening socket
// queues for Accept (5 by default; as on Linux, N+1 complete).
func Backlog(n int) Option { return Option{"backlog", n} }

// IP is {ip,Addr}: the local address a socket binds to.
func IP(a netip.Addr) Option { return Option{"ip", a} }

// Port is {port,P}: the local port a socket binds to; 0 picks a free
// one.
func Port(p int) Option { return Option{"port", p} }

// FD is {fd,Fd}: adopt a netstack endpoint made elsewhere and its waiter
// queue (see Endpoint).
func FD(ep tcpip.Endpoint, wq *waiter.Queue) Option { return Option{"fd", Endpoint{ep, wq}} }

// ExitOnClose is {exit_on_close,B}: true (the default) closes the socket
// when the peer closes; false keeps it open, so that the owner can still
// send after the peer's FIN.
func ExitOnClose(on bool) Option { return Option{"exit_on_close", on} }

// ShowEconnreset is {show_econnreset,B}: a reset from the peer is
// reported as econnreset rather than closed.
func ShowEconnreset(on bool) Option { return Option{"show_econnreset", on} }

// Buffer is {buffer,N}: the size of the receive buffer of the socket's
// driver (1460 by default): in raw mode a message or a Recv(0) carries
// at most N bytes, and {packet,line} splits longer lines.
func Buffer(n int) Option { return Option{"buffer", n} }

// Recbuf is {recbuf,N}: netstack's receive buffer size in bytes (at
// least 2304, Linux's minimum, which getopts reports; netstack itself
// gets at least 4096, as smaller buffers can stall it); it raises buffer
// to N unless buffer was set.
func Recbuf(n int) Option { return Option{"recbuf", n} }

// Sndbuf is {sndbuf,N}: netstack's send buffer size in bytes (at least
// 4608, Linux's minimum).
func Sndbuf(n int) Option { return Option{"sndbuf", n} }

// Nodelay is {nodelay,B}: true turns Nagle's algorithm off, so small
// sends go out at once.
func Nodelay(on bool) Option { return Option{"nodelay", on} }

// Keepalive is {keepalive,B}: TCP keepalive probes on an idle
// connection, with the stack's keepalive timers.
func Keepalive(on bool) Option { return Option{"keepalive", on} }

// Reuseaddr is {reuseaddr,B}: SO_REUSEADDR, binding to a local address
// still held by a connection in TIME_WAIT.
func Reuseaddr(on bool) Option { return Option{"reuseaddr", on} }

// LingerOpt is {linger,{On,S}}: with on, close waits up to S seconds for
// queued output to be sent, and S = 0 resets the connection at once,
// dropping it.
func LingerOpt(on bool, s int) Option { return Option{"linger", Linger{on, s}} }

// SendTimeoutClose is {send_timeout_close,B}: a send that times out
// closes the socket.
func SendTimeoutClose(on bool) Option { return Option{"send_timeout_close", on} }

// HighWatermark is {high_watermark,N}: the bytes queued for sending at
// which the socket is busy and sends wait (8192 by default).
func HighWatermark(n int) Option { return Option{"high_watermark", n} }

// LowWatermark is {low_watermark,N}: the bytes queued for sending below
// which a busy socket lets sends go on (4096 by default).
func LowWatermark(n int) Option { return Option{"low_watermark", n} }

// HighMsgqWatermark is {high_msgq_watermark,N}, stored and reported by
// getopts; gentcp has no port message queue for it to bound.
func HighMsgqWatermark(n int) Option { return Option{"high_msgq_watermark", n} }

// LowMsgqWatermark is {low_msgq_watermark,N}, stored and reported by
// getopts; gentcp has no port message queue for it to bound.
func LowMsgqWatermark(n int) Option { return Option{"low_msgq_watermark", n} }

// DelaySend is {delay_send,B}, stored and reported by getopts; gentcp
// hands every send to netstack at once either way.
func DelaySend(on bool) Option { return Option{"delay_send", on} }

// Priority is {priority,N}, stored and reported by getopts; it has no
// effect, netstack having no queueing by priority.
func Priority(n int) Option { return Option{"priority", n} }

// Tos is {tos,N}: the IPv4 type-of-service byte of the packets sent.
func Tos(n int) Option { return Option{"tos", n} }

// SendTimeout is {send_timeout,T}; Infinity (or any negative duration
// given by a Go caller) means infinity. OTP counts in milliseconds.
func SendTimeout(d time.Duration) Option {
	if d == Infinity {
		return Option{"send_timeout", "infinity"}
	}
	return Option{"send_timeout", int(d / time.Millisecond)}
}

// String returns the option in Erlang syntax, as getopts would print it.
func (o Option) String() string {
	switch o.Name {
	case "mode", "family":
		if s, ok := o.Value.(string); ok {
			return s
		}
	}
	return "{" + o.Name + "," + formatValue(o.Value) + "}"
}

func formatValue(v any) string {
	switch v := v.(type) {
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	case string:
		return v
	case netip.Addr:
		if !v.IsValid() {
			// The zero Addr has no bytes to print (IP rejects it as
			// badarg, and the error quotes it).
			return "invalid_ip"
		}
		b := v.AsSlice()
		s := "{"
		if v.Is4() {
			for i, x := range b {
				if i > 0 {
					s += ","
				}
				s += strconv.Itoa(int(x))
			}
		} else {
			for i := 0; i < 16; i += 2 {
				if i > 0 {
					s += ","
				}
				s += strconv.Itoa(int(b[i])<<8 | int(b[i+1]))
			}
		}
		return s + "}"
	case Linger:
		return "{" + strconv.FormatBool(v.Enabled) + "," + strconv.Itoa(v.Seconds) + "}"
	case Endpoint:
		return "#Endpoint<>"
	}
	return fmt.Sprint(v)
}

// packetType is the {packet,_} setting.
type packetType int

const (
	packetRaw  packetType = 0
	packet1    packetType = 1
	packet2    packetType = 2
	packet4    packetType = 4
	packetLine packetType = -1
	// The types framed by a protocol header (packet_headers.go) are
	// named by their atom.
	packetASN1  packetType = -2
	packetCDR   packetType = -3
	packetSunRM packetType = -4
	packetFCGI  packetType = -5
	packetTPKT  packetType = -6
	// The HTTP types (packet_http.go).
	packetHTTP     packetType = -7
	packetHTTPH    packetType = -8
	packetHTTPBin  packetType = -9
	packetHTTPHBin packetType = -10
)

// packetAtoms names the packet types given as atoms, as inet:setopts
// takes them and getopts returns them.
var packetAtoms = map[packetType]string{
	packetLine: "line", packetASN1: "asn1", packetCDR: "cdr", packetSunRM: "sunrm",
	packetFCGI: "fcgi", packetTPKT: "tpkt", packetHTTP: "http", packetHTTPH: "httph",
	packetHTTPBin: "http_bin", packetHTTPHBin: "httph_bin",
}

// packetOf is the packet type an option value names: 0, raw, 1, 2, 4 or
// one of packetAtoms.
func packetOf(v any) (packetType, bool) {
	switch v {
	case 0, "raw":
		return packetRaw, true
	case 1:
		return packet1, true
	case 2:
		return packet2, true
	case 4:
		return packet4, true
	}
	if a, ok := v.(string); ok {
		for t, name := range packetAtoms {
			if name == a {
				return t, true
			}
		}
	}
	return 0, false
}

// activeKind is the {active,_} setting.
type activeKind int

const (
	activeFalse activeKind = iota
	activeTrue
	activeOnce
	activeN
)

// minSndbuf and minRecbuf are the smallest socket buffers gentcp gives
// netstack, Linux's SOCK_MIN_SNDBUF and SOCK_MIN_RCVBUF (what getopts
// reports on Linux after {sndbuf,1} and {recbuf,1}). Smaller ones wedge
// netstack's TCP: a send buffer too small for a segment, a window that
// rounds to nothing.
const (
	minSndbuf = 4608
	minRecbuf = 2304
)

// netstackMinRecbuf is the smallest receive buffer netstack itself gets
// (getopts still reports what was set, at least minRecbuf). Netstack
// charges a held segment its payload plus tcp.SegOverheadSize (636 bytes)
// against the buffer, holds out-of-order segments while their payload
// fits in three quarters of it, and drops every segment with data while
// the charge is above the buffer; it never prunes what it holds. Below
// four times the overhead one held out-of-order segment of more than
// about 1500 bytes is charged more than the whole buffer, so the
// retransmission that would fill the hole is dropped too, for ever (a
// 2304-byte buffer set after connect, with 4 KiB segments, stalled).
// Linux prunes its out-of-order queue instead. 4096 is netstack's own
// MinBufferSize.
const netstackMinRecbuf = tcp.MinBufferSize

// sockOpts is the resolved option set of one socket. Its zero value is not
// meaningful; start from defaultOpts.
type sockOpts struct {
	binary      bool
	active      activeKind
	activeCount int // remaining count for activeN
	packet      packetType
	packetSize  int
	// httpHeaders is the HTTP parse state of OTP's driver: true after a
	// request or status line until http_eoh, while the http types read
	// header lines (packet_http.go). It is state, not an option; it lives
	// beside packet because setopts keeps it, as the driver does, so
	// {packet,raw} and back to {packet,http} between header lines still
	// reads headers.
	httpHeaders      bool
	header           int
	lineDelimiter    byte
	backlog          int
	ip               netip.Addr
	port             int
	fd               *Endpoint
	family           string // "", "inet", "inet6"
	exitOnClose      bool
	showEconnreset   bool
	buffer           int
	bufferSet        bool // buffer was given explicitly, so recbuf does not raise it
	recbuf, sndbuf   int  // 0: not set, netstack's value is reported; else at least minRecbuf, minSndbuf
	nodelay          bool
	keepalive        bool
	reuseaddr        bool
	linger           Linger
	sendTimeout      time.Duration // Infinity when none
	sendTimeoutClose bool
	highWatermark    int
	lowWatermark     int
	highMsgqWM       int
	lowMsgqWM        int
	delaySend        bool
	deliverPort      bool
	priority, tos    int
}

// defaultOpts are OTP 25's defaults (reference §2).
func defaultOpts() sockOpts {
	return sockOpts{
		active:        activeTrue,
		lineDelimiter: '\n',
		backlog:       5,
		exitOnClose:   true,
		buffer:        1460,
		sendTimeout:   Infinity,
		highWatermark: 8192,
		lowWatermark:  4096,
		highMsgqWM:    8192,
		lowMsgqWM:     4096,
	}
}

// operation says which call an option list is for; each has its own
// allow-list, as inet.erl's connect_options/listen_options/setopts do.
type operation int

const (
	opConnect operation = iota
	opListen
	opSetopts
)

// socketOptionNames are accepted by connect, listen and setopts alike.
var socketOptionNames = []string{
	"mode", "active", "packet", "packet_size", "header", "exit_on_close",
	"show_econnreset", "buffer", "recbuf", "sndbuf", "nodelay", "keepalive",
	"reuseaddr", "linger", "send_timeout", "send_timeout_close",
	"high_watermark", "low_watermark", "high_msgq_watermark",
	"low_msgq_watermark", "delay_send", "deliver", "priority", "tos",
}

func allowed(op operation, name string) bool {
	if slices.Contains(socketOptionNames, name) {
		return true
	}
	switch name {
	case "ip", "port", "fd", "family":
		return op != opSetopts
	case "backlog":
		return op == opListen
	case "line_delimiter":
		// Rejected by listen, accepted by connect and setopts (§3
		// line_delimiter_option_quirks).
		return op != opListen
	}
	return false
}

// bad builds the error for a bad option: badarg at creation, einval from
// setopts, as OTP does.
func bad(op operation, o Option, msg string) error {
	r := BadArg
	if op == opSetopts {
		r = Einval
	}
	return &OptionError{Option: o.String(), Msg: msg, Reason: r}
}

// check validates one option for op without applying it.
func check(op operation, o Option) error {
	if !allowed(op, o.Name) {
		return bad(op, o, "not allowed here")
	}
	var scratch sockOpts = defaultOpts()
	return scratch.set(op, o)
}

func asBool(v any) (bool, bool) {
	b, ok := v.(bool)
	return b, ok
}

func asInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	}
	return 0, false
}

// set applies one option to o. It is the single place that knows each
// option's type and range.
func (o *sockOpts) set(op operation, opt Option) error {
	v := opt.Value
	boolOpt := func(dst *bool) error {
		b, ok := asBool(v)
		if !ok {
			return bad(op, opt, "want true or false")
		}
		*dst = b
		return nil
	}
	intOpt := func(dst *int, min int) error {
		n, ok := asInt(v)
		if !ok || n < min {
			return bad(op, opt, fmt.Sprintf("want an integer >= %d", min))
		}
		*dst = n
		return nil
	}
	switch opt.Name {
	case "mode":
		switch v {
		case "binary":
			o.binary = true
		case "list":
			o.binary = false
		default:
			return bad(op, opt, "want binary or list")
		}
	case "active":
		// The counter arithmetic of {active,N} needs the socket; here only
		// the value is checked and stored for creation.
		switch v {
		case true:
			o.active, o.activeCount = activeTrue, 0
		case false:
			o.active, o.activeCount = activeFalse, 0
		case "once":
			o.active, o.activeCount = activeOnce, 0
		default:
			// At creation a later {active,N} replaces an earlier one, as
			// any option does (OTP 25: [{active,2},{active,3}] gives 3);
			// only setopts adds N to the count (sockopts.go).
			n, ok := asInt(v)
			if !ok || n < -32768 || n > 32767 {
				return bad(op, opt, "want true, false, once or -32768..32767")
			}
			if n <= 0 {
				o.active, o.activeCount = activeFalse, 0
			} else {
				o.active, o.activeCount = activeN, n
			}
		}
	case "packet":
		t, ok := packetOf(v)
		if !ok {
			return bad(op, opt, "want 0, raw, 1, 2, 4, line, asn1, cdr, sunrm, fcgi, tpkt, http, httph, http_bin or httph_bin")
		}
		o.packet = t
	case "packet_size":
		return intOpt(&o.packetSize, 0)
	case "header":
		return intOpt(&o.header, 0)
	case "line_delimiter":
		n, ok := asInt(v)
		if !ok || n < 0 || n > 256 {
			return bad(op, opt, "want a character")
		}
		// OTP accepts 256 and keeps the low byte.
		o.lineDelimiter = byte(n)
	case "backlog":
		n, ok := asInt(v)
		if !ok {
			return bad(op, opt, "want an integer")
		}
		o.backlog = n
	case "ip":
		a, ok := v.(netip.Addr)
		if !ok || !a.IsValid() {
			return bad(op, opt, "want an IP address")
		}
		o.ip = a.Unmap()
	case "port":
		n, ok := asInt(v)
		if !ok || n < 0 || n > 65535 {
			return bad(op, opt, "want 0..65535")
		}
		o.port = n
	case "fd":
		e, ok := v.(Endpoint)
		if !ok || e.EP == nil || e.WQ == nil {
			return bad(op, opt, "want a netstack endpoint and its waiter queue")
		}
		o.fd = &e
	case "family":
		if v != "inet" && v != "inet6" {
			return bad(op, opt, "want inet or inet6")
		}
		o.family = v.(string)
	case "exit_on_close":
		return boolOpt(&o.exitOnClose)
	case "show_econnreset":
		return boolOpt(&o.showEconnreset)
	case "buffer":
		n, ok := asInt(v)
		if !ok {
			return bad(op, opt, "want an integer")
		}
		// OTP accepts {buffer,-1} and makes it 1 (§3).
		o.buffer, o.bufferSet = max(n, 1), true
	case "recbuf":
		if err := intOpt(&o.recbuf, 1); err != nil {
			return err
		}
		// Setting recbuf raises buffer to it unless buffer was set
		// explicitly (§3 recbuf_sets_buffer); OTP compares the
		// requested size, before the kernel's clamp.
		if !o.bufferSet && o.recbuf > o.buffer {
			o.buffer = o.recbuf
		}
		o.recbuf = max(o.recbuf, minRecbuf)
	case "sndbuf":
		if err := intOpt(&o.sndbuf, 1); err != nil {
			return err
		}
		o.sndbuf = max(o.sndbuf, minSndbuf)
	case "nodelay":
		return boolOpt(&o.nodelay)
	case "keepalive":
		return boolOpt(&o.keepalive)
	case "reuseaddr":
		return boolOpt(&o.reuseaddr)
	case "delay_send":
		return boolOpt(&o.delaySend)
	case "send_timeout_close":
		return boolOpt(&o.sendTimeoutClose)
	case "linger":
		l, ok := v.(Linger)
		if !ok {
			return bad(op, opt, "want {Bool,Seconds}")
		}
		o.linger = l
	case "send_timeout":
		if v == "infinity" {
			o.sendTimeout = Infinity
			return nil
		}
		n, ok := asInt(v)
		if !ok || n < 0 {
			return bad(op, opt, "want milliseconds or infinity")
		}
		o.sendTimeout = time.Duration(n) * time.Millisecond
	case "high_watermark":
		if err := intOpt(&o.highWatermark, 0); err != nil {
			return err
		}
		// §3 watermark_setopts_adjust: high below low lowers low.
		o.lowWatermark = min(o.lowWatermark, o.highWatermark)
	case "low_watermark":
		if err := intOpt(&o.lowWatermark, 0); err != nil {
			return err
		}
		o.highWatermark = max(o.highWatermark, o.lowWatermark)
	case "high_msgq_watermark":
		if err := intOpt(&o.highMsgqWM, 1); err != nil {
			return err
		}
		o.lowMsgqWM = min(o.lowMsgqWM, o.highMsgqWM)
	case "low_msgq_watermark":
		if err := intOpt(&o.lowMsgqWM, 1); err != nil {
			return err
		}
		o.highMsgqWM = max(o.highMsgqWM, o.lowMsgqWM)
	case "deliver":
		switch v {
		case "port":
			o.deliverPort = true
		case "term":
			o.deliverPort = false
		default:
			return bad(op, opt, "want port or term")
		}
	case "priority":
		return intOpt(&o.priority, 0)
	case "tos":
		return intOpt(&o.tos, 0)
	default:
		return bad(op, opt, "unknown option")
	}
	return nil
}

// resolve folds the defaults from the node's environment and then the
// caller's options, left to right, into one option set: later entries win,
// as in inet.erl's connect_options/listen_options. Any active in the
// environment defaults is ignored (OTP keeps active true there), and a
// backlog in the listen defaults makes every listen fail with einval.
func resolve(op operation, env, user []Option) (sockOpts, error) {
	o := defaultOpts()
	for _, opt := range env {
		if opt.Name == "active" {
			continue
		}
		if op == opListen && opt.Name == "backlog" {
			return o, Einval
		}
		if !allowed(op, opt.Name) {
			return o, bad(op, opt, "not allowed here")
		}
		if err := o.set(op, opt); err != nil {
			return o, err
		}
	}
	for _, opt := range user {
		if !allowed(op, opt.Name) {
			return o, bad(op, opt, "not allowed here")
		}
		if err := o.set(op, opt); err != nil {
			return o, err
		}
	}
	return o, nil
}

// gettable reports whether getopts knows name; backlog and line_delimiter
// are settable but never gettable in OTP (§3).
func gettable(name string) bool {
	return slices.Contains(socketOptionNames, name)
}

// get returns one option's current value as getopts shows it.
func (o *sockOpts) get(name string) Option {
	switch name {
	case "mode":
		if o.binary {
			return Option{"mode", "binary"}
		}
		return Option{"mode", "list"}
	case "active":
		switch o.active {
		case activeTrue:
			return Option{"active", true}
		case activeOnce:
			return Option{"active", "once"}
		case activeN:
			return Option{"active", o.activeCount}
		}
		return Option{"active", false}
	case "packet":
		if a, ok := packetAtoms[o.packet]; ok {
			return Option{"packet", a}
		}
		return Option{"packet", int(o.packet)}
	case "packet_size":
		return Option{name, o.packetSize}
	case "header":
		return Option{name, o.header}
	case "exit_on_close":
		return Option{name, o.exitOnClose}
	case "show_econnreset":
		return Option{name, o.showEconnreset}
	case "buffer":
		return Option{name, o.buffer}
	case "recbuf":
		return Option{name, o.recbuf}
	case "sndbuf":
		return Option{name, o.sndbuf}
	case "nodelay":
		return Option{name, o.nodelay}
	case "keepalive":
		return Option{name, o.keepalive}
	case "reuseaddr":
		return Option{name, o.reuseaddr}
	case "linger":
		return Option{name, o.linger}
	case "send_timeout":
		if o.sendTimeout == Infinity {
			return Option{name, "infinity"}
		}
		return Option{name, int(o.sendTimeout / time.Millisecond)}
	case "send_timeout_close":
		return Option{name, o.sendTimeoutClose}
	case "high_watermark":
		return Option{name, o.highWatermark}
	case "low_watermark":
		return Option{name, o.lowWatermark}
	case "high_msgq_watermark":
		return Option{name, o.highMsgqWM}
	case "low_msgq_watermark":
		return Option{name, o.lowMsgqWM}
	case "delay_send":
		return Option{name, o.delaySend}
	case "deliver":
		if o.deliverPort {
			return Option{name, "port"}
		}
		return Option{name, "term"}
	case "priority":
		return Option{name, o.priority}
	case "tos":
		return Option{name, o.tos}
	}
	return Option{name, nil}
}
