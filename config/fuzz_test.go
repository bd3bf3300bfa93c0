package config

import (
	"errors"
	"os"
	"testing"
)

// FuzzDecode checks that Decode never panics, and that every error it
// returns for a file is *Error values naming the file and a line in it.
func FuzzDecode(f *testing.F) {
	example, err := os.ReadFile("example.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add(defaultTOML)
	for _, tt := range errorCases {
		f.Add([]byte(tt.doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Decode("fuzz.toml", data, WithOptionCheck(bogusCheck))
		if err == nil {
			if c == nil || len(c.Stacks) == 0 {
				t.Fatalf("Decode(%q) = %+v, nil", data, c)
			}
			return
		}
		lines := 1
		for _, b := range data {
			if b == '\n' {
				lines++
			}
		}
		errs := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		for _, e := range errs {
			var ce *Error
			if !errors.As(e, &ce) {
				t.Fatalf("Decode(%q) error %T (%v), want *Error", data, e, e)
			}
			if ce.File != "fuzz.toml" || ce.Line < 1 || ce.Line > lines {
				t.Fatalf("Decode(%q) error %q names line %d of %d", data, e, ce.Line, lines)
			}
		}
	})
}
