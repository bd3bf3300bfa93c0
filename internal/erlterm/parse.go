package erlterm

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDepth is how deeply tuples and lists may nest. Deeper input is a
// *SyntaxError, so that no input can exhaust the stack.
const MaxDepth = 100

// maxAtomLen is Erlang's limit on the length of an atom, in characters.
const maxAtomLen = 255

// SyntaxError describes why Parse rejected its input, and where.
type SyntaxError struct {
	Offset int // byte offset of the problem in the input, from 0
	Line   int // line of the problem, from 1
	Col    int // column of the problem in characters, from 1

	// Msg says what is wrong, such as "unexpected ','".
	Msg string
	// Expected, when not empty, says what would have been accepted there,
	// such as "a term" or "',' or '}'".
	Expected string
}

// Error returns a message such as
// "unexpected ',' at line 1 column 9, expected a term".
func (e *SyntaxError) Error() string {
	s := fmt.Sprintf("%s at line %d column %d", e.Msg, e.Line, e.Col)
	if e.Expected != "" {
		s += ", expected " + e.Expected
	}
	return s
}

// Parse parses src as exactly one Erlang term, optionally followed by the
// full stop that ends a term in Erlang. Whitespace and % comments may
// surround it. On failure it returns a *SyntaxError.
func Parse(src string) (Term, error) {
	p := &parser{lex: lexer{src: src}}
	if !utf8.ValidString(src) {
		off := 0
		for off < len(src) {
			r, n := utf8.DecodeRuneInString(src[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return nil, p.lex.errorAt(off, "invalid UTF-8", "")
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	t, err := p.term(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind == tokPunct && p.tok.text == "." {
		if err := p.next(); err != nil {
			return nil, err
		}
		if p.tok.kind != tokEOF {
			return nil, p.unexpected("end of input after '.'")
		}
		return t, nil
	}
	if p.tok.kind != tokEOF {
		return nil, p.unexpected("'.' or end of input")
	}
	return t, nil
}

type tokKind int

const (
	tokEOF    tokKind = iota
	tokAtom           // str holds the atom's text
	tokVar            // a variable; str holds its name
	tokInt            // num holds the magnitude
	tokChar           // a character literal; num holds the code point
	tokString         // str holds the decoded text
	tokPunct          // text holds one of { } [ ] , | << >> # - + / : .
)

type token struct {
	kind     tokKind
	off      int    // byte offset of the token's first character
	text     string // the token as written
	str      string
	num      uint64
	reserved bool // an unquoted reserved word
}

type parser struct {
	lex lexer
	tok token
}

func (p *parser) next() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

// unexpected reports the current token as the problem.
func (p *parser) unexpected(expected string) error {
	return p.lex.errorAt(p.tok.off, "unexpected "+describe(p.tok), expected)
}

func (p *parser) isPunct(s string) bool {
	return p.tok.kind == tokPunct && p.tok.text == s
}

// term parses one term starting at the current token and leaves the token
// after it current. depth counts the tuples and lists around it.
func (p *parser) term(depth int) (Term, error) {
	t := p.tok
	switch t.kind {
	case tokAtom:
		if t.reserved {
			return nil, p.lex.errorAt(t.off, fmt.Sprintf("reserved word %s must be quoted to be an atom, as '%s'", t.str, t.str), "")
		}
		if utf8.RuneCountInString(t.str) > maxAtomLen {
			return nil, p.lex.errorAt(t.off, fmt.Sprintf("atom is longer than %d characters", maxAtomLen), "")
		}
		return Atom(t.str), p.next()
	case tokVar:
		return nil, p.lex.errorAt(t.off, fmt.Sprintf("variable %s is not a term (atoms start with a lowercase letter, or quote it as '%s')", t.text, t.text), "")
	case tokInt, tokChar:
		return p.integer(false)
	case tokString:
		s, err := p.strings()
		return String(s), err
	case tokPunct:
		switch t.text {
		case "-", "+":
			return p.signed()
		case "{", "[":
			if depth >= MaxDepth {
				return nil, p.lex.errorAt(t.off, fmt.Sprintf("terms nest more than %d levels deep", MaxDepth), "")
			}
			close := "}"
			if t.text == "[" {
				close = "]"
			}
			elems, err := p.elems(close, depth+1)
			if err != nil {
				return nil, err
			}
			if close == "}" {
				return Tuple(elems), nil
			}
			return List(elems), nil
		case "<<":
			return p.binary()
		case "#":
			return nil, p.lex.errorAt(t.off, "maps are not supported", "")
		}
	}
	return nil, p.unexpected("a term")
}

// signed parses a sign followed by an integer or character literal.
func (p *parser) signed() (Term, error) {
	neg := p.tok.text == "-"
	sign := p.tok.text
	if err := p.next(); err != nil {
		return nil, err
	}
	if p.tok.kind != tokInt && p.tok.kind != tokChar {
		return nil, p.unexpected("an integer after '" + sign + "'")
	}
	return p.integer(neg)
}

// integer turns the current integer or character token into an Int.
func (p *parser) integer(neg bool) (Term, error) {
	t := p.tok
	var v int64
	switch {
	case !neg && t.num <= math.MaxInt64:
		v = int64(t.num)
	case neg && t.num <= math.MaxInt64:
		v = -int64(t.num)
	case neg && t.num == math.MaxInt64+1:
		v = math.MinInt64
	default:
		s := t.text
		if neg {
			s = "-" + s
		}
		return nil, p.lex.errorAt(t.off, fmt.Sprintf("integer %s does not fit in 64 bits", clip(s)), "")
	}
	return Int(v), p.next()
}

// strings parses one or more adjacent string literals, which Erlang joins
// into one.
func (p *parser) strings() (string, error) {
	var b strings.Builder
	for p.tok.kind == tokString {
		b.WriteString(p.tok.str)
		if err := p.next(); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// elems parses comma-separated terms after an opening '{' or '[' up to the
// closing token close, and consumes the closing token.
func (p *parser) elems(close string, depth int) ([]Term, error) {
	if err := p.next(); err != nil {
		return nil, err
	}
	elems := []Term{}
	if p.isPunct(close) {
		return elems, p.next()
	}
	for {
		t, err := p.term(depth)
		if err != nil {
			return nil, err
		}
		elems = append(elems, t)
		switch {
		case p.isPunct(","):
			if err := p.next(); err != nil {
				return nil, err
			}
		case p.isPunct(close):
			return elems, p.next()
		case close == "]" && p.isPunct("|"):
			return nil, p.lex.errorAt(p.tok.off, "improper lists ([H|T]) are not supported", "")
		default:
			return nil, p.unexpected("',' or '" + close + "'")
		}
	}
}

// binary parses the segments of a binary after '<<' and consumes '>>'. A
// segment is a string or an integer from 0 to 255, optionally followed by
// /utf8 to encode it as UTF-8.
func (p *parser) binary() (Term, error) {
	if err := p.next(); err != nil {
		return nil, err
	}
	bin := Binary{}
	if p.isPunct(">>") {
		return bin, p.next()
	}
	for {
		var (
			s     string
			n     int64
			isStr bool
			off   = p.tok.off
		)
		switch {
		case p.tok.kind == tokString:
			var err error
			if s, err = p.strings(); err != nil {
				return nil, err
			}
			isStr = true
		case p.tok.kind == tokInt || p.tok.kind == tokChar || p.isPunct("-") || p.isPunct("+"):
			t, err := p.term(0)
			if err != nil {
				return nil, err
			}
			n = int64(t.(Int))
		default:
			return nil, p.unexpected("a string or an integer")
		}
		utf := false
		if p.isPunct("/") {
			if err := p.next(); err != nil {
				return nil, err
			}
			if p.tok.kind != tokAtom || p.tok.str != "utf8" {
				return nil, p.lex.errorAt(p.tok.off, "binary segment types other than /utf8 are not supported", "")
			}
			utf = true
			if err := p.next(); err != nil {
				return nil, err
			}
		}
		if p.isPunct(":") {
			return nil, p.lex.errorAt(p.tok.off, "binary segment sizes are not supported", "")
		}
		switch {
		case isStr && utf:
			bin = append(bin, s...)
		case isStr:
			for _, r := range s {
				if r > 0xff {
					return nil, p.lex.errorAt(off, fmt.Sprintf("character %U in a binary string does not fit in a byte; add /utf8 to encode it as UTF-8", r), "")
				}
				bin = append(bin, byte(r))
			}
		case utf:
			if n < 0 || n > utf8.MaxRune || n >= 0xd800 && n <= 0xdfff {
				return nil, p.lex.errorAt(off, fmt.Sprintf("%d is not a Unicode code point", n), "")
			}
			bin = utf8.AppendRune(bin, rune(n))
		default:
			if n < 0 || n > 0xff {
				return nil, p.lex.errorAt(off, fmt.Sprintf("binary segment %d is outside 0..255", n), "")
			}
			bin = append(bin, byte(n))
		}
		switch {
		case p.isPunct(","):
			if err := p.next(); err != nil {
				return nil, err
			}
		case p.isPunct(">>"):
			return bin, p.next()
		default:
			return nil, p.unexpected("',' or '>>'")
		}
	}
}

// describe names a token for an "unexpected ..." message.
func describe(t token) string {
	switch t.kind {
	case tokEOF:
		return "end of input"
	case tokAtom:
		return "atom " + clip(t.text)
	case tokVar:
		return "variable " + clip(t.text)
	case tokInt:
		return "integer " + clip(t.text)
	case tokChar:
		return "character " + clip(t.text)
	case tokString:
		return "string " + clip(t.text)
	}
	return "'" + t.text + "'"
}

// clip shortens s for an error message.
func clip(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i] + "..."
		}
		n++
	}
	return s
}

// lexer splits the input into tokens.
type lexer struct {
	src string
	pos int
}

// errorAt makes a SyntaxError at byte offset off.
func (l *lexer) errorAt(off int, msg, expected string) *SyntaxError {
	if off > len(l.src) {
		off = len(l.src)
	}
	line, col := 1, 1
	for _, r := range l.src[:off] {
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &SyntaxError{Offset: off, Line: line, Col: col, Msg: msg, Expected: expected}
}

func (l *lexer) skipSpace() {
	for l.pos < len(l.src) {
		switch c := l.src[l.pos]; c {
		case ' ', '\t', '\n', '\r', '\f', '\v':
			l.pos++
		case '%':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
		default:
			return
		}
	}
}

func (l *lexer) next() (token, error) {
	l.skipSpace()
	start := l.pos
	if start >= len(l.src) {
		return token{kind: tokEOF, off: start}, nil
	}
	c := l.src[start]
	switch {
	case c >= 'a' && c <= 'z':
		l.pos++
		for l.pos < len(l.src) && isAtomChar(l.src[l.pos]) {
			l.pos++
		}
		text := l.src[start:l.pos]
		return token{kind: tokAtom, off: start, text: text, str: text, reserved: reserved[text]}, nil
	case c >= 'A' && c <= 'Z' || c == '_':
		l.pos++
		for l.pos < len(l.src) && isAtomChar(l.src[l.pos]) {
			l.pos++
		}
		text := l.src[start:l.pos]
		return token{kind: tokVar, off: start, text: text, str: text}, nil
	case c >= '0' && c <= '9':
		return l.number()
	case c == '$':
		l.pos++
		if l.pos >= len(l.src) {
			return token{}, l.errorAt(start, "'$' at end of input", "a character after '$'")
		}
		r, err := l.char()
		if err != nil {
			return token{}, err
		}
		return token{kind: tokChar, off: start, text: l.src[start:l.pos], num: uint64(r)}, nil
	case c == '"' || c == '\'':
		s, err := l.quoted(c)
		if err != nil {
			return token{}, err
		}
		kind := tokString
		if c == '\'' {
			kind = tokAtom
		}
		return token{kind: kind, off: start, text: l.src[start:l.pos], str: s}, nil
	case c == '<' || c == '>':
		if l.pos+1 < len(l.src) && l.src[l.pos+1] == c {
			l.pos += 2
			return token{kind: tokPunct, off: start, text: l.src[start:l.pos]}, nil
		}
	case strings.IndexByte("{}[],|#-+/:.", c) >= 0:
		l.pos++
		return token{kind: tokPunct, off: start, text: l.src[start:l.pos]}, nil
	}
	r, _ := utf8.DecodeRuneInString(l.src[start:])
	return token{}, l.errorAt(start, "unexpected character "+strconv.QuoteRune(r), "")
}

// number scans an integer: decimal digits, or base#digits with a base from
// 2 to 36; an underscore may separate digits.
func (l *lexer) number() (token, error) {
	start := l.pos
	n, err := l.digits(10)
	if err != nil {
		return token{}, err
	}
	if l.pos < len(l.src) && l.src[l.pos] == '#' {
		baseText := l.src[start:l.pos]
		base, err := strconv.Atoi(baseText)
		if err != nil || base < 2 || base > 36 {
			return token{}, l.errorAt(start, fmt.Sprintf("integer base %s is not in 2..36", clip(baseText)), "")
		}
		l.pos++
		if l.pos >= len(l.src) || digitVal(l.src[l.pos]) >= base {
			return token{}, l.errorAt(l.pos, fmt.Sprintf("no base-%d digit after '#'", base), "")
		}
		if n, err = l.digits(base); err != nil {
			return token{}, err
		}
	}
	if l.pos+1 < len(l.src) && l.src[l.pos] == '.' && l.src[l.pos+1] >= '0' && l.src[l.pos+1] <= '9' {
		return token{}, l.errorAt(start, "floats are not supported", "")
	}
	return token{kind: tokInt, off: start, text: l.src[start:l.pos], num: n}, nil
}

// digits scans digits in base, with single underscores between them. The
// first byte is known to be a digit. It fails when the value needs more
// than 64 bits.
func (l *lexer) digits(base int) (uint64, error) {
	start := l.pos
	var n uint64
	overflow := false
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		if c == '_' {
			if l.pos+1 >= len(l.src) || digitVal(l.src[l.pos+1]) >= base {
				return 0, l.errorAt(l.pos, "'_' in a number must stand between two digits", "")
			}
			l.pos++
			continue
		}
		d := digitVal(c)
		if d >= base {
			break
		}
		if n > (math.MaxUint64-uint64(d))/uint64(base) {
			overflow = true
		}
		n = n*uint64(base) + uint64(d)
		l.pos++
	}
	if overflow {
		return 0, l.errorAt(start, fmt.Sprintf("integer %s does not fit in 64 bits", clip(l.src[start:l.pos])), "")
	}
	return n, nil
}

// digitVal returns the value of c as a digit in bases up to 36, or 99.
func digitVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return 99
}

// quoted scans a string or quoted atom that starts at l.pos with quote q,
// and returns its decoded text.
func (l *lexer) quoted(q byte) (string, error) {
	start := l.pos
	l.pos++
	var b strings.Builder
	for {
		if l.pos >= len(l.src) {
			what := "string"
			if q == '\'' {
				what = "quoted atom"
			}
			return "", l.errorAt(start, "unterminated "+what, "a closing "+string(q))
		}
		if l.src[l.pos] == q {
			l.pos++
			return b.String(), nil
		}
		r, err := l.char()
		if err != nil {
			return "", err
		}
		b.WriteRune(r)
	}
}

// char scans one character, which may be an escape sequence, at l.pos.
func (l *lexer) char() (rune, error) {
	r, n := utf8.DecodeRuneInString(l.src[l.pos:])
	if r != '\\' {
		l.pos += n
		return r, nil
	}
	start := l.pos
	l.pos++
	if l.pos >= len(l.src) {
		return 0, l.errorAt(start, "'\\' at end of input", "an escape sequence")
	}
	c := l.src[l.pos]
	switch c {
	case 'b':
		l.pos++
		return '\b', nil
	case 'd':
		l.pos++
		return 0x7f, nil
	case 'e':
		l.pos++
		return 0x1b, nil
	case 'f':
		l.pos++
		return '\f', nil
	case 'n':
		l.pos++
		return '\n', nil
	case 'r':
		l.pos++
		return '\r', nil
	case 's':
		l.pos++
		return ' ', nil
	case 't':
		l.pos++
		return '\t', nil
	case 'v':
		l.pos++
		return '\v', nil
	case '^':
		// \^a is control-A: the character's code modulo 32.
		l.pos++
		if l.pos >= len(l.src) {
			return 0, l.errorAt(start, "'\\^' at end of input", "a character after '\\^'")
		}
		r, n := utf8.DecodeRuneInString(l.src[l.pos:])
		l.pos += n
		return r % 32, nil
	case 'x':
		l.pos++
		if l.pos < len(l.src) && l.src[l.pos] == '{' {
			return l.hexBraces(start)
		}
		if l.pos+1 < len(l.src) && digitVal(l.src[l.pos]) < 16 && digitVal(l.src[l.pos+1]) < 16 {
			v := digitVal(l.src[l.pos])*16 + digitVal(l.src[l.pos+1])
			l.pos += 2
			return rune(v), nil
		}
		return 0, l.errorAt(start, "bad escape \\x", "two hex digits or {hex digits} after \\x")
	}
	if c >= '0' && c <= '7' {
		// Up to three octal digits.
		v := 0
		for i := 0; i < 3 && l.pos < len(l.src) && l.src[l.pos] >= '0' && l.src[l.pos] <= '7'; i++ {
			v = v*8 + int(l.src[l.pos]-'0')
			l.pos++
		}
		return rune(v), nil
	}
	// Any other escaped character stands for itself, as in Erlang.
	r, n = utf8.DecodeRuneInString(l.src[l.pos:])
	l.pos += n
	return r, nil
}

// hexBraces scans the {hex} part of a \x{hex} escape that starts at start;
// l.pos is at '{'.
func (l *lexer) hexBraces(start int) (rune, error) {
	l.pos++
	v := 0
	digits := 0
	for l.pos < len(l.src) && digitVal(l.src[l.pos]) < 16 {
		if v <= utf8.MaxRune {
			v = v*16 + digitVal(l.src[l.pos])
		}
		digits++
		l.pos++
	}
	if digits == 0 || l.pos >= len(l.src) || l.src[l.pos] != '}' {
		return 0, l.errorAt(start, "bad escape \\x{", "hex digits and '}'")
	}
	l.pos++
	if v > utf8.MaxRune || v >= 0xd800 && v <= 0xdfff {
		return 0, l.errorAt(start, fmt.Sprintf("escape %s is not a Unicode code point", clip(l.src[start:l.pos])), "")
	}
	return rune(v), nil
}
