package doccheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// modulePackages lists the directories under root that hold a package of
// the module rooted there: directories with a non-test .go file, outside
// hidden and underscore directories, testdata, vendor, and nested modules.
func modulePackages(root string) ([]string, error) {
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if path != root {
			name := d.Name()
			if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // another module
			}
		}
		files, err := sourceFiles(path)
		if err != nil {
			return err
		}
		if len(files) > 0 {
			dirs = append(dirs, path)
		}
		return nil
	})
	return dirs, err
}

// sourceFiles lists the non-test .go files of dir, sorted.
func sourceFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") &&
			!strings.HasPrefix(n, ".") && !strings.HasPrefix(n, "_") {
			files = append(files, filepath.Join(dir, n))
		}
	}
	return files, nil
}

// ignored reports whether f is excluded from every build by a
// "//go:build ignore" line (a generator or a scratch file).
func ignored(f *ast.File) bool {
	for _, cg := range f.Comments {
		if cg.Pos() >= f.Package {
			break
		}
		for _, c := range cg.List {
			if strings.TrimSpace(c.Text) == "//go:build ignore" {
				return true
			}
		}
	}
	return false
}

// undocumented lists the exported names of the package in dir that go doc
// would show without a doc comment, each as "file:line: what" with file
// relative to root, in file and line order.
func undocumented(root, dir string) ([]string, error) {
	paths, err := sourceFiles(dir)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, p := range paths {
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		if !ignored(f) {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		return nil, nil
	}
	var out []missing
	report := func(pos token.Pos, what string) {
		p := fset.Position(pos)
		rel, err := filepath.Rel(root, p.Filename)
		if err != nil {
			rel = p.Filename
		}
		out = append(out, missing{filepath.ToSlash(rel), p.Line, what})
	}

	hasPackageDoc := false
	for _, f := range files {
		if hasText(f.Doc) {
			hasPackageDoc = true
		}
	}
	if !hasPackageDoc {
		report(files[0].Package, "package "+files[0].Name.Name)
	}
	if files[0].Name.Name == "main" {
		return sorted(out), nil // go doc shows a command's package doc only
	}
	for _, f := range files {
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				checkFunc(d, report)
			case *ast.GenDecl:
				checkGenDecl(fset, d, report)
			}
		}
	}
	return sorted(out), nil
}

// missing is one undocumented name and where it is declared.
type missing struct {
	file string
	line int
	what string
}

func sorted(ms []missing) []string {
	sort.Slice(ms, func(i, j int) bool {
		if ms[i].file != ms[j].file {
			return ms[i].file < ms[j].file
		}
		if ms[i].line != ms[j].line {
			return ms[i].line < ms[j].line
		}
		return ms[i].what < ms[j].what
	})
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.file + ":" + strconv.Itoa(m.line) + ": " + m.what
	}
	return out
}

// checkFunc reports an exported function, or an exported method of an
// exported type, without a doc or with one that does not begin with its
// name.
func checkFunc(d *ast.FuncDecl, report func(token.Pos, string)) {
	if !d.Name.IsExported() {
		return
	}
	what := "func " + d.Name.Name
	if d.Recv != nil {
		recv := receiverType(d.Recv)
		if !ast.IsExported(recv) {
			return
		}
		what = "method " + recv + "." + d.Name.Name
	}
	checkDoc(d.Name, d.Doc, what, report)
}

// checkDoc reports name, described as what, when doc is missing or does
// not begin with the name (after "A", "An" or "The", as in "A Socket
// is ..."), the form go doc's readers and Go's doc comment convention
// expect.
func checkDoc(name *ast.Ident, doc *ast.CommentGroup, what string, report func(token.Pos, string)) {
	if !hasText(doc) {
		report(name.Pos(), what)
		return
	}
	text := doc.Text()
	if beginsWith(text, name.Name) {
		return
	}
	for _, article := range []string{"A ", "An ", "The "} {
		if rest, ok := strings.CutPrefix(text, article); ok && beginsWith(rest, name.Name) {
			return
		}
	}
	report(name.Pos(), what+" (the doc does not begin with "+name.Name+")")
}

// beginsWith reports whether text begins with the word name.
func beginsWith(text, name string) bool {
	rest, ok := strings.CutPrefix(text, name)
	return ok && (rest == "" || !isWordChar(rest[0]))
}

