package config

import (
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// positions maps the key paths of a TOML document to where they are written,
// so that errors found after decoding can name a line. Paths are written as
// in error messages: stack[1].tcp.min_rto, stack[0].addresses[2],
// stack[0].hosts."a.example". go-toml's own errors lose array-of-tables
// indices, so they are mapped back to paths through their offsets too.
type positions struct {
	data       []byte
	lineStarts []int // byte offset where each line starts

	// byPath is the offset of each path: of its key, or for an array
	// element of its value.
	byPath map[string]int
	// byOffset is the path of the key or value written at each offset.
	byOffset map[int]posEntry

	// Where parsing stopped on a syntax error: the table then open, and
	// the offset after the last expression parsed.
	table   string
	lastEnd int
}

// posEntry describes the key or value written at one offset.
type posEntry struct {
	path    string
	kind    unstable.Kind // kind of the value
	isValue bool          // the offset is the value's, not the key's
	raw     string        // a scalar value as written
}

// index walks data once. It never fails: on a syntax error it keeps what it
// had found up to there.
func index(data []byte) *positions {
	p := &positions{
		data:     data,
		byPath:   map[string]int{},
		byOffset: map[int]posEntry{},
	}
	p.lineStarts = append(p.lineStarts, 0)
	for i, c := range data {
		if c == '\n' {
			p.lineStarts = append(p.lineStarts, i+1)
		}
	}

	// arrays counts the elements of each array of tables so far, by the
	// array's path (itself with indices: stack[1].ports).
	arrays := map[string]int{}
	var parser unstable.Parser
	parser.Reset(data)
	for parser.NextExpression() {
		e := parser.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			path, off, end, ok := tablePath(e, arrays)
			if !ok {
				continue
			}
			p.table = path
			p.add(path, off, posEntry{path: path, kind: e.Kind})
			p.lastEnd = max(p.lastEnd, end)
		case unstable.KeyValue:
			p.keyValue(p.table, e)
			p.lastEnd = max(p.lastEnd, int(e.Raw.Offset+e.Raw.Length))
		}
	}
	return p
}

// tablePath returns the path of a table header, the offset of its key and
// the end of its key, counting array-of-tables elements in arrays.
func tablePath(e *unstable.Node, arrays map[string]int) (path string, off, end int, ok bool) {
	it := e.Key()
	var parts []string
	for it.Next() {
		n := it.Node()
		if len(parts) == 0 {
			off = int(n.Raw.Offset)
		}
		end = int(n.Raw.Offset + n.Raw.Length)
		parts = append(parts, string(n.Data))
	}
	if len(parts) == 0 {
		return "", 0, 0, false
	}
	for i, part := range parts {
		path = joinKey(path, part)
		switch {
		case i == len(parts)-1 && e.Kind == unstable.ArrayTable:
			arrays[path]++
			path += "[" + strconv.Itoa(arrays[path]-1) + "]"
		case arrays[path] > 0:
			// A table inside an array of tables belongs to its last
			// element.
			path += "[" + strconv.Itoa(arrays[path]-1) + "]"
		}
	}
	return path, off, end, true
}

// keyValue records a key-value expression, or one inside an inline table,
// under the table path prefix.
func (p *positions) keyValue(prefix string, e *unstable.Node) {
	p.keyValueAt(prefix, e, 0)
}

func (p *positions) keyValueAt(prefix string, e *unstable.Node, depth int) {
	it := e.Key()
	path := prefix
	off, keyEnd := -1, 0
	for it.Next() {
		n := it.Node()
		if off < 0 {
			off = int(n.Raw.Offset)
		}
		keyEnd = int(n.Raw.Offset + n.Raw.Length)
		path = joinKey(path, string(n.Data))
	}
	if off < 0 {
		return
	}
	v := e.Value()
	p.add(path, off, p.entry(path, v, false))
	p.value(path, p.valueStart(keyEnd, v), off, v, depth)
}

// maxDepth bounds how deeply nested arrays and inline tables are indexed;
// go-toml accepts far deeper nesting than any config key has.
const maxDepth = 32

