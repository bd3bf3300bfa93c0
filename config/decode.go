package config

import (
	"bytes"
	_ "embed"
	"fmt"
	"math"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// Option changes how Decode and Load work.
type Option func(*options)

type options struct {
	optionCheck func(term string) error
}

// WithOptionCheck makes Decode check Sockets.ConnectOptions and
// Sockets.ListenOptions with check, which gets the text of the Erlang term
// as the file has it and returns an error when it is not a valid option
// list. cmd/usertcp passes gentcp's option parser. An error from check is
// reported as an *Error at the key, wrapping it. Empty option strings are
// not checked.
func WithOptionCheck(check func(term string) error) Option {
	return func(o *options) { o.optionCheck = check }
}

// Load reads and decodes the file at path; see Decode. Errors in the file
// name it by path as given.
func Load(path string, opts ...Option) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Decode(path, data, opts...)
}

// Decode decodes the TOML text data, and checks every value. name names
// the text in errors, usually its file name. A bad file gives a *Error, or
// several joined in document order; errors.As finds the first.
func Decode(name string, data []byte, opts ...Option) (*Config, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	d := &decoding{name: name, data: data, opts: o, pos: index(data)}

	var f fileConfig
	if err := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields().Decode(&f); err != nil {
		return nil, d.tomlError(err)
	}
	c := d.config(&f)
	if err := d.join(d.errs); err != nil {
		return nil, err
	}
	return c, nil
}

//go:embed default.toml
var defaultTOML []byte

// Default returns the built-in setup, used when no file is given: a
// memlink with MTU 1500 and two stacks, "server" (10.0.0.1/24,
// fd00:75::1/64) on end a and "client" (10.0.0.2/24, fd00:75::2/64) on end
// b, each knowing the other by name. Each call returns a new Config.
func Default() *Config {
	c, err := Decode("default.toml", defaultTOML)
	if err != nil {
		// default.toml is part of the package; its tests decode it.
		panic("config: the embedded default.toml does not decode: " + err.Error())
	}
	return c
}

// The file's shape. Every scalar is a pointer, so that an absent key can be
// told from a zero value; values are checked and converted by decoding.
type (
	fileConfig struct {
		Link    fileLink    `toml:"link"`
		Stacks  []fileStack `toml:"stack"`
		Sockets fileSockets `toml:"sockets"`
	}
	fileLink struct {
		Kind            *string  `toml:"kind"`
		MTU             *int64   `toml:"mtu"`
		Seed            *int64   `toml:"seed"`
		ChecksumOffload *bool    `toml:"checksum_offload"`
		Offload         *bool    `toml:"offload"`
		Loss            *float64 `toml:"loss"`
		Duplicate       *float64 `toml:"duplicate"`
		Corrupt         *float64 `toml:"corrupt"`
		Reorder         *float64 `toml:"reorder"`
		Latency         *string  `toml:"latency"`
		Jitter          *string  `toml:"jitter"`
		JitterReorders  *bool    `toml:"jitter_reorders"`
		Rate            any      `toml:"rate"`
		Ethernet        *bool    `toml:"ethernet"`
		Name            *string  `toml:"name"`
		KernelAddresses []string `toml:"kernel_addresses"`
	}
	fileStack struct {
		Name       *string             `toml:"name"`
		End        *string             `toml:"end"`
		Addresses  []string            `toml:"addresses"`
		Routes     []fileRoute         `toml:"routes"`
		Hosts      map[string][]string `toml:"hosts"`
		Forwarding *bool               `toml:"forwarding"`
		TCP        fileTCP             `toml:"tcp"`
	}
	fileRoute struct {
		Dest    *string `toml:"dest"`
		Gateway *string `toml:"gateway"`
	}
	fileTCP struct {
		CongestionControl     *string    `toml:"congestion_control"`
		SACK                  *bool      `toml:"sack"`
		RACK                  *bool      `toml:"rack"`
		SendBuffer            fileBuffer `toml:"send_buffer"`
		ReceiveBuffer         fileBuffer `toml:"receive_buffer"`
		MinRTO                *string    `toml:"min_rto"`
		MaxRTO                *string    `toml:"max_rto"`
		TimeWait              *string    `toml:"time_wait"`
		KeepaliveIdle         *string    `toml:"keepalive_idle"`
		KeepaliveInterval     *string    `toml:"keepalive_interval"`
		KeepaliveCount        *int64     `toml:"keepalive_count"`
		ModerateReceiveBuffer *bool      `toml:"moderate_receive_buffer"`
	}
	fileBuffer struct {
		Min     *int64 `toml:"min"`
		Default *int64 `toml:"default"`
		Max     *int64 `toml:"max"`
	}
	fileSockets struct {
		ConnectOptions *string `toml:"connect_options"`
		ListenOptions  *string `toml:"listen_options"`
	}
)

