package gentcp

import (
	"net/netip"

	"github.com/usertcp/usertcp/internal/erlterm"
)

// ParseOptions parses an option list written in Erlang term syntax, as an
// Erlang user writes it for gen_tcp or in inet_default_connect_options:
//
//	[binary, {packet, 4}, {active, once}, {ip, {10,0,0,1}}, {send_timeout, 5000}]
//
// A single option without brackets is accepted too, as the kernel
// environment accepts one bare tuple. Values are checked here with the
// same rules as Connect and Listen use, so a bad term and a bad value both
// give an error that matches ErrBadArg. The fd option cannot be written as
// a term.
func ParseOptions(src string) ([]Option, error) {
	t, err := erlterm.Parse(src)
	if err != nil {
		return nil, &OptionError{Option: src, Msg: err.Error(), Reason: BadArg}
	}
	var items []erlterm.Term
	switch v := t.(type) {
	case erlterm.List:
		items = v
	case erlterm.String:
		if v != "" {
			return nil, &OptionError{Option: src, Msg: "want a list of options", Reason: BadArg}
		}
	default:
		items = []erlterm.Term{t}
	}
	out := make([]Option, 0, len(items))
	for _, it := range items {
		o, err := optionOf(it)
		if err != nil {
			return nil, err
		}
		if !allowed(opConnect, o.Name) && !allowed(opListen, o.Name) {
			return nil, &OptionError{Option: it.String(), Msg: "unknown option", Reason: BadArg}
		}
		var scratch = defaultOpts()
		if err := scratch.set(opConnect, o); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// optionOf converts one term to an Option without judging its value.
func optionOf(t erlterm.Term) (Option, error) {
	badTerm := func(msg string) (Option, error) {
		return Option{}, &OptionError{Option: t.String(), Msg: msg, Reason: BadArg}
	}
	switch v := t.(type) {
	case erlterm.Atom:
		switch v {
		case "binary", "list":
			return Option{"mode", string(v)}, nil
		case "inet", "inet6":
			return Option{"family", string(v)}, nil
		}
		return badTerm("unknown option")
	case erlterm.Tuple:
		if len(v) != 2 {
			return badTerm("want {Name, Value}")
		}
		name, ok := v[0].(erlterm.Atom)
		if !ok {
			return badTerm("option name must be an atom")
		}
		switch name {
		case "ip", "ifaddr":
			a, ok := addrOf(v[1])
			if !ok {
				return badTerm("want an IP address tuple")
			}
			return Option{"ip", a}, nil
		case "linger":
			l, ok := v[1].(erlterm.Tuple)
			if !ok || len(l) != 2 {
				return badTerm("want {Bool, Seconds}")
			}
			on, ok1 := valueOf(l[0]).(bool)
			secs, ok2 := valueOf(l[1]).(int)
			if !ok1 || !ok2 {
				return badTerm("want {Bool, Seconds}")
			}
			return Option{"linger", Linger{on, secs}}, nil
		case "fd":
			return badTerm("fd cannot be given as a term")
		}
		return Option{string(name), valueOf(v[1])}, nil
	}
	return badTerm("want an atom or a {Name, Value} tuple")
}

// valueOf maps a term to the Go value Option uses: atoms true/false to
// bool, other atoms to string, integers to int; anything else stays a term
// (and fails validation).
func valueOf(t erlterm.Term) any {
	switch v := t.(type) {
	case erlterm.Atom:
		switch v {
		case "true":
			return true
		case "false":
			return false
		}
		return string(v)
	case erlterm.Int:
		if int64(v) > int64(^uint(0)>>1) || int64(v) < -int64(^uint(0)>>1) {
			return t
		}
		return int(v)
	}
	return t
}

// addrOf converts an Erlang IP tuple ({10,0,0,1} or eight 16-bit groups).
func addrOf(t erlterm.Term) (netip.Addr, bool) {
	tup, ok := t.(erlterm.Tuple)
	if !ok {
		return netip.Addr{}, false
	}
	switch len(tup) {
	case 4:
		var b [4]byte
		for i, x := range tup {
			n, ok := x.(erlterm.Int)
			if !ok || n < 0 || n > 255 {
				return netip.Addr{}, false
			}
			b[i] = byte(n)
		}
		return netip.AddrFrom4(b), true
	case 8:
		var b [16]byte
		for i, x := range tup {
			n, ok := x.(erlterm.Int)
			if !ok || n < 0 || n > 65535 {
				return netip.Addr{}, false
			}
			b[2*i], b[2*i+1] = byte(n>>8), byte(n)
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}
