package config

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Error is a problem with a config file, at one key.
type Error struct {
	// File is the name given to Decode, or the path given to Load.
	File string
	// Line is the line of the offending key or value, from 1. For a key
	// that is missing, it is the line of the table that should hold it.
	Line int
	// Key is the key's path, with array indices from 0, as in
	// stack[1].tcp.min_rto or stack[0].addresses[2]. It is empty for
	// syntax errors where no key can be told.
	Key string
	// Err says what is wrong. It wraps go-toml's *toml.DecodeError for
	// syntax and type errors, and the option check's error for bad socket
	// options.
	Err error
}

// Error returns "file:line: key: problem".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }

// causedError carries a message of ours and the error it explains.
type causedError struct {
	msg   string
	cause error
}

func (e *causedError) Error() string { return e.msg }
func (e *causedError) Unwrap() error { return e.cause }

// tomlError turns an error from go-toml's decoder into *Error values: one
// per unknown key, or one for a syntax or type error.
func (d *decoding) tomlError(err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		errs := make([]*Error, 0, len(strict.Errors))
		for i := range strict.Errors {
			errs = append(errs, d.unknownKey(&strict.Errors[i]))
		}
		return d.join(errs)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		return d.decodeError(de)
	}
	// go-toml documents no other errors for a byte slice; keep the file
	// name on anything else.
	return &Error{File: d.name, Line: 1, Err: err}
}

// unknownKey reports a key, or a table, that the file has and Config lacks.
func (d *decoding) unknownKey(de *toml.DecodeError) *Error {
	line, col := de.Position()
	key := strings.Join(de.Key(), ".")
	what := "unknown key"
	if e, ok := d.pos.byOffset[d.pos.offsetOf(line, col)]; ok {
		key = e.path
		if e.kind == unstable.Table || e.kind == unstable.ArrayTable {
			what = "unknown table"
		}
	}
	if s := suggest(key); s != "" {
		what += " (did you mean " + s + "?)"
	}
	return &Error{File: d.name, Line: line, Key: key, Err: &causedError{msg: what, cause: de}}
}

// decodeError reports a syntax error, or a value of the wrong type.
func (d *decoding) decodeError(de *toml.DecodeError) *Error {
	line, col := de.Position()
	msg := strings.TrimPrefix(de.Error(), "toml: ")
	e, ok := d.pos.byOffset[d.pos.offsetOf(line, col)]
	atValue := ok && e.isValue
	if !ok {
		// go-toml's position is off for some values inside arrays of
		// tables; find the key by its path instead.
		e, ok = d.pos.uniqueEntry(de.Key())
		if ok {
			line = d.pos.line(d.pos.byPath[e.path])
			atValue = true
		}
	}
	if !ok {
		key := strings.Join(de.Key(), ".")
		if key == "" {
			key = d.pos.syntaxKey(d.data, d.pos.offsetOf(line, col))
		}
		return &Error{File: d.name, Line: line, Key: key, Err: &causedError{msg: msg, cause: de}}
	}
	if bad, ok := d.pos.mismatch(e.path); ok && atValue {
		e = bad
		line = d.pos.line(d.pos.byPath[e.path])
		if off, ok := d.pos.valueOffset(e.path); ok {
			line = d.pos.line(off)
		}
		msg = "want " + wantKind(e.path) + ", not " + describeValue(e)
	}
	return &Error{File: d.name, Line: line, Key: e.path, Err: &causedError{msg: msg, cause: de}}
}

// join returns nil, the one error, or all of them joined in line order.
func (d *decoding) join(errs []*Error) error {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e
	}
	return errors.Join(all...)
}

// The kinds of value the file's keys take, as wantKind names them.
const (
	wantInteger = "an integer"
	wantNumber  = "a number"
	wantBool    = "true or false"
	wantString  = "a string"
	wantArray   = "an array"
	wantTable   = "a table"
)

