package delay_test

import (
	"encoding/binary"
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

// overtaken counts the arrivals that came after an arrival written later
// (a higher id): what Counters.OutOfOrder should say.
func overtaken(out []arrival) uint64 {
	var n uint64
	high := -1
	for _, a := range out {
		if a.id < high {
			n++
		}
		high = max(high, a.id)
	}
	return n
}

// timedRecorder is a lower endpoint that notes, on the delay line's clock,
// when each frame reaches it.
type timedRecorder struct {
	*channel.Endpoint
	clock tcpip.Clock
	start tcpip.MonotonicTime
	mu    sync.Mutex
	out   []arrival
}

func (r *timedRecorder) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	at := r.clock.NowMonotonic().Sub(r.start)
	r.mu.Lock()
	for _, p := range pkts.AsSlice() {
		r.out = append(r.out, arrival{id: int(binary.BigEndian.Uint16(linktest.Bytes(p))), at: at})
	}
	r.mu.Unlock()
	// Nobody reads the channel: the recorder keeps what it needs.
	return pkts.Len(), nil
}

// jitterRun is what runJitterTraffic saw.
type jitterRun struct {
	sent     []time.Duration // when frame i was written
	arrivals []arrival       // in the order they reached the lower endpoint
	counters delay.Counters
}

// runJitterTraffic writes 5000 frames through a delay line configured as
// cfg (its Clock is set here): bursts of back-to-back frames, as TCP sends
// them, separated by gaps of up to 500µs, some shorter than the jitter and
// some longer.
func runJitterTraffic(t *testing.T, cfg delay.Config) jitterRun {
	t.Helper()
	clock := faketime.NewManualClock()
	cfg.Clock = clock
	rec := &timedRecorder{Endpoint: channel.New(1, linktest.MTU, ""), clock: clock, start: clock.NowMonotonic()}
	ep, err := delay.New(rec, cfg)
	require.NoError(t, err)
	defer ep.Close()

	const n = 5000
	r := rand.New(rand.NewPCG(cfg.Seed, 1))
	var run jitterRun
	for i := 0; i < n; i++ {
		run.sent = append(run.sent, clock.NowMonotonic().Sub(rec.start))
		_, terr := linktest.Write(ep, payload(i))
		require.Nil(t, terr)
		if r.IntN(4) == 0 { // a quarter of the frames end a burst
			clock.Advance(time.Duration(1+r.IntN(500)) * time.Microsecond)
		}
	}
	clock.Advance(time.Second)
	rec.mu.Lock()
	run.arrivals = rec.out
	rec.mu.Unlock()
	require.Len(t, run.arrivals, n)
	run.counters = ep.Counters()
	return run
}

// delays returns each frame's time in the delay line, by frame.
func (r jitterRun) delays() []time.Duration {
	d := make([]time.Duration, len(r.sent))
	for _, a := range r.arrivals {
		d[a.id] = a.at - r.sent[a.id]
	}
	return d
}

// TestJitter_KeepsOrder: with jitter larger than the gaps between frames,
// every frame still arrives in the order written, each within [Latency,
// Latency+Jitter), and the delays vary across that range (jitter does
// something). The old delay line drew each frame's delay independently and
// reordered thousands of these frames.
func TestJitter_KeepsOrder(t *testing.T) {
	defer goleak.VerifyNone(t)
	const latency, jitter = 5 * time.Millisecond, 2 * time.Millisecond
	run := runJitterTraffic(t, delay.Config{Seed: 3, Latency: latency, Jitter: jitter})

	for i, a := range run.arrivals {
		if a.id != i {
			t.Fatalf("arrival %d is frame %d: order not kept", i, a.id)
		}
	}
	assert.Zero(t, run.counters.OutOfOrder)
	assert.Zero(t, run.counters.Reordered)
	lo, hi := time.Duration(1<<62), time.Duration(0)
	for i, d := range run.delays() {
		require.GreaterOrEqual(t, d, latency, "frame %d", i)
		require.Less(t, d, latency+jitter, "frame %d", i)
		lo, hi = min(lo, d), max(hi, d)
	}
	t.Logf("delays from %v to %v", lo, hi)
	assert.Greater(t, hi-lo, jitter*3/4, "the delays hardly vary")
}

