package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPicturesAreUpToDate: the pictures checked into docs/timeline are
// what a run of the example draws now, and they show the loss: the
// acknowledgement of the first lost key and the dropped replication
// frame in the writes, the partition, and the reads that miss it.
func TestPicturesAreUpToDate(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, draw(dir))
	docs := filepath.Join("..", "..", "..", "..", "docs", "timeline")
	for _, name := range []string{"kv-losing-seed-write.svg", "kv-losing-seed-write.txt", "kv-losing-seed-read.svg", "kv-losing-seed-read.txt"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		want, err := os.ReadFile(filepath.Join(docs, name))
		require.NoError(t, err)
		assert.True(t, string(got) == string(want), "docs/timeline/%s is not what a run draws now: run docs/timeline.sh", name)
	}
	text := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		return string(b)
	}
	write, read := text("kv-losing-seed-write.txt"), text("kv-losing-seed-read.txt")
	for _, want := range []string{"note client: put k006 acknowledged by kv1", "len 16 (sent 17.117038ms, dropped)", "partition kv1 | kv2 kv3 client begins", "note client: put k021 acknowledged by kv2"} {
		assert.Contains(t, write, want)
	}
	for _, want := range []string{"note kv2: lacks k006, acknowledged by kv1 at 18.189ms", "note kv2: lacks k020, acknowledged by kv1 at 50.31ms"} {
		assert.Contains(t, read, want)
	}
	assert.NotContains(t, read, "put k006 acknowledged", "the reads start after the writes")
}
