// chunk.go owns the arrays the receive buffer reads into (recv.go) and
// Data.Release, which lets a caller give one back for reuse.
//
// Packets leave the receive buffer without a copy: a Data's bytes are a
// slice of the array the endpoint was read into, and they are the
// caller's. So a bulk reader through Recv gets a fresh array per read, 64
// KiB that Go must zero and collect, at gigabytes per second; the collector
// runs hundreds of cycles a second for it. Erlang's driver hands out
// sub-binaries of a reference-counted buffer instead. The same here: an
// array of one of the pooled sizes is a chunk with a count of its holders
// (the socket while it reads into it, and every Data taken from it). A
// caller done with a Data may Release it; when the last holder lets go,
// the array goes back to a pool for the next read of any socket. A caller
// that never releases pays what it paid before: the array is garbage once
// its Data are.
//
// Locks: none of its own. The socket's hold is taken and dropped under
// s.mu (recv.go); the count is atomic because Release runs in the
// caller's goroutine.

package gentcp

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// Pooled array sizes: powers of two from minChunk to maxReadChunk. Smaller
// arrays are cheap to make and are shared by many small packets; a packet
// that outgrows maxReadChunk gets an array of its own, not pooled.
const (
	minChunkShift = 13 // 8 KiB
	maxChunkShift = 18 // 256 KiB = maxReadChunk
)

var chunkPools [maxChunkShift - minChunkShift + 1]sync.Pool

// chunk is a pooled read array and the count of those holding it.
type chunk struct {
	buf  []byte // len == cap == the pool's size
	refs atomic.Int32
}

// newReadArray returns an array of at least size bytes for the receive
// buffer, and its chunk (the caller holds it once) if it is of a pooled
// size, nil otherwise. A pooled array's old bytes are not cleared: the
// buffer hands out only bytes it has read into it.
func newReadArray(size int) ([]byte, *chunk) {
	if size < 1<<minChunkShift || size > 1<<maxChunkShift {
		return make([]byte, size), nil
	}
	shift := bits.Len(uint(size - 1))
	pool := &chunkPools[shift-minChunkShift]
	c, _ := pool.Get().(*chunk)
	if c == nil {
		c = &chunk{buf: make([]byte, 1<<shift)}
	}
	c.refs.Store(1)
	return c.buf, c
}

// hold counts one more holder of c (nil: an array that is not pooled).
func (c *chunk) hold() {
	if c != nil {
		c.refs.Add(1)
	}
}

// release lets go of one hold; the last one returns the array to its pool.
func (c *chunk) release() {
	if c == nil {
		return
	}
	if c.refs.Add(-1) == 0 {
		chunkPools[bits.Len(uint(len(c.buf)-1))-minChunkShift].Put(c)
	}
}

// Release gives d's bytes back to gentcp for a later read to reuse, which
// spares a bulk reader through Recv an allocation and its collection per
// read (Recv's bytes are otherwise the caller's for good, as a binary is an
// Erlang process's). It is optional: a Data never released is collected as
// any slice is.
//
// After Release neither d nor any copy of it may be used, and Release is
// called at most once for each Data gentcp returned or sent; the bytes may
// be overwritten by another socket's data at any time after it (the race
// detector reports such a use). Release of a Data not from gentcp, or of
// the zero Data, does nothing.
func (d Data) Release() {
	d.chunk.release()
}