// wantKind returns the kind of value path takes, found by following the
// toml tags of fileConfig, or "" when any kind will do or path is unknown.
func wantKind(path string) string {
	t, ok := typeAt(path)
	if !ok {
		return ""
	}
	switch t.Kind() {
	case reflect.Int64, reflect.Int:
		return wantInteger
	case reflect.Float64:
		return wantNumber
	case reflect.Bool:
		return wantBool
	case reflect.String:
		return wantString
	case reflect.Slice:
		return wantArray
	case reflect.Struct, reflect.Map:
		return wantTable
	}
	return ""
}

// kindFits reports whether a TOML value of kind k decodes as want.
func kindFits(k unstable.Kind, want string) bool {
	switch k {
	case unstable.Integer:
		return want == wantInteger || want == wantNumber
	case unstable.Float:
		return want == wantNumber
	case unstable.Bool:
		return want == wantBool
	case unstable.String:
		return want == wantString
	case unstable.Array:
		return want == wantArray
	case unstable.InlineTable:
		return want == wantTable
	}
	return false
}

// describeValue names a value for a type error: the string "1500".
func describeValue(e posEntry) string {
	var what string
	switch e.kind {
	case unstable.Integer:
		what = "the integer "
	case unstable.Float:
		what = "the float "
	case unstable.Bool:
		what = "the boolean "
	case unstable.String:
		return "the string " + strconv.Quote(clip(e.raw))
	case unstable.Array:
		return "an array"
	case unstable.InlineTable:
		return "a table"
	case unstable.LocalDate, unstable.LocalTime, unstable.LocalDateTime, unstable.DateTime:
		what = "the date "
	default:
		return "that"
	}
	return what + clip(e.raw)
}

// clip shortens s for an error message.
func clip(s string) string {
	const max = 60
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// typeAt returns the Go type of fileConfig that holds path, with pointers
// removed.
func typeAt(path string) (reflect.Type, bool) {
	t := reflect.TypeFor[fileConfig]()
	for _, part := range splitKey(path) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case part == "[]":
			if t.Kind() != reflect.Slice {
				return nil, false
			}
			t = t.Elem()
		case t.Kind() == reflect.Struct:
			f, ok := fieldByTag(t, part)
			if !ok {
				return nil, false
			}
			t = f.Type
		case t.Kind() == reflect.Map:
			t = t.Elem()
		default:
			return nil, false
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t, true
}

// splitKey splits a path into its keys, and "[]" for each index.
func splitKey(path string) []string {
	var parts []string
	for path != "" {
		parent := parentKey(path)
		last := strings.TrimPrefix(path[len(parent):], ".")
		switch {
		case strings.HasPrefix(last, "["):
			last = "[]"
		case strings.HasPrefix(last, `"`):
			if s, err := strconv.Unquote(last); err == nil {
				last = s
			}
		}
		parts = append(parts, last)
		if parent == path {
			break
		}
		path = parent
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return parts
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("toml"), ","); tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// suggest returns the known key closest to the last key of path, when one
// is close enough to be a likely typo.
func suggest(path string) string {
	parts := splitKey(path)
	if len(parts) == 0 {
		return ""
	}
	parent, ok := typeAt(parentKey(path))
	if !ok || parent.Kind() != reflect.Struct {
		return ""
	}
	typo := parts[len(parts)-1]
	best, bestDist := "", 3
	for i := range parent.NumField() {
		name, _, _ := strings.Cut(parent.Field(i).Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		if dist := editDistance(typo, name); dist < bestDist && dist < len(name) {
			best, bestDist = name, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, capped for
// long input.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// errorf makes an *Error at path.
func (d *decoding) errorf(path, format string, args ...any) {
	d.errs = append(d.errs, &Error{
		File: d.name,
		Line: d.pos.lineOf(path),
		Key:  path,
		Err:  fmt.Errorf(format, args...),
	})
}
