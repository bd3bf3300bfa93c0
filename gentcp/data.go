package gentcp

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Data is one packet as gen_tcp delivers it: the result of Recv and the
// payload of a TCP or PortData message.
//
// Go has one type for bytes, so both modes carry Bytes; List records that
// the socket was in list mode, where Erlang would have given a list of
// integers ("abc") instead of a binary (<<"abc">>). Header is the {header,N}
// split: in binary mode the first Header bytes are list elements and the
// rest a binary ([B1,...,BN|<<Rest>>]); it is 0 otherwise.
type Data struct {
	Bytes  []byte // the packet's bytes, in either mode
	List   bool   // the socket was in list mode
	Header int    // the {header,N} split in binary mode, else 0

	chunk *chunk // the pooled array Bytes is part of, or nil (chunk.go)
}

// String prints the data in Erlang syntax: "abc", <<"abc">>, <<1,2>>, or
// [1,2|<<"rest">>] with a header.
func (d Data) String() string {
	if d.List {
		return erlString(d.Bytes)
	}
	if d.Header > 0 {
		var b strings.Builder
		b.WriteByte('[')
		for i, c := range d.Bytes[:d.Header] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(int(c)))
		}
		b.WriteByte('|')
		b.WriteString(erlBinary(d.Bytes[d.Header:]))
		b.WriteByte(']')
		return b.String()
	}
	return erlBinary(d.Bytes)
}

func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, c := range b {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' || c == 0x7f || c >= 0x80 {
			return false
		}
	}
	return true
}

func erlString(b []byte) string {
	if len(b) == 0 {
		return "[]"
	}
	if printable(b) {
		return strconv.Quote(string(b))
	}
	var s strings.Builder
	s.WriteByte('[')
	for i, c := range b {
		if i > 0 {
			s.WriteByte(',')
		}
		s.WriteString(strconv.Itoa(int(c)))
	}
	s.WriteByte(']')
	return s.String()
}

func erlBinary(b []byte) string {
	if len(b) == 0 {
		return "<<>>"
	}
	if printable(b) {
		return "<<" + strconv.Quote(string(b)) + ">>"
	}
	var s strings.Builder
	s.WriteString("<<")
	for i, c := range b {
		if i > 0 {
			s.WriteByte(',')
		}
		s.WriteString(strconv.Itoa(int(c)))
	}
	s.WriteString(">>")
	return s.String()
}
