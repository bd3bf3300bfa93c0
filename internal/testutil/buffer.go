package testutil

import (
	"bytes"
	"sync"
)

// LockedBuffer is a bytes.Buffer that other goroutines (a link's, a
// progress printer's, a capture's) may write while the test reads it, so
// that the race detector checks the code under test rather than the
// test's buffer. The zero value is an empty buffer ready for use.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// Bytes returns a copy of what has been written so far.
func (b *LockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}

// String returns what has been written so far, as a string.
func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
