package erlterm

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse_Valid(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want Term
	}{
		{"a bare atom", "binary", Atom("binary")},
		{"an atom with digits, _ and @", "a1_B@c", Atom("a1_B@c")},
		{"a quoted atom", "'quoted atom'", Atom("quoted atom")},
		{"a quoted reserved word", "'end'", Atom("end")},
		{"a quoted atom with escapes", `'it\'s\n'`, Atom("it's\n")},
		{"the empty atom", "''", Atom("")},
		{"true is an atom", "true", Atom("true")},
		{"an integer", "42", Int(42)},
		{"a negative integer", "-5", Int(-5)},
		{"a sign with space", "- 5", Int(-5)},
		{"a plus sign", "+7", Int(7)},
		{"underscores between digits", "1_000_000", Int(1000000)},
		{"a based integer", "16#ff", Int(255)},
		{"a based integer in upper case", "16#FF_FF", Int(65535)},
		{"base 2", "2#1010", Int(10)},
		{"base 36", "36#zz", Int(36*36 - 1)},
		{"a negative based integer", "-16#10", Int(-16)},
		{"the largest int64", "9223372036854775807", Int(9223372036854775807)},
		{"the smallest int64", "-9223372036854775808", Int(-9223372036854775808)},
		{"a character", "$a", Int('a')},
		{"a newline character", `$\n`, Int('\n')},
		{"a space character", "$ ", Int(' ')},
		{"an escaped backslash character", `$\\`, Int('\\')},
		{"a control character", `$\^A`, Int(1)},
		{"an octal escape", `$\101`, Int('A')},
		{"a hex escape", `$\x41`, Int('A')},
		{"a braced hex escape", `$\x{1F600}`, Int(0x1F600)},
		{"a negative character", "-$a", Int(-'a')},
		{"a UTF-8 character", "$é", Int('é')},
		{"a string", `"a string"`, String("a string")},
		{"the empty string", `""`, String("")},
		{"a string with escapes", `"a\"b\\c\td\s\e\d"`, String("a\"b\\c\td \x1b\x7f")},
		{"adjacent strings join", `"ab" "cd"`, String("abcd")},
		{"a string with UTF-8", `"héllo €"`, String("héllo €")},
		{"a string across lines", "\"a\nb\"", String("a\nb")},
		{"the empty tuple", "{}", Tuple{}},
		{"a tuple", "{packet, 4}", Tuple{Atom("packet"), Int(4)}},
		{"the empty list", "[]", List{}},
		{"an IPv4 address", "{ip, {127,0,0,1}}", Tuple{Atom("ip"), Tuple{Int(127), Int(0), Int(0), Int(1)}}},
		{"the empty binary", "<<>>", Binary{}},
		{"a text binary", `<<"bin">>`, Binary("bin")},
		{"a byte binary", "<<1,2,3>>", Binary{1, 2, 3}},
		{"a mixed binary", `<<"ab", 0, $c, 255>>`, Binary("ab\x00c\xff")},
		{"a Latin-1 binary string", `<<"é">>`, Binary{0xe9}},
		{"a UTF-8 binary string", `<<"é"/utf8>>`, Binary("é")},
		{"a UTF-8 binary integer", `<<8364/utf8>>`, Binary("€")},
		{"a trailing full stop", "ok.", Atom("ok")},
		{"a full stop and a comment", "ok. % done\n", Atom("ok")},
		{"whitespace and comments", " % options\n\t[ binary % mode\n ]\n", List{Atom("binary")}},
		{
			"the options of the doc",
			`[binary, {packet, 4}, {active, once}, {ip, {127,0,0,1}}, {ip, {0,0,0,0,0,0,0,1}},
			 {linger, {true, 10}}, {send_timeout, infinity}, {line_delimiter, $\n}, {active, -5},
			 'quoted atom', "a string", <<"bin">>, <<1,2,3>>]`,
			List{
				Atom("binary"),
				Tuple{Atom("packet"), Int(4)},
				Tuple{Atom("active"), Atom("once")},
				Tuple{Atom("ip"), Tuple{Int(127), Int(0), Int(0), Int(1)}},
				Tuple{Atom("ip"), Tuple{Int(0), Int(0), Int(0), Int(0), Int(0), Int(0), Int(0), Int(1)}},
				Tuple{Atom("linger"), Tuple{Atom("true"), Int(10)}},
				Tuple{Atom("send_timeout"), Atom("infinity")},
				Tuple{Atom("line_delimiter"), Int('\n')},
				Tuple{Atom("active"), Int(-5)},
				Atom("quoted atom"),
				String("a string"),
				Binary("bin"),
				Binary{1, 2, 3},
			},
		},
		{"nesting at the limit", strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth), nest(MaxDepth)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.src)
			require.NoError(t, err, "Parse(%q)", tt.src)
			assert.Equal(t, tt.want, got, "Parse(%q)", tt.src)
		})
	}
}

