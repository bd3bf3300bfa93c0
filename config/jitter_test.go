package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// oneStack is the smallest stack table a setup accepts.
const oneStack = "[[stack]]\nname = \"s\"\nend = \"a\"\naddresses = [\"10.0.0.1/24\"]\n"

// TestDecode_JitterReorders: jitter keeps the frames' order unless the
// file asks for netem's independent jitter with link.jitter_reorders.
func TestDecode_JitterReorders(t *testing.T) {
	for _, tc := range []struct {
		line string
		want bool
	}{
		{"", false},
		{"jitter_reorders = false", false},
		{"jitter_reorders = true", true},
	} {
		t.Run(tc.line, func(t *testing.T) {
			cfg, err := Decode("test.toml", []byte("[link]\njitter = \"2ms\"\n"+tc.line+"\n"+oneStack))
			require.NoError(t, err)
			assert.Equal(t, 2*time.Millisecond, cfg.Link.Jitter)
			assert.Equal(t, tc.want, cfg.Link.JitterReorders)
		})
	}
	_, err := Decode("test.toml", []byte("[link]\njitter_reorders = 1\n"+oneStack))
	require.Error(t, err, "a number for jitter_reorders")
	assert.Contains(t, err.Error(), "jitter_reorders")
}