// TestJitterReorders_OvertakesAndCounts: with JitterReorders the same
// traffic is reordered, each frame still within [Latency, Latency+Jitter),
// and OutOfOrder counts exactly the frames that arrived after a later one,
// while Reordered (the Reorder knob's count) stays zero.
func TestJitterReorders_OvertakesAndCounts(t *testing.T) {
	defer goleak.VerifyNone(t)
	const latency, jitter = 5 * time.Millisecond, 2 * time.Millisecond
	run := runJitterTraffic(t, delay.Config{Seed: 3, Latency: latency, Jitter: jitter, JitterReorders: true})

	late := overtaken(run.arrivals)
	t.Logf("%d of %d frames overtaken; counters %+v", late, len(run.arrivals), run.counters)
	assert.Greater(t, late, uint64(len(run.arrivals)/10), "independent jitter reordered little")
	assert.Equal(t, late, run.counters.OutOfOrder)
	assert.Zero(t, run.counters.Reordered)
	for i, d := range run.delays() {
		require.GreaterOrEqual(t, d, latency, "frame %d", i)
		require.Less(t, d, latency+jitter, "frame %d", i)
	}
}

// TestOutOfOrder_ReorderWithJitter: with jitter keeping order, the frames
// Reorder holds back are the ones out of order, and only they.
func TestOutOfOrder_ReorderWithJitter(t *testing.T) {
	defer goleak.VerifyNone(t)
	run := runJitterTraffic(t, delay.Config{Seed: 5, Latency: 5 * time.Millisecond, Jitter: time.Millisecond, Reorder: 0.01})
	c := run.counters
	t.Logf("counters %+v", c)
	require.NotZero(t, c.Reordered)
	assert.Equal(t, overtaken(run.arrivals), c.OutOfOrder)
	// A held frame written right before a pause may be overtaken by
	// nothing, so OutOfOrder can fall short of Reordered, never exceed it.
	assert.LessOrEqual(t, c.OutOfOrder, c.Reordered)
	assert.Greater(t, c.OutOfOrder, c.Reordered/2)
}

// TestSetConfig_ShorterLatencyKeepsOrder: a frame written after the
// latency drops waits for the frame ahead of it, unless JitterReorders
// lets it overtake.
func TestSetConfig_ShorterLatencyKeepsOrder(t *testing.T) {
	for _, reorders := range []bool{false, true} {
		t.Run(map[bool]string{false: "order kept", true: "JitterReorders"}[reorders], func(t *testing.T) {
			ep, ch, clock := newManualDelay(t, 8, delay.Config{Latency: 10 * time.Millisecond, JitterReorders: reorders})
			_, terr := linktest.Write(ep, payload(1))
			require.Nil(t, terr)
			require.NoError(t, ep.SetConfig(delay.Config{Latency: time.Millisecond, JitterReorders: reorders}))
			_, terr = linktest.Write(ep, payload(2))
			require.Nil(t, terr)

			clock.Advance(time.Millisecond)
			first := ids(ch)
			clock.Advance(9 * time.Millisecond)
			rest := ids(ch)
			if reorders {
				assert.Equal(t, []int{2}, first)
				assert.Equal(t, []int{1}, rest)
				assert.Equal(t, uint64(1), ep.Counters().OutOfOrder)
			} else {
				assert.Empty(t, first, "the second frame overtook the first")
				assert.Equal(t, []int{1, 2}, rest)
				assert.Zero(t, ep.Counters().OutOfOrder)
			}
		})
	}
}