func nest(n int) Term {
	t := List{}
	for i := 1; i < n; i++ {
		t = List{t}
	}
	return t
}

func TestParse_Invalid(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		wantMsg   string
		wantLine  int
		wantCol   int
		wantError string // the whole message, when not empty
	}{
		{name: "a missing element", src: "{packet,,4}", wantLine: 1, wantCol: 9,
			wantError: "unexpected ',' at line 1 column 9, expected a term"},
		{name: "a missing comma", src: "{packet 4}", wantLine: 1, wantCol: 9,
			wantError: "unexpected integer 4 at line 1 column 9, expected ',' or '}'"},
		{name: "the empty input", src: "", wantLine: 1, wantCol: 1,
			wantError: "unexpected end of input at line 1 column 1, expected a term"},
		{name: "only a comment", src: "% nothing", wantMsg: "unexpected end of input"},
		{name: "two terms", src: "a b", wantLine: 1, wantCol: 3,
			wantError: "unexpected atom b at line 1 column 3, expected '.' or end of input"},
		{name: "a term after the full stop", src: "a. b", wantMsg: "unexpected atom b", wantCol: 4},
		{name: "two full stops", src: "a..", wantMsg: "unexpected '.'"},
		{name: "a trailing comma in a list", src: "[a,]", wantMsg: "unexpected ']'", wantCol: 4},
		{name: "an unclosed tuple", src: "{a", wantMsg: "unexpected end of input"},
		{name: "an unclosed list on line 2", src: "[a,\n b", wantLine: 2, wantCol: 3,
			wantError: "unexpected end of input at line 2 column 3, expected ',' or ']'"},
		{name: "a mismatched bracket", src: "{a]", wantMsg: "unexpected ']'"},
		{name: "a variable", src: "[X]", wantMsg: "variable X is not a term", wantCol: 2},
		{name: "an underscore", src: "_", wantMsg: "variable _ is not a term"},
		{name: "a reserved word", src: "end", wantMsg: "reserved word end must be quoted"},
		{name: "an overflowing integer", src: "9223372036854775808", wantMsg: "integer 9223372036854775808 does not fit in 64 bits"},
		{name: "an overflowing negative integer", src: "-9223372036854775809", wantMsg: "integer -9223372036854775809 does not fit in 64 bits"},
		{name: "an integer beyond 64 bits", src: "18446744073709551616", wantMsg: "does not fit in 64 bits"},
		{name: "a based integer beyond 64 bits", src: "16#1_0000_0000_0000_0000", wantMsg: "does not fit in 64 bits"},
		{name: "a bad base", src: "37#1", wantMsg: "integer base 37 is not in 2..36"},
		{name: "base 1", src: "1#0", wantMsg: "integer base 1 is not in 2..36"},
		{name: "a digit outside the base", src: "2#2", wantMsg: "no base-2 digit after '#'"},
		{name: "a double underscore", src: "1__0", wantMsg: "'_' in a number"},
		{name: "a trailing underscore", src: "10_", wantMsg: "'_' in a number"},
		{name: "a float", src: "{x, 1.5}", wantMsg: "floats are not supported", wantCol: 5},
		{name: "a map", src: "#{}", wantMsg: "maps are not supported"},
		{name: "an improper list", src: "[a|b]", wantMsg: "improper lists"},
		{name: "a bare sign", src: "-", wantMsg: "unexpected end of input", wantError: "unexpected end of input at line 1 column 2, expected an integer after '-'"},
		{name: "a sign before an atom", src: "-a", wantMsg: "unexpected atom a"},
		{name: "an unterminated string", src: `["abc`, wantMsg: "unterminated string", wantCol: 2},
		{name: "an unterminated quoted atom", src: `'abc`, wantMsg: "unterminated quoted atom"},
		{name: "a dollar at the end", src: "$", wantMsg: "'$' at end of input"},
		{name: "a backslash at the end", src: `$\`, wantMsg: `'\' at end of input`},
		{name: "a bad hex escape", src: `"\xZZ"`, wantMsg: `bad escape \x`},
		{name: "an unclosed braced escape", src: `"\x{41"`, wantMsg: `bad escape \x{`},
		{name: "a surrogate escape", src: `"\x{D800}"`, wantMsg: "is not a Unicode code point"},
		{name: "a huge escape", src: `"\x{FFFFFFFFFFFFFFFFFFFF}"`, wantMsg: "is not a Unicode code point"},
		{name: "a lone less-than", src: "<1>", wantMsg: "unexpected character '<'"},
		{name: "an unexpected character", src: "[a;b]", wantMsg: "unexpected character ';'", wantCol: 3},
		{name: "invalid UTF-8", src: "[a, '\xff']", wantMsg: "invalid UTF-8", wantCol: 6},
		{name: "a binary byte over 255", src: "<<256>>", wantMsg: "binary segment 256 is outside 0..255"},
		{name: "a negative binary byte", src: "<<-1>>", wantMsg: "binary segment -1 is outside 0..255"},
		{name: "a wide character in a binary string", src: `<<"€">>`, wantMsg: "does not fit in a byte; add /utf8"},
		{name: "a binary segment size", src: "<<1:16>>", wantMsg: "binary segment sizes are not supported"},
		{name: "a binary segment type", src: "<<1/big>>", wantMsg: "binary segment types other than /utf8"},
		{name: "a binary of atoms", src: "<<a>>", wantMsg: "unexpected atom a", wantError: "unexpected atom a at line 1 column 3, expected a string or an integer"},
		{name: "an unclosed binary", src: "<<1", wantMsg: "unexpected end of input"},
		{name: "a too long atom", src: "'" + strings.Repeat("a", 256) + "'", wantMsg: "atom is longer than 255 characters"},
		{name: "nesting past the limit", src: strings.Repeat("{", MaxDepth+1), wantMsg: "terms nest more than 100 levels deep", wantCol: MaxDepth + 1},
		{name: "a column counted in characters", src: "{'é', ;}", wantMsg: "unexpected character ';'", wantCol: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.src)
			require.Error(t, err, "Parse(%q) = %v, want an error", tt.src, got)
			var se *SyntaxError
			require.True(t, errors.As(err, &se), "Parse(%q) error %T, want *SyntaxError", tt.src, err)
			if tt.wantError != "" {
				assert.Equal(t, tt.wantError, err.Error(), "Parse(%q)", tt.src)
			}
			assert.Contains(t, se.Msg, tt.wantMsg, "Parse(%q)", tt.src)
			if tt.wantLine != 0 {
				assert.Equal(t, tt.wantLine, se.Line, "Parse(%q) line", tt.src)
			}
			if tt.wantCol != 0 {
				assert.Equal(t, tt.wantCol, se.Col, "Parse(%q) column", tt.src)
			}
			assert.True(t, se.Offset >= 0 && se.Offset <= len(tt.src), "Parse(%q) offset %d outside the input", tt.src, se.Offset)
		})
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		name string
		term Term
		want string
	}{
		{"a bare atom", Atom("binary"), "binary"},
		{"an atom with @", Atom("node@host"), "node@host"},
		{"an atom with a space", Atom("quoted atom"), "'quoted atom'"},
		{"an atom starting in upper case", Atom("Up"), "'Up'"},
		{"a reserved word", Atom("end"), "'end'"},
		{"the empty atom", Atom(""), "''"},
		{"an atom with a quote", Atom("it's"), `'it\'s'`},
		{"an integer", Int(4), "4"},
		{"a negative integer", Int(-5), "-5"},
		{"a tuple", Tuple{Atom("packet"), Int(4)}, "{packet,4}"},
		{"the empty tuple", Tuple{}, "{}"},
		{"a list", List{Atom("binary"), Tuple{Atom("active"), Atom("once")}}, "[binary,{active,once}]"},
		{"the empty list", List{}, "[]"},
		{"a nil list", List(nil), "[]"},
		{"a string", String("abc"), `"abc"`},
		{"a string with escapes", String("a\"b\\c\n\x00\x7f"), `"a\"b\\c\n\x{0}\x{7f}"`},
		{"a UTF-8 string", String("héllo"), `"héllo"`},
		{"a text binary", Binary("bin"), `<<"bin">>`},
		{"a text binary with a newline", Binary("a\n"), `<<"a\n">>`},
		{"a byte binary", Binary{1, 2}, "<<1,2>>"},
		{"a Latin-1 binary", Binary{0xe9}, "<<233>>"},
		{"the empty binary", Binary{}, "<<>>"},
		{"a nil element", List{nil}, "[<nil>]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.term.String())
		})
	}
}