// value records the value v of path, written at start (-1 when not
// known), and its elements. keyOff is the offset of the key it belongs to.
func (p *positions) value(path string, start, keyOff int, v *unstable.Node, depth int) {
	if !v.Valid() || depth > maxDepth {
		return
	}
	if start >= 0 {
		if _, taken := p.byOffset[start]; !taken {
			p.byOffset[start] = p.entry(path, v, true)
		}
	}
	switch v.Kind {
	case unstable.Array:
		i := 0
		it := v.Children()
		for it.Next() {
			elem := it.Node()
			if elem.Kind == unstable.Comment {
				continue
			}
			elemPath := path + "[" + strconv.Itoa(i) + "]"
			i++
			es := p.elemStart(elem)
			if _, taken := p.byPath[elemPath]; !taken {
				if es >= 0 {
					p.byPath[elemPath] = es
				} else {
					p.byPath[elemPath] = keyOff
				}
			}
			p.value(elemPath, es, keyOff, elem, depth+1)
		}
	case unstable.InlineTable:
		it := v.Children()
		for it.Next() {
			if kv := it.Node(); kv.Kind == unstable.KeyValue {
				p.keyValueAt(path, kv, depth+1)
			}
		}
	}
}

// valueStart returns where the value v of a key that ends at keyEnd
// starts: after white space, '=' and white space.
func (p *positions) valueStart(keyEnd int, v *unstable.Node) int {
	if v.Raw.Length > 0 {
		return int(v.Raw.Offset)
	}
	i := keyEnd
	for i < len(p.data) && (p.data[i] == ' ' || p.data[i] == '\t') {
		i++
	}
	if i >= len(p.data) || p.data[i] != '=' {
		return -1
	}
	i++
	for i < len(p.data) && (p.data[i] == ' ' || p.data[i] == '\t') {
		i++
	}
	if i >= len(p.data) {
		return -1
	}
	return i
}

// elemStart returns where an array element starts, or -1. Arrays carry no
// position of their own: a nested array is found by stepping back from its
// first element to its '['.
func (p *positions) elemStart(v *unstable.Node) int {
	if v.Raw.Length > 0 {
		return int(v.Raw.Offset)
	}
	if v.Kind != unstable.Array {
		return -1
	}
	first := v.Child()
	for first.Valid() && first.Kind == unstable.Comment {
		first = first.Next()
	}
	if !first.Valid() || first.Kind == unstable.Array && first.Raw.Length == 0 {
		// Only one level of nesting is looked through, to keep this
		// linear.
		return -1
	}
	i := p.elemStart(first) - 1
	for i >= 0 && (p.data[i] == ' ' || p.data[i] == '\t' || p.data[i] == '\n' || p.data[i] == '\r') {
		i--
	}
	if i < 0 || p.data[i] != '[' {
		return -1
	}
	return i
}

func (p *positions) entry(path string, v *unstable.Node, isValue bool) posEntry {
	e := posEntry{path: path, kind: v.Kind, isValue: isValue}
	switch v.Kind {
	case unstable.Array, unstable.InlineTable:
	default:
		e.raw = string(v.Data)
	}
	return e
}

func (p *positions) add(path string, off int, e posEntry) {
	if _, taken := p.byPath[path]; !taken {
		p.byPath[path] = off
	}
	p.byOffset[off] = e
}

// line returns the line, from 1, of byte offset off.
func (p *positions) line(off int) int {
	return sort.Search(len(p.lineStarts), func(i int) bool { return p.lineStarts[i] > off })
}

// offsetOf returns the byte offset of a line and byte column, both from 1,
// as go-toml reports them.
func (p *positions) offsetOf(line, col int) int {
	if line < 1 || line > len(p.lineStarts) {
		return -1
	}
	return p.lineStarts[line-1] + col - 1
}

// lineOf returns the line where path is written. A path not written in the
// file (a missing key) falls back to its closest written parent, and to
// line 1 when none is.
func (p *positions) lineOf(path string) int {
	for path != "" {
		if off, ok := p.byPath[path]; ok {
			return p.line(off)
		}
		path = parentKey(path)
	}
	return 1
}

