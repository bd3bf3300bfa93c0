package delay_test

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/usertcp/usertcp/internal/testutil/linktest"
	"github.com/usertcp/usertcp/link/delay"
)

func TestNew_InvalidConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  delay.Config
	}{
		{"negative latency", delay.Config{Latency: -time.Millisecond}},
		{"negative jitter", delay.Config{Jitter: -1}},
		{"reorder above one", delay.Config{Reorder: 1.5}},
		{"NaN reorder", delay.Config{Reorder: math.NaN()}},
		{"negative reorder delay", delay.Config{ReorderDelay: -1}},
		{"negative rate", delay.Config{Rate: -1}},
		{"negative queue limit", delay.Config{QueueFrames: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := delay.New(channel.New(1, linktest.MTU, ""), tc.cfg)
			require.ErrorIs(t, err, delay.ErrInvalidConfig)

			clock := faketime.NewManualClock()
			ep, err := delay.New(channel.New(1, linktest.MTU, ""), delay.Config{Clock: clock, Latency: time.Second})
			require.NoError(t, err)
			require.ErrorIs(t, ep.SetConfig(tc.cfg), delay.ErrInvalidConfig)
			assert.Equal(t, time.Second, ep.Config().Latency, "SetConfig changed the config despite the error")
		})
	}
	t.Run("nil lower endpoint", func(t *testing.T) {
		_, err := delay.New(nil, delay.Config{})
		require.ErrorIs(t, err, delay.ErrInvalidConfig)
	})
}

// payload returns a frame that starts with i (16 bits, big-endian), to
// tell frames apart.
func payload(i int) []byte {
	b := make([]byte, 100)
	binary.BigEndian.PutUint16(b, uint16(i))
	return b
}

// ids returns the number payload put in each frame queued in ch.
func ids(ch *channel.Endpoint) []int {
	var out []int
	for _, f := range linktest.Drain(ch) {
		out = append(out, int(binary.BigEndian.Uint16(f)))
	}
	return out
}

// newManualDelay returns a delay line with cfg on a manual clock (set as
// cfg.Clock), in front of a channel endpoint that holds frames frames. When
// the test ends it closes the line and checks that no packet buffer and no
// goroutine is left.
func newManualDelay(t *testing.T, frames int, cfg delay.Config) (*delay.Endpoint, *channel.Endpoint, *faketime.ManualClock) {
	t.Helper()
	clock := faketime.NewManualClock()
	cfg.Clock = clock
	ch := channel.New(frames, linktest.MTU, "")
	ep, err := delay.New(ch, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ep.Close()
		linktest.CheckRefs(t)
		goleak.VerifyNone(t)
	})
	return ep, ch, clock
}

func TestPassThrough_ZeroConfigDoesNotQueue(t *testing.T) {
	ep, ch, _ := newManualDelay(t, 8, delay.Config{})

	n, terr := linktest.Write(ep, payload(1), payload(2))
	require.Nil(t, terr)
	assert.Equal(t, 2, n)
	// No clock movement needed: the frames are already on the wire.
	assert.Equal(t, []int{1, 2}, ids(ch))
	assert.Equal(t, delay.Counters{Frames: 2, Bytes: 200}, ep.Counters())
}

func TestLatency_DeliversAfterLatency(t *testing.T) {
	ep, ch, clock := newManualDelay(t, 8, delay.Config{Latency: 10 * time.Millisecond})

	n, terr := linktest.Write(ep, payload(1))
	require.Nil(t, terr)
	assert.Equal(t, 1, n)
	assert.Equal(t, 1, ep.Counters().Queued)

	clock.Advance(10*time.Millisecond - 1)
	assert.Empty(t, ids(ch), "frame left before its latency")
	clock.Advance(1)
	assert.Equal(t, []int{1}, ids(ch))
	assert.Equal(t, delay.Counters{Frames: 1, Bytes: 100}, ep.Counters())
}

func TestOrder_KeptWithoutJitterOrReorder(t *testing.T) {
	ep, ch, clock := newManualDelay(t, 1000, delay.Config{Latency: 5 * time.Millisecond, Rate: 1 << 20})

	r := rand.New(rand.NewPCG(1, 2))
	var want []int
	for i := 0; i < 200; i++ {
		_, terr := linktest.Write(ep, payload(i))
		require.Nil(t, terr)
		want = append(want, i)
		clock.Advance(time.Duration(r.IntN(2000)) * time.Microsecond)
	}
	clock.Advance(time.Second)
	assert.Equal(t, want, ids(ch))
}

