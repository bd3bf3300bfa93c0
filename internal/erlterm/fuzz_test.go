package erlterm

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, that its errors are
// *SyntaxError with a position inside the input, and that what it parses
// prints back to text that parses to the same term.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"[binary, {packet, 4}, {active, once}, {ip, {127,0,0,1}}]",
		"{ip, {0,0,0,0,0,0,0,1}}",
		"{linger, {true, 10}}",
		"{send_timeout, infinity}.",
		`{line_delimiter, $\n}`,
		"{active, -5}",
		"'quoted atom'",
		`"a string" "joined"`,
		`<<"bin">>`,
		"<<1,2,3>>",
		`<<"é"/utf8, 8364/utf8, $a>>`,
		"16#ff_ff",
		"-9223372036854775808",
		`"\x{1F600}\^A\101\e"`,
		"[a|b]",
		"#{}",
		"1.5",
		"% comment\n[]",
		"'end'",
		"{{{{{{{{}}}}}}}}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		term, err := Parse(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %T, want *SyntaxError", src, err)
			}
			if se.Offset < 0 || se.Offset > len(src) || se.Line < 1 || se.Col < 1 {
				t.Fatalf("Parse(%q) error position %d (%d:%d) outside the input", src, se.Offset, se.Line, se.Col)
			}
			return
		}
		text := term.String()
		again, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(%q) = %s, which does not parse: %v", src, text, err)
		}
		if !sameTerm(term, again) {
			t.Fatalf("Parse(%q) = %#v, printed as %s, parsed back as %#v", src, term, text, again)
		}
	})
}

// sameTerm is Equal without String-List equivalence: a round trip must keep
// each term's type.
func sameTerm(a, b Term) bool {
	switch a := a.(type) {
	case String:
		b, ok := b.(String)
		return ok && a == b
	case Tuple:
		b, ok := b.(Tuple)
		return ok && sameElems(a, b)
	case List:
		b, ok := b.(List)
		return ok && sameElems(a, b)
	}
	return Equal(a, b)
}

func sameElems(a, b []Term) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameTerm(a[i], b[i]) {
			return false
		}
	}
	return true
}