// decoding holds the state of one Decode.
type decoding struct {
	name string
	data []byte
	opts options
	pos  *positions
	errs []*Error
}

// config checks f and converts it, recording each problem in d.errs.
func (d *decoding) config(f *fileConfig) *Config {
	c := &Config{Link: d.link(&f.Link)}
	if len(f.Stacks) == 0 {
		d.errorf("stack", "no [[stack]] table; a setup needs at least one stack")
	}
	names := map[string]string{} // stack name → path of the stack
	ends := map[End]string{}     // end → name of the stack on it
	addrs := map[netip.Addr]string{}
	for i := range f.Stacks {
		path := "stack[" + strconv.Itoa(i) + "]"
		s := d.stack(path, &f.Stacks[i], c.Link.Kind)
		if s.Name != "" {
			if other, dup := names[s.Name]; dup {
				d.errorf(path+".name", "%q is also the name of %s", s.Name, other)
			}
			names[s.Name] = path
		}
		if s.End != "" {
			if other, dup := ends[s.End]; dup {
				d.errorf(path+".end", "end %q already has stack %q; each end takes one stack", s.End, other)
			}
			ends[s.End] = s.Name
		}
		for j, p := range s.Addresses {
			if other, dup := addrs[p.Addr()]; dup && other != s.Name {
				d.errorf(fmt.Sprintf("%s.addresses[%d]", path, j), "%s is also an address of stack %q", p.Addr(), other)
			}
			addrs[p.Addr()] = s.Name
		}
		c.Stacks = append(c.Stacks, s)
	}
	if f.Link.MTU != nil && *f.Link.MTU == 0 {
		d.errorf("link.mtu", "0 is not an MTU: leave the key out for the link's default")
	} else if err := CheckMTU(c.Link.MTU, c.Link.Kind, c.Stacks); err != nil {
		d.errorf("link.mtu", "%v", err)
		c.Link.MTU = 0
	}
	c.Sockets = d.sockets(&f.Sockets)
	return c
}

func (d *decoding) link(f *fileLink) Link {
	l := Link{Kind: Memlink}
	if f.Kind != nil {
		switch k := LinkKind(*f.Kind); k {
		case Memlink, Tap:
			l.Kind = k
		default:
			d.errorf("link.kind", "unknown link kind %q; want %q or %q", *f.Kind, Memlink, Tap)
		}
	}
	if f.MTU != nil {
		// Checked with the stacks, by CheckMTU; clamped into int32 so
		// that the number fits an int everywhere and stays out of range.
		l.MTU = int(max(-1, min(*f.MTU, MaxMTU+1)))
	}
	if f.Seed != nil {
		l.Seed = *f.Seed
	}
	l.ChecksumOffload = f.ChecksumOffload
	l.Offload = f.Offload
	l.Ethernet = f.Ethernet
	l.Loss = d.probability("link.loss", f.Loss)
	l.Duplicate = d.probability("link.duplicate", f.Duplicate)
	l.Corrupt = d.probability("link.corrupt", f.Corrupt)
	l.Reorder = d.probability("link.reorder", f.Reorder)
	l.Latency = d.duration("link.latency", f.Latency, false)
	l.Jitter = d.duration("link.jitter", f.Jitter, false)
	if f.JitterReorders != nil {
		l.JitterReorders = *f.JitterReorders
	}
	switch r := f.Rate.(type) {
	case nil:
	case int64:
		if r < 0 {
			d.errorf("link.rate", "%d is negative", r)
		} else {
			l.Rate = uint64(r)
		}
	case string:
		rate, err := ParseRate(r)
		if err != nil {
			d.errorf("link.rate", "%v", err)
		}
		l.Rate = rate
	default:
		d.errorf("link.rate", "want bytes per second as an integer, or a string such as \"100Mbit\"")
	}
	if f.Name != nil {
		if l.Kind != Tap {
			d.errorf("link.name", "name is only for kind = %q", Tap)
		} else if err := checkIfName(*f.Name); err != nil {
			d.errorf("link.name", "%v", err)
		} else {
			l.Name = *f.Name
		}
	}
	if f.KernelAddresses != nil && l.Kind != Tap {
		d.errorf("link.kernel_addresses", "kernel_addresses is only for kind = %q", Tap)
	} else {
		for i, s := range f.KernelAddresses {
			if p, ok := d.prefix(fmt.Sprintf("link.kernel_addresses[%d]", i), s); ok {
				l.KernelAddresses = append(l.KernelAddresses, p)
			}
		}
	}
	return l
}