func TestRate_SerializesFrames(t *testing.T) {
	// 100-byte frames at 1000 B/s take 100ms each on the wire.
	ep, ch, clock := newManualDelay(t, 8, delay.Config{Latency: time.Millisecond, Rate: 1000})

	_, terr := linktest.Write(ep, payload(1), payload(2), payload(3))
	require.Nil(t, terr)
	var got [][]int
	for i := 0; i < 4; i++ {
		clock.Advance(100 * time.Millisecond)
		got = append(got, ids(ch))
	}
	// Departures at 100, 200 and 300ms, each delivered 1ms later.
	assert.Equal(t, [][]int{nil, {1}, {2}, {3}}, got)
}

func TestReorder_LaterFramesOvertake(t *testing.T) {
	ep, ch, clock := newManualDelay(t, 8, delay.Config{Latency: 10 * time.Millisecond, Reorder: 1})

	_, terr := linktest.Write(ep, payload(1))
	require.Nil(t, terr)
	require.NoError(t, ep.SetConfig(delay.Config{Latency: 10 * time.Millisecond}))
	_, terr = linktest.Write(ep, payload(2), payload(3))
	require.Nil(t, terr)

	clock.Advance(10 * time.Millisecond)
	assert.Equal(t, []int{2, 3}, ids(ch))
	// The default ReorderDelay is 2*Latency.
	clock.Advance(20*time.Millisecond - 1)
	assert.Empty(t, ids(ch))
	clock.Advance(1)
	assert.Equal(t, []int{1}, ids(ch))
	assert.Equal(t, uint64(1), ep.Counters().Reordered)
	assert.Equal(t, uint64(1), ep.Counters().OutOfOrder, "the held frame left after two written after it")
}

// arrival is a frame seen on the wire, and when.
type arrival struct {
	id int
	at time.Duration
}

// runJittery writes 300 frames 100µs apart through a delay line with
// jitter and reordering, and returns when each arrived.
func runJittery(t *testing.T, seed uint64) []arrival {
	t.Helper()
	clock := faketime.NewManualClock()
	start := clock.Now()
	ch := channel.New(1000, linktest.MTU, "")
	ep, err := delay.New(ch, delay.Config{
		Seed: seed, Clock: clock,
		Latency: 5 * time.Millisecond, Jitter: 2 * time.Millisecond, Reorder: 0.1,
	})
	require.NoError(t, err)
	defer ep.Close()

	var out []arrival
	collect := func() {
		for _, id := range ids(ch) {
			out = append(out, arrival{id, clock.Now().Sub(start)})
		}
	}
	for i := 0; i < 300; i++ {
		_, terr := linktest.Write(ep, payload(i))
		require.Nil(t, terr)
		clock.Advance(100 * time.Microsecond)
		collect()
	}
	for i := 0; i < 200; i++ {
		clock.Advance(100 * time.Microsecond)
		collect()
	}
	require.Len(t, out, 300)
	c := ep.Counters()
	assert.NotZero(t, c.Reordered)
	assert.Equal(t, overtaken(out), c.OutOfOrder)
	return out
}

func TestJitter_SameSeedSameSchedule(t *testing.T) {
	defer goleak.VerifyNone(t)
	t.Logf("seeds 7 and 8")
	a := runJittery(t, 7)
	b := runJittery(t, 7)
	assert.Equal(t, a, b)
	c := runJittery(t, 8)
	assert.NotEqual(t, a, c)

	inOrder := true
	for i := range a {
		if a[i].id != i {
			inOrder = false
		}
	}
	assert.False(t, inOrder, "jitter and reordering should have reordered something")
	linktest.CheckRefs(t)
}

// batchRecorder is a channel endpoint that records the size of each batch
// written to it.
type batchRecorder struct {
	*channel.Endpoint
	mu      sync.Mutex
	batches []int
}

func (b *batchRecorder) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	b.mu.Lock()
	b.batches = append(b.batches, pkts.Len())
	b.mu.Unlock()
	return b.Endpoint.WritePackets(pkts)
}

func TestFire_WritesDueFramesInOneBatch(t *testing.T) {
	defer goleak.VerifyNone(t)
	clock := faketime.NewManualClock()
	rec := &batchRecorder{Endpoint: channel.New(100, linktest.MTU, "")}
	ep, err := delay.New(rec, delay.Config{Clock: clock, Latency: 10 * time.Millisecond})
	require.NoError(t, err)

	// Five writes at one instant: five frames due together.
	for i := 0; i < 5; i++ {
		_, terr := linktest.Write(ep, payload(i))
		require.Nil(t, terr)
	}
	clock.Advance(time.Millisecond)
	_, terr := linktest.Write(ep, payload(5))
	require.Nil(t, terr)
	clock.Advance(20 * time.Millisecond)
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5}, ids(rec.Endpoint))
	assert.Equal(t, []int{5, 1}, rec.batches)
	ep.Close()
	linktest.CheckRefs(t)
}

