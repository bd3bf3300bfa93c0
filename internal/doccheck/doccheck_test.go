package doccheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryExportedNameHasADoc lists every exported name of the module's
// packages that go doc would show without a doc comment (what counts is in
// doc.go), one error per name with its file and line.
func TestEveryExportedNameHasADoc(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the module root is not at %s: %v", root, err)
	}
	dirs, err := modulePackages(root)
	if err != nil {
		t.Fatal(err)
	}
	// The walk must reach the packages the issue names, internal ones and
	// commands included; an empty walk would pass for the wrong reason.
	for _, want := range []string{"stack", "gentcp", "link/memlink", "link/tap", "internal/erlterm", "cmd/usertcp", "sim/timeline/internal/kvpicture"} {
		if !contains(dirs, filepath.Join(root, filepath.FromSlash(want))) {
			t.Errorf("the walk from %s missed %s", root, want)
		}
	}
	if contains(dirs, filepath.Join(root, "bench", "plot")) {
		t.Errorf("the walk entered bench/plot, another module")
	}
	failed := false
	for _, dir := range dirs {
		missing, err := undocumented(root, dir)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		for _, m := range missing {
			t.Errorf("no doc comment: %s", m)
			failed = true
		}
	}
	if failed {
		t.Log("give each a doc comment that begins with its name; internal/doccheck/doc.go says what counts")
	}
}

// TestUndocumentedReportsEachKind runs the check on testdata/fixture, a
// package with documented and undocumented names of every kind the check
// covers, and wants exactly the undocumented ones; and on testdata/command,
// a command whose exported names do not count.
func TestUndocumentedReportsEachKind(t *testing.T) {
	root, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	got, err := undocumented(root, filepath.Join(root, "fixture"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"fixture/fixture.go:1: package fixture",
		"fixture/fixture.go:11: func Bare",
		"fixture/fixture.go:19: Documented.Bare",
		"fixture/fixture.go:24: Documented.Later",
		"fixture/fixture.go:30: Documented.Uncovered",
		"fixture/fixture.go:38: Iface.Bare",
		"fixture/fixture.go:41: method Documented.BareMethod",
		"fixture/fixture.go:43: type BareType",
		"fixture/fixture.go:46: func DirectiveOnly",
		"fixture/fixture.go:53: const C2",
		"fixture/fixture.go:57: var V1",
		"fixture/fixture.go:65: type InGroup",
		"fixture/fixture.go:80: func WrongName (the doc does not begin with WrongName)",
		"fixture/fixture.go:86: func Func2 (the doc does not begin with Func2)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("undocumented(fixture):\ngot:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A command: only its package doc counts.
	got, err = undocumented(root, filepath.Join(root, "command"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "command/main.go:1: package main"; strings.Join(got, "\n") != want {
		t.Errorf("undocumented(command) = %q, want [%s]", got, want)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
