// Package doccheck holds a test and no code: TestEveryExportedNameHasADoc
// fails on every exported name in the module that go doc would show
// without a doc comment, listing each as "file:line: what".
//
// What it checks, in every package of the module (test files, testdata,
// and nested modules such as bench/plot aside):
//
//   - the package doc, in one of the package's files (commands included);
//   - exported functions, types, constants and variables; a comment on a
//     parenthesized const or var group documents all its members, as go
//     doc prints the whole group for any of them;
//   - exported methods of exported types (methods of unexported types are
//     not shown by go doc and are left alone);
//   - exported fields of exported structs and methods of exported
//     interfaces; this goes further than revive's exported rule, which
//     stops at top-level names, because the project's option structs
//     document every field (see STYLE.md).
//
// Inside a struct, an interface or a const/var group without a group doc,
// a member counts as documented by its own comment above it or at the end
// of its line, or by an earlier comment in the same run of lines (no blank
// line between) that names it, as "// PacketASN1, PacketCDR and PacketTPKT
// are ..." documents all three. A comment that names only its own field
// does not cover the fields below it. Embedded fields are not checked:
// their type's doc says what they are.
//
// A command (package main) needs its package doc only: go doc shows
// nothing else of it. A comment made only of directives (//go:...) is no
// doc.
//
// The doc of a function, a method or a type must also begin with its name,
// after "A", "An" or "The" if it likes ("A Socket is ..."), as Go's doc
// comment convention asks; a field's or a value's need not, since a
// comment may document several.
package doccheck