// isWordChar reports whether c continues an identifier.
func isWordChar(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// checkGenDecl reports the exported types of a declaration without a doc
// or with one that does not begin with their name, its exported constants
// and variables without a doc, and the undocumented members of its exported
// structs and interfaces.
func checkGenDecl(fset *token.FileSet, d *ast.GenDecl, report func(token.Pos, string)) {
	switch d.Tok {
	case token.TYPE:
		for _, spec := range d.Specs {
			s := spec.(*ast.TypeSpec)
			if !s.Name.IsExported() {
				continue
			}
			// As go/doc does: the declaration's comment is the type's doc
			// only when the declaration holds this one type.
			doc := s.Doc
			if doc == nil && len(d.Specs) == 1 {
				doc = d.Doc
			}
			checkDoc(s.Name, doc, "type "+s.Name.Name, report)
			checkMembers(fset, s, report)
		}
	case token.CONST, token.VAR:
		if hasText(d.Doc) {
			return // the group's doc, shown with every member
		}
		var run []member
		for _, spec := range d.Specs {
			s := spec.(*ast.ValueSpec)
			run = append(run, member{s.Pos(), s.End(), s.Names, s.Doc, s.Comment})
		}
		for _, m := range uncovered(fset, run) {
			report(m.Pos(), d.Tok.String()+" "+m.Name)
		}
	}
}

// checkMembers reports the exported fields of a struct type and the
// methods of an interface type that no comment documents.
func checkMembers(fset *token.FileSet, s *ast.TypeSpec, report func(token.Pos, string)) {
	var list *ast.FieldList
	switch ty := s.Type.(type) {
	case *ast.StructType:
		list = ty.Fields
	case *ast.InterfaceType:
		list = ty.Methods
	default:
		return
	}
	var run []member
	for _, fld := range list.List {
		run = append(run, member{fld.Pos(), fld.End(), fld.Names, fld.Doc, fld.Comment})
	}
	for _, n := range uncovered(fset, run) {
		report(n.Pos(), s.Name.Name+"."+n.Name)
	}
}

// member is a field, an interface method or a value spec: the names it
// declares, where it is, and its comments above and at the end of the
// line.
type member struct {
	pos, end token.Pos
	names    []*ast.Ident
	doc      *ast.CommentGroup
	comment  *ast.CommentGroup
}

// uncovered returns the exported names among members (in source order)
// that have no comment of their own and are not named by an earlier
// comment of their run of lines.
func uncovered(fset *token.FileSet, members []member) []*ast.Ident {
	var out []*ast.Ident
	var runDocs []string // the docs above the current run's members
	prevEnd := -1
	for _, m := range members {
		if fset.Position(m.pos).Line > prevEnd+1 {
			runDocs = nil // a blank line ends the run
		}
		prevEnd = fset.Position(m.end).Line
		if hasText(m.doc) {
			runDocs = append(runDocs, m.doc.Text())
		}
		if hasText(m.doc) || hasText(m.comment) {
			continue
		}
		for _, n := range m.names {
			if n.IsExported() && !namedIn(n.Name, runDocs) {
				out = append(out, n)
			}
		}
	}
	return out
}

// namedIn reports whether name appears as a word in one of docs.
func namedIn(name string, docs []string) bool {
	word := regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `\b`)
	for _, d := range docs {
		if word.MatchString(d) {
			return true
		}
	}
	return false
}

// hasText reports whether cg holds more than directives and blank lines:
// CommentGroup.Text drops //go: and similar directive lines, as go doc
// does.
func hasText(cg *ast.CommentGroup) bool {
	return cg != nil && strings.TrimSpace(cg.Text()) != ""
}

// receiverType is the name of a method's receiver type, without pointer
// or type parameters.
func receiverType(recv *ast.FieldList) string {
	if len(recv.List) == 0 {
		return ""
	}
	ty := recv.List[0].Type
	for {
		switch x := ty.(type) {
		case *ast.StarExpr:
			ty = x.X
		case *ast.ParenExpr:
			ty = x.X
		case *ast.IndexExpr:
			ty = x.X
		case *ast.IndexListExpr:
			ty = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}