func TestStringList(t *testing.T) {
	assert.Equal(t, List{Int('a'), Int('é')}, String("aé").List())
	assert.Equal(t, List{}, String("").List())
}

func TestEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b Term
		want bool
	}{
		{"the same atoms", Atom("a"), Atom("a"), true},
		{"different atoms", Atom("a"), Atom("b"), false},
		{"an atom and a string", Atom("a"), String("a"), false},
		{"a string and its list", String("ab"), List{Int(97), Int(98)}, true},
		{"a list and its string", List{Int(97), Int(98)}, String("ab"), true},
		{"the empty string and the empty list", String(""), List{}, true},
		{"a string and another list", String("ab"), List{Int(97)}, false},
		{"nested tuples", Tuple{Atom("ip"), Tuple{Int(1)}}, Tuple{Atom("ip"), Tuple{Int(1)}}, true},
		{"a tuple and a list", Tuple{Int(1)}, List{Int(1)}, false},
		{"nil and empty binaries", Binary(nil), Binary{}, true},
		{"different binaries", Binary{1}, Binary{2}, false},
		{"an integer and a binary", Int(1), Binary{1}, false},
		{"nil terms", nil, nil, true},
		{"nil and a term", nil, Atom("a"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Equal(tt.a, tt.b), "Equal(%v, %v)", tt.a, tt.b)
		})
	}
}