// checkIfName checks a Linux network interface name.
func checkIfName(name string) error {
	const ifNameSize = 16 // IFNAMSIZ, with the terminating NUL
	switch {
	case name == "":
		return fmt.Errorf("empty device name")
	case len(name) >= ifNameSize:
		return fmt.Errorf("device name %q is longer than %d bytes", name, ifNameSize-1)
	case name == "." || name == "..":
		return fmt.Errorf("device name %q is not allowed", name)
	case strings.ContainsAny(name, "/: \t\n\r\x00"):
		return fmt.Errorf("device name %q holds '/', ':' or white space", name)
	}
	return nil
}

// CheckMTU reports whether mtu suits a link of kind kind that carries
// stacks: 0 (the link's default) always does; otherwise it must lie in
// MinMTUMemlink..MaxMTU on a memlink and MinMTU..MaxMTU on a TAP link,
// and be at least MinMTUIPv6 if a stack has an IPv6 address. Decode checks
// link.mtu with it, and the command line its --mtu, so both give the same
// rule and the same message.
func CheckMTU(mtu int, kind LinkKind, stacks []Stack) error {
	if mtu == 0 {
		return nil
	}
	lo := MinMTU
	if kind != Tap {
		lo = MinMTUMemlink
	}
	if mtu < lo || mtu > MaxMTU {
		return fmt.Errorf("%d is outside %d..%d, the range of a %s link", mtu, lo, MaxMTU, kind)
	}
	if mtu >= MinMTUIPv6 {
		return nil
	}
	for _, s := range stacks {
		for _, p := range s.Addresses {
			if p.Addr().Is6() {
				return fmt.Errorf("%d is less than IPv6's minimum of %d, and stack %q has %s", mtu, MinMTUIPv6, s.Name, p)
			}
		}
	}
	return nil
}

func (d *decoding) stack(path string, f *fileStack, kind LinkKind) Stack {
	var s Stack
	if f.Name == nil {
		d.errorf(path, "missing name")
	} else if !validName(*f.Name) {
		d.errorf(path+".name", "%q is not a stack name: use letters, digits, '-' and '_', with '.' between labels", *f.Name)
	} else {
		s.Name = *f.Name
	}

	switch {
	case f.End == nil && kind == Tap:
		d.errorf(path, "missing end; want %q", EndTap)
	case f.End == nil:
		d.errorf(path, "missing end; want %q or %q", EndA, EndB)
	case kind == Tap && End(*f.End) != EndTap:
		d.errorf(path+".end", "end %q is not on a tap link; want %q", *f.End, EndTap)
	case kind == Memlink && End(*f.End) != EndA && End(*f.End) != EndB:
		d.errorf(path+".end", "end %q is not on a memlink; want %q or %q", *f.End, EndA, EndB)
	case kind == Tap || kind == Memlink:
		s.End = End(*f.End)
	}

	seen := map[netip.Addr]bool{}
	for i, a := range f.Addresses {
		ipath := fmt.Sprintf("%s.addresses[%d]", path, i)
		p, ok := d.prefix(ipath, a)
		if !ok {
			continue
		}
		if seen[p.Addr()] {
			d.errorf(ipath, "%s is listed twice", p.Addr())
			continue
		}
		seen[p.Addr()] = true
		s.Addresses = append(s.Addresses, p)
	}

	for i := range f.Routes {
		if r, ok := d.route(fmt.Sprintf("%s.routes[%d]", path, i), &f.Routes[i]); ok {
			s.Routes = append(s.Routes, r)
		}
	}

	s.Hosts = d.hosts(path+".hosts", f.Hosts)
	if f.Forwarding != nil {
		s.Forwarding = *f.Forwarding
	}
	s.TCP = d.tcp(path+".tcp", &f.TCP)
	return s
}

