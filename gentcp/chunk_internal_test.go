package gentcp

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReleaseCountsHolders: a bulk read's array is a chunk held by the
// socket until the read empties it and by the Data taken from it; the
// Data's Release lets go of the last hold. A Data the caller keeps holds
// its array: nothing is reused under it.
func TestReleaseCountsHolders(t *testing.T) {
	c, a := connectedPair(t)
	require.NoError(t, a.Setopts(Buffer(64<<10)))
	require.NoError(t, c.Send(make([]byte, 32<<10)))
	waitQueued(t, a, 32<<10)
	d, err := a.Recv(0, time.Second)
	require.NoError(t, err)
	require.Len(t, d.Bytes, 32<<10)
	require.NotNil(t, d.chunk, "a 32 KiB read's array is not a pooled chunk")
	assert.Nil(t, a.rchunk, "the socket still holds an emptied bulk array")
	assert.Equal(t, int32(1), d.chunk.refs.Load(), "holders of the array once the read is emptied: want the Data alone")
	ch := d.chunk
	d.Release()
	assert.Equal(t, int32(0), ch.refs.Load(), "holders after Release")

	Data{Bytes: []byte("not gentcp's")}.Release() // does nothing
	Data{}.Release()
}

// TestReleaseKeepsSharedArray: packets framed out of one read share its
// array; releasing some of them returns nothing while others hold it, so
// the ones kept stay intact while more data is read and released.
func TestReleaseKeepsSharedArray(t *testing.T) {
	c, a := connectedPair(t)
	require.NoError(t, a.Setopts(Packet(4), Buffer(64<<10)))
	require.NoError(t, c.Setopts(Packet(4)))
	msg := func(round, i int) []byte {
		b := bytes.Repeat([]byte{byte(round*100 + i)}, 400)
		binary.BigEndian.PutUint32(b, uint32(round*1000+i))
		return b
	}
	const perRound = 40 // 40 × 404 bytes: one read of a 16 KiB chunk
	var kept []Data
	var want [][]byte
	for round := range 5 {
		for i := range perRound {
			require.NoError(t, c.Send(msg(round, i)))
		}
		waitQueued(t, a, perRound*404)
		for i := range perRound {
			d, err := a.Recv(0, time.Second)
			require.NoError(t, err)
			require.Equal(t, msg(round, i), d.Bytes, "round %d packet %d", round, i)
			if i == 0 {
				require.NotNil(t, d.chunk, "packets of a %d-byte read are not in a pooled chunk", perRound*404)
			}
			if i%2 == 0 {
				kept, want = append(kept, d), append(want, msg(round, i))
			} else {
				d.Release()
			}
		}
		runtime.GC() // a pool may let go of what it holds; nothing kept may change
	}
	for i, d := range kept {
		assert.Equal(t, want[i], d.Bytes, "kept packet %d changed after other packets were released", i)
		d.Release()
	}
}

// TestRecvReleaseAllocatesLess: a bulk reader that releases what it has
// read allocates a fraction of what it receives, where one that does not
// allocates at least every byte (the Recv contract: the bytes are its).
func TestRecvReleaseAllocatesLess(t *testing.T) {
	c, a := connectedPair(t)
	require.NoError(t, a.Setopts(Buffer(64<<10)))
	const total = 8 << 20
	transfer := func(release bool) uint64 {
		done := make(chan error, 1)
		go func() {
			chunk := make([]byte, 64<<10)
			for sent := 0; sent < total; sent += len(chunk) {
				if err := c.Send(chunk); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for got := 0; got < total; {
			d, err := a.Recv(0, 5*time.Second)
			require.NoError(t, err)
			got += len(d.Bytes)
			if release {
				d.Release()
			}
		}
		runtime.ReadMemStats(&after)
		require.NoError(t, <-done)
		return after.TotalAlloc - before.TotalAlloc
	}
	kept := transfer(false)
	released := transfer(true)
	t.Logf("allocated while receiving %d MiB: %d KiB keeping every Data, %d KiB releasing each", total>>20, kept>>10, released>>10)
	assert.GreaterOrEqual(t, kept, uint64(total), "a reader that keeps its Data allocated less than it received")
	// Under the race detector sync.Pool drops a quarter of the arrays put
	// back (and each that is dropped is made anew): expect less saved.
	limit, saved := kept/4, "three quarters"
	if raceEnabled {
		limit, saved = kept*3/4, "a quarter"
	}
	assert.Less(t, released, limit, "releasing each Data saved less than %s of the allocation", saved)
}

// BenchmarkReadArray is the price of a bulk read's array alone, without
// the stack: a 64 KiB array for each read, filled and handed out, that the
// caller keeps (plain Recv: the array is garbage once the Data is) or
// releases (Recv with Data.Release), against one array reused (RecvAppend
// into the caller's buffer). BENCHMARKS.md reads the kept case's cost from
// it: Go's heap returns the garbage arrays' pages to the kernel as the
// heap grows, and the next arrays fault them back in.
func BenchmarkReadArray(b *testing.B) {
	src := make([]byte, 64<<10)
	b.Run("kept", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			buf, c := newReadArray(len(src))
			copy(buf, src)
			_ = c // never released: the Data keeps it until it is garbage
		}
	})
	b.Run("released", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			buf, c := newReadArray(len(src))
			copy(buf, src)
			c.release()
		}
	})
	b.Run("reused", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		buf := make([]byte, len(src))
		for b.Loop() {
			copy(buf, src)
		}
	})
}