// parentKey strips the last element from a path: a [i] index or a key.
func parentKey(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	// Step back over one key, which may be quoted and hold dots.
	if strings.HasSuffix(path, `"`) {
		for i := len(path) - 2; i >= 0; i-- {
			if path[i] == '"' && (i == 0 || path[i-1] == '.') {
				if _, err := strconv.Unquote(path[i:]); err == nil {
					if i == 0 {
						return ""
					}
					return path[:i-1]
				}
			}
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// joinKey appends key to path, quoting it unless it is a bare TOML key.
func joinKey(path, key string) string {
	k := key
	if !isBareKey(key) {
		k = strconv.Quote(key)
	}
	if path == "" {
		return k
	}
	return path + "." + k
}

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// syntaxKey guesses the key of the expression that failed to parse at off:
// the table then open and, when the expression is a key-value whose key
// parses, that key.
func (p *positions) syntaxKey(data []byte, off int) string {
	start := skipBlank(data, p.lastEnd)
	if start > off || start >= len(data) || data[start] == '[' {
		return p.table
	}
	// The key runs up to '=' on the same line.
	end := start
	for end < len(data) && data[end] != '=' && data[end] != '\n' {
		end++
	}
	if end >= len(data) || data[end] != '=' {
		return p.table
	}
	var kp unstable.Parser
	kp.Reset([]byte(string(data[start:end]) + "= 0\n"))
	if !kp.NextExpression() {
		return p.table
	}
	e := kp.Expression()
	if e.Kind != unstable.KeyValue {
		return p.table
	}
	path := p.table
	it := e.Key()
	for it.Next() {
		path = joinKey(path, string(it.Node().Data))
	}
	return path
}

// skipBlank skips whitespace, newlines and comments from off.
func skipBlank(data []byte, off int) int {
	for off < len(data) {
		switch data[off] {
		case ' ', '\t', '\r', '\n':
			off++
		case '#':
			for off < len(data) && data[off] != '\n' {
				off++
			}
		default:
			return off
		}
	}
	return off
}

// mismatch returns the first value, at path or inside it, whose kind does
// not fit the key it is written for.
func (p *positions) mismatch(path string) (posEntry, bool) {
	var best posEntry
	bestOff := -1
	for off, e := range p.byOffset {
		if !e.isValue || bestOff >= 0 && off > bestOff {
			continue
		}
		if e.path != path && !strings.HasPrefix(e.path, path+".") && !strings.HasPrefix(e.path, path+"[") {
			continue
		}
		if want := wantKind(e.path); want != "" && !kindFits(e.kind, want) {
			best, bestOff = e, off
		}
	}
	return best, bestOff >= 0
}

// valueOffset returns where the value of path is written.
func (p *positions) valueOffset(path string) (int, bool) {
	best := -1
	for off, e := range p.byOffset {
		if e.isValue && e.path == path && (best < 0 || off < best) {
			best = off
		}
	}
	return best, best >= 0
}

// uniqueEntry returns the one key written in the file whose path, without
// array indices, is key.
func (p *positions) uniqueEntry(key []string) (posEntry, bool) {
	if len(key) == 0 {
		return posEntry{}, false
	}
	var want string
	for _, k := range key {
		want = joinKey(want, k)
	}
	var found posEntry
	n := 0
	for _, e := range p.byOffset {
		if !e.isValue && stripIndices(e.path) == want {
			found = e
			n++
		}
	}
	return found, n == 1
}

// stripIndices removes the [i] indices from a path.
func stripIndices(path string) string {
	var b strings.Builder
	inQuote, inIndex := false, false
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case inQuote:
			b.WriteByte(c)
			if c == '\\' && i+1 < len(path) {
				i++
				b.WriteByte(path[i])
			} else if c == '"' {
				inQuote = false
			}
		case inIndex:
			inIndex = c != ']'
		case c == '"':
			inQuote = true
			b.WriteByte(c)
		case c == '[':
			inIndex = true
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