// prefix parses an address with its prefix length, for a NIC.
func (d *decoding) prefix(path, s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		if _, aerr := netip.ParseAddr(s); aerr == nil {
			d.errorf(path, "%q is not an IP prefix: add the prefix length, as in %s/24 or %s/64", s, s, s)
		} else {
			d.errorf(path, "%q is not an IP prefix", s)
		}
		return netip.Prefix{}, false
	}
	a := p.Addr()
	if a.Is4In6() {
		d.errorf(path, "%q is an IPv4-mapped IPv6 address; write the IPv4 address", s)
		return netip.Prefix{}, false
	}
	if a.IsUnspecified() || a.IsMulticast() {
		d.errorf(path, "%q cannot be an interface address", s)
		return netip.Prefix{}, false
	}
	return p, true
}

func (d *decoding) route(path string, f *fileRoute) (Route, bool) {
	var r Route
	ok := true
	if f.Dest == nil {
		d.errorf(path, "missing dest")
		ok = false
	} else if p, err := netip.ParsePrefix(*f.Dest); err != nil {
		d.errorf(path+".dest", "%q is not an IP prefix", *f.Dest)
		ok = false
	} else if p != p.Masked() {
		d.errorf(path+".dest", "%q has bits set after the prefix; did you mean %q?", *f.Dest, p.Masked().String())
		ok = false
	} else {
		r.Dest = p
	}
	if f.Gateway != nil {
		gpath := path + ".gateway"
		a, err := netip.ParseAddr(*f.Gateway)
		switch {
		case err != nil:
			d.errorf(gpath, "%q is not an IP address", *f.Gateway)
			ok = false
		case a.Zone() != "":
			d.errorf(gpath, "%q has a zone; zones are not supported", *f.Gateway)
			ok = false
		case a.IsUnspecified() || a.IsMulticast():
			d.errorf(gpath, "%q cannot be a gateway", *f.Gateway)
			ok = false
		case r.Dest.IsValid() && a.Is4() != r.Dest.Addr().Is4():
			d.errorf(gpath, "gateway %s is not in the address family of dest %s", a, r.Dest)
			ok = false
		default:
			r.Gateway = a
		}
	}
	return r, ok
}

func (d *decoding) hosts(path string, f map[string][]string) map[string][]netip.Addr {
	if f == nil {
		return nil
	}
	names := make([]string, 0, len(f))
	for name := range f {
		names = append(names, name)
	}
	sort.Strings(names)
	hosts := make(map[string][]netip.Addr, len(f))
	for _, name := range names {
		hpath := joinKey(path, name)
		switch {
		case strings.EqualFold(name, "localhost"):
			d.errorf(hpath, "localhost is built in (127.0.0.1 and ::1) and cannot be set")
			continue
		case !validName(name):
			d.errorf(hpath, "%q is not a host name: use letters, digits, '-' and '_', with '.' between labels", name)
			continue
		case len(f[name]) == 0:
			d.errorf(hpath, "host %q has no addresses", name)
			continue
		}
		var addrs []netip.Addr
		for i, s := range f[name] {
			ipath := hpath + "[" + strconv.Itoa(i) + "]"
			a, err := netip.ParseAddr(s)
			switch {
			case err != nil:
				d.errorf(ipath, "%q is not an IP address", s)
			case a.Zone() != "":
				d.errorf(ipath, "%q has a zone; zones are not supported", s)
			case slices.Contains(addrs, a):
				d.errorf(ipath, "%s is listed twice", a)
			default:
				addrs = append(addrs, a)
			}
		}
		hosts[name] = addrs
	}
	return hosts
}

