package erlterm

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Term is an Erlang term: one of Atom, Int, Tuple, List, String or Binary.
//
// String prints the term in Erlang syntax; parsing that text gives back an
// equal term.
type Term interface {
	// String prints the term in Erlang syntax.
	String() string

	// isTerm closes the set of terms to the types of this package.
	isTerm()
}

// Atom is an Erlang atom, such as binary or 'quoted atom'. The value holds
// the atom's text without quotes.
type Atom string

// Int is an Erlang integer that fits in 64 bits. Character literals ($a)
// parse to Int too.
type Int int64

// Tuple is an Erlang tuple, such as {packet,4}.
type Tuple []Term

// List is a proper Erlang list, such as [binary,{packet,4}].
type List []Term

// String is an Erlang string literal, such as "abc": to Erlang a list of
// code points, kept as text so that it prints back as written. Use List to
// see it as a list of integers.
type String string

// Binary is an Erlang binary, such as <<"bin">> or <<1,2,3>>.
type Binary []byte

func (Atom) isTerm()   {}
func (Int) isTerm()    {}
func (Tuple) isTerm()  {}
func (List) isTerm()   {}
func (String) isTerm() {}
func (Binary) isTerm() {}

// List returns the string as Erlang sees it: a list of one Int per code
// point. The empty string gives an empty, non-nil List.
func (s String) List() List {
	l := make(List, 0, utf8.RuneCountInString(string(s)))
	for _, r := range string(s) {
		l = append(l, Int(r))
	}
	return l
}

// String prints the atom, in single quotes when Erlang needs them: when it
// does not start with a lowercase letter, holds characters other than
// letters, digits, _ and @, or is a reserved word such as 'end'.
func (a Atom) String() string {
	if !needsQuotes(string(a)) {
		return string(a)
	}
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range string(a) {
		writeRune(&b, r, '\'')
	}
	b.WriteByte('\'')
	return b.String()
}

// String prints the integer in decimal.
func (i Int) String() string { return strconv.FormatInt(int64(i), 10) }

// String prints the tuple as {a,b,c}.
func (t Tuple) String() string {
	var b strings.Builder
	b.WriteByte('{')
	writeElems(&b, t)
	b.WriteByte('}')
	return b.String()
}

// String prints the list as [a,b,c].
func (l List) String() string {
	var b strings.Builder
	b.WriteByte('[')
	writeElems(&b, l)
	b.WriteByte(']')
	return b.String()
}

// String prints the string in double quotes, escaping quotes, backslashes
// and characters that are not printable.
func (s String) String() string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range string(s) {
		writeRune(&b, r, '"')
	}
	b.WriteByte('"')
	return b.String()
}

// String prints the binary as <<"text">> when every byte is printable ASCII
// (or \t, \n, \r), and as <<1,2,3>> otherwise.
func (bin Binary) String() string {
	var b strings.Builder
	b.WriteString("<<")
	if len(bin) > 0 && isTextual(bin) {
		b.WriteByte('"')
		for _, c := range bin {
			writeRune(&b, rune(c), '"')
		}
		b.WriteByte('"')
	} else {
		for i, c := range bin {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(int(c)))
		}
	}
	b.WriteString(">>")
	return b.String()
}

func writeElems(b *strings.Builder, ts []Term) {
	for i, t := range ts {
		if i > 0 {
			b.WriteByte(',')
		}
		if t == nil {
			// Only a hand-built term can hold nil; print something that
			// does not parse rather than panic.
			b.WriteString("<nil>")
			continue
		}
		b.WriteString(t.String())
	}
}

func isTextual(bin []byte) bool {
	for _, c := range bin {
		if (c < 0x20 || c > 0x7e) && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// writeRune writes r as it appears inside a literal quoted with quote.
func writeRune(b *strings.Builder, r rune, quote rune) {
	switch r {
	case quote, '\\':
		b.WriteByte('\\')
		b.WriteRune(r)
		return
	case '\n':
		b.WriteString(`\n`)
		return
	case '\t':
		b.WriteString(`\t`)
		return
	case '\r':
		b.WriteString(`\r`)
		return
	}
	if r >= 0x20 && r != 0x7f && (r < 0x80 || unicode.IsPrint(r)) {
		b.WriteRune(r)
		return
	}
	// \x{...} with braces, so a following hex digit cannot join the escape.
	b.WriteString(`\x{`)
	b.WriteString(strconv.FormatInt(int64(r), 16))
	b.WriteByte('}')
}

// reserved holds Erlang's reserved words: as atoms they must be quoted.
var reserved = map[string]bool{
	"after": true, "and": true, "andalso": true, "band": true, "begin": true,
	"bnot": true, "bor": true, "bsl": true, "bsr": true, "bxor": true,
	"case": true, "catch": true, "cond": true, "div": true, "else": true,
	"end": true, "fun": true, "if": true, "let": true, "maybe": true,
	"not": true, "of": true, "or": true, "orelse": true, "query": true,
	"receive": true, "rem": true, "try": true, "when": true, "xor": true,
}

func needsQuotes(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return true
	}
	for i := 1; i < len(s); i++ {
		if !isAtomChar(s[i]) {
			return true
		}
	}
	return reserved[s]
}

func isAtomChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '@'
}

// Equal reports whether a and b are the same Erlang term, as Erlang's =:=
// decides: a String equals a List of the same code points, and nil and
// empty Tuple, List and Binary values are the same. A nil Term equals only
// nil.
func Equal(a, b Term) bool {
	if s, ok := a.(String); ok {
		if _, ok := b.(String); !ok {
			a = s.List()
		}
	}
	if s, ok := b.(String); ok {
		if _, ok := a.(String); !ok {
			b = s.List()
		}
	}
	switch a := a.(type) {
	case nil:
		return b == nil
	case Atom:
		b, ok := b.(Atom)
		return ok && a == b
	case Int:
		b, ok := b.(Int)
		return ok && a == b
	case String:
		b, ok := b.(String)
		return ok && a == b
	case Binary:
		b, ok := b.(Binary)
		return ok && string(a) == string(b)
	case Tuple:
		b, ok := b.(Tuple)
		return ok && equalElems(a, b)
	case List:
		b, ok := b.(List)
		return ok && equalElems(a, b)
	}
	return false
}

func equalElems(a, b []Term) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
