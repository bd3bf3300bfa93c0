package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestDemoSimTimeline: demo --sim --timeline run.svg writes the run's
// timeline as an SVG (well-formed, the run's trace hash in it);
// --timeline - prints the text form on stdout; without --sim the flag
// is refused.
func TestDemoSimTimeline(t *testing.T) {
	defer goleak.VerifyNone(t)
	path := filepath.Join(t.TempDir(), "run.svg")
	code, out, errs := runCLI(t, "demo", "--sim", "--seed", "3", "--bytes", "20000", "--pings", "3", "--timeline", path)
	require.Equal(t, 0, code, errs)
	svg, err := os.ReadFile(path)
	require.NoError(t, err)
	var root struct {
		XMLName xml.Name
		Hash    string `xml:"data-hash,attr"`
	}
	require.NoError(t, xml.Unmarshal(svg, &root))
	assert.Equal(t, "svg", root.XMLName.Local)
	assert.Contains(t, out, "SHA-256 "+root.Hash)
	assert.Contains(t, string(svg), `class="arrow syn delivered"`)

	code, out, errs = runCLI(t, "demo", "--sim", "--seed", "3", "--bytes", "0", "--pings", "1", "--timeline", "-")
	require.Equal(t, 0, code, errs)
	assert.True(t, strings.HasPrefix(out, "seed 3, trace "), out)
	assert.Regexp(t, `(?m)^\s+0s\s+\|<-+SYN-+\|\s+client→server `, out)

	code, _, errs = runCLI(t, "demo", "--timeline", "x.svg")
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, "--timeline needs --sim")
}