// validName checks a stack or host name: up to 253 bytes of letters,
// digits, '-' and '_', with '.' between labels.
func validName(s string) bool {
	if s == "" || len(s) > 253 || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Linux's limits on keepalive settings (MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL
// and MAX_TCP_KEEPCNT in include/net/tcp.h), which OTP's keepalive options
// inherit.
const (
	maxKeepaliveTime  = 32767 * time.Second
	maxKeepaliveCount = 127
)

func (d *decoding) tcp(path string, f *fileTCP) TCP {
	var t TCP
	if f.CongestionControl != nil {
		switch cc := *f.CongestionControl; cc {
		case Reno, Cubic:
			t.CongestionControl = cc
		default:
			d.errorf(path+".congestion_control", "unknown congestion control %q; want %q or %q", cc, Reno, Cubic)
		}
	}
	t.SACK = f.SACK
	t.RACK = f.RACK
	t.ModerateReceiveBuffer = f.ModerateReceiveBuffer
	t.SendBuffer = d.buffer(path+".send_buffer", &f.SendBuffer)
	t.ReceiveBuffer = d.buffer(path+".receive_buffer", &f.ReceiveBuffer)
	t.MinRTO = d.duration(path+".min_rto", f.MinRTO, true)
	t.MaxRTO = d.duration(path+".max_rto", f.MaxRTO, true)
	if t.MinRTO != 0 && t.MaxRTO != 0 && t.MinRTO > t.MaxRTO {
		d.errorf(path+".max_rto", "max_rto %v is less than min_rto %v", t.MaxRTO, t.MinRTO)
	}
	t.TimeWait = d.duration(path+".time_wait", f.TimeWait, true)
	t.KeepaliveIdle = d.duration(path+".keepalive_idle", f.KeepaliveIdle, true)
	t.KeepaliveInterval = d.duration(path+".keepalive_interval", f.KeepaliveInterval, true)
	for _, k := range []struct {
		key string
		v   time.Duration
	}{{"keepalive_idle", t.KeepaliveIdle}, {"keepalive_interval", t.KeepaliveInterval}} {
		if k.v > maxKeepaliveTime {
			d.errorf(path+"."+k.key, "%v is more than the maximum of %v", k.v, maxKeepaliveTime)
		}
	}
	if f.KeepaliveCount != nil {
		if n := *f.KeepaliveCount; n < 1 || n > maxKeepaliveCount {
			d.errorf(path+".keepalive_count", "%d is outside 1..%d", n, maxKeepaliveCount)
		} else {
			t.KeepaliveCount = int(n)
		}
	}
	return t
}

func (d *decoding) buffer(path string, f *fileBuffer) BufferSizes {
	var b BufferSizes
	get := func(key string, v *int64) int {
		if v == nil {
			return 0
		}
		if *v < 1 || *v > math.MaxInt32 {
			d.errorf(path+"."+key, "%d bytes is outside 1..%d", *v, math.MaxInt32)
			return 0
		}
		return int(*v)
	}
	b.Min = get("min", f.Min)
	b.Default = get("default", f.Default)
	b.Max = get("max", f.Max)
	if b.Min != 0 && b.Default != 0 && b.Min > b.Default {
		d.errorf(path+".default", "default %d is less than min %d", b.Default, b.Min)
	}
	if b.Default != 0 && b.Max != 0 && b.Default > b.Max {
		d.errorf(path+".max", "max %d is less than default %d", b.Max, b.Default)
	} else if b.Min != 0 && b.Max != 0 && b.Min > b.Max {
		d.errorf(path+".max", "max %d is less than min %d", b.Max, b.Min)
	}
	return b
}

// probability checks a probability from 0 to 1.
func (d *decoding) probability(path string, v *float64) float64 {
	if v == nil {
		return 0
	}
	if !(*v >= 0 && *v <= 1) { // also catches NaN
		d.errorf(path, "%v is not a probability from 0 to 1", *v)
		return 0
	}
	return *v
}

// duration parses a Go duration such as "200ms". With positive set it must
// be above zero, since zero means the default and is written by leaving the
// key out; otherwise it must not be negative.
func (d *decoding) duration(path string, s *string, positive bool) time.Duration {
	if s == nil {
		return 0
	}
	v, err := time.ParseDuration(*s)
	switch {
	case err != nil:
		d.errorf(path, "%q is not a duration; write one such as \"200ms\", \"75s\" or \"2h\"", *s)
		return 0
	case v < 0:
		d.errorf(path, "%q is negative", *s)
		return 0
	case v == 0 && positive:
		d.errorf(path, "%q is not above zero; leave the key out for the default", *s)
		return 0
	}
	return v
}

func (d *decoding) sockets(f *fileSockets) Sockets {
	var s Sockets
	check := func(path string, v *string) string {
		if v == nil {
			return ""
		}
		if *v != "" && d.opts.optionCheck != nil {
			if err := d.opts.optionCheck(*v); err != nil {
				d.errs = append(d.errs, &Error{
					File: d.name,
					Line: d.pos.lineOf(path),
					Key:  path,
					Err:  fmt.Errorf("bad options %s: %w", clip(*v), err),
				})
				return ""
			}
		}
		return *v
	}
	s.ConnectOptions = check("sockets.connect_options", f.ConnectOptions)
	s.ListenOptions = check("sockets.listen_options", f.ListenOptions)
	return s
}