func TestBackpressure_BlocksUntilRoom(t *testing.T) {
	ep, ch, clock := newManualDelay(t, 8, delay.Config{Latency: 10 * time.Millisecond, QueueFrames: 2})

	n, terr := linktest.Write(ep, payload(1), payload(2))
	require.Nil(t, terr)
	require.Equal(t, 2, n)

	done := make(chan int)
	go func() {
		n, _ := linktest.Write(ep, payload(3))
		done <- n
	}()
	select {
	case <-done:
		t.Fatal("WritePackets returned although the queue was full")
	case <-time.After(50 * time.Millisecond):
	}
	assert.Equal(t, 2, ep.Counters().Queued)

	clock.Advance(10 * time.Millisecond)
	assert.Equal(t, 1, <-done)
	assert.Equal(t, []int{1, 2}, ids(ch))
	clock.Advance(10 * time.Millisecond)
	assert.Equal(t, []int{3}, ids(ch), "the blocked frame was dropped, not delayed")
}

func TestSetConfig_LargerLimitWakesWriters(t *testing.T) {
	ep, ch, clock := newManualDelay(t, 8, delay.Config{Latency: 10 * time.Millisecond, QueueFrames: 1})
	_, terr := linktest.Write(ep, payload(1))
	require.Nil(t, terr)

	done := make(chan int)
	go func() {
		n, _ := linktest.Write(ep, payload(2))
		done <- n
	}()
	require.NoError(t, ep.SetConfig(delay.Config{Latency: 10 * time.Millisecond, QueueFrames: 2}))
	assert.Equal(t, 1, <-done)
	clock.Advance(10 * time.Millisecond)
	assert.Equal(t, []int{1, 2}, ids(ch))
}

func TestClose_ReleasesQueueAndWakesWriters(t *testing.T) {
	ep, ch, clock := newManualDelay(t, 8, delay.Config{Latency: 10 * time.Millisecond, QueueFrames: 3})
	_, terr := linktest.Write(ep, payload(1), payload(2), payload(3))
	require.Nil(t, terr)

	type result struct {
		n   int
		err tcpip.Error
	}
	done := make(chan result)
	go func() {
		n, err := linktest.Write(ep, payload(4))
		done <- result{n, err}
	}()
	require.Eventually(t, func() bool { return ep.Counters().Queued == 3 }, time.Second, time.Millisecond)

	ep.Close()
	r := <-done
	assert.Equal(t, 0, r.n)
	assert.IsType(t, &tcpip.ErrClosedForSend{}, r.err)
	assert.Equal(t, 0, ep.Counters().Queued)

	clock.Advance(time.Second)
	assert.Empty(t, ids(ch), "the timer fired after Close")
	_, terr = linktest.Write(ep, payload(5))
	assert.IsType(t, &tcpip.ErrClosedForSend{}, terr)
	ep.Close() // a second Close is harmless
}

func TestStdClock_IsTheDefault(t *testing.T) {
	defer goleak.VerifyNone(t)
	ch := channel.New(8, linktest.MTU, "")
	ep, err := delay.New(ch, delay.Config{Latency: 5 * time.Millisecond})
	require.NoError(t, err)
	require.NotNil(t, ep.Config().Clock)

	start := time.Now()
	_, terr := linktest.Write(ep, payload(1))
	require.Nil(t, terr)
	require.Eventually(t, func() bool { return ep.Counters().Frames == 1 }, 5*time.Second, time.Millisecond)
	assert.GreaterOrEqual(t, time.Since(start), 5*time.Millisecond)
	assert.Equal(t, []int{1}, ids(ch))
	ep.Close()
	ep.Wait()
	linktest.CheckRefs(t)
}

// TestTCP_TransferThroughDelay moves 1 MiB over TCP through a wire that
// delays, jitters and reorders frames from A to B, on the real clock, and
// checks that B gets every byte in order.
func TestTCP_TransferThroughDelay(t *testing.T) {
	defer goleak.VerifyNone(t)
	cfg := delay.Config{Seed: 99, Latency: 5 * time.Millisecond, Jitter: 2 * time.Millisecond, Reorder: 0.02}
	t.Logf("seed %d", cfg.Seed)
	var ep *delay.Endpoint
	net := linktest.NewNet(t, func(lower stack.LinkEndpoint) stack.LinkEndpoint {
		var err error
		ep, err = delay.New(lower, cfg)
		require.NoError(t, err)
		return ep
	})
	defer net.Close()

	data := linktest.RandomBytes(cfg.Seed, 1<<20)
	start := time.Now()
	got := net.Transfer(t, data)
	assert.Equal(t, sha256.Sum256(data), got, "SHA-256 of received data")
	c := ep.Counters()
	t.Logf("took %v; counters: %+v", time.Since(start), c)
	assert.NotZero(t, c.Reordered)

	net.Close()
	linktest.CheckRefs(t)
}
