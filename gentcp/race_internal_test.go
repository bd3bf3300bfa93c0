//go:build race

package gentcp

// raceEnabled: the race detector is on. Its sync.Pool drops a quarter of
// what is put back, on purpose, so pooled reuse is partial.
const raceEnabled = true
