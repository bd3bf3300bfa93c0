package memlink_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/usertcp/usertcp/link/memlink"
)

var five = []string{"n1", "n2", "n3", "n4", "n5"}

// expect returns, per port, the sorted "from→to" payloads it must receive
// when every ordered pair sends one and passes(from, to) says which pass.
func expect(names []string, passes func(from, to string) bool) map[string][]string {
	out := map[string][]string{}
	for _, to := range names {
		out[to] = []string{}
		for _, from := range names {
			if from != to && passes(from, to) {
				out[to] = append(out[to], from+"→"+to)
			}
		}
		slices.Sort(out[to])
	}
	return out
}

// checkRound sends a frame along every ordered pair of a lock-step
// network, delivers them all, and checks each port got what passes allows
// and that every frame not passed was counted as cut.
func checkRound(t *testing.T, r *rawNet, passes func(from, to string) bool) {
	t.Helper()
	r.reset()
	before := map[[2]string]memlink.Counters{}
	for _, from := range r.names {
		for _, to := range r.names {
			before[[2]string{from, to}] = r.n.Counters(from, to)
		}
	}
	r.sendAll(t)
	r.deliverAll()
	want := expect(r.names, passes)
	for _, name := range r.names {
		assert.Equal(t, want[name], r.got(name), "what %s received", name)
	}
	for _, from := range r.names {
		for _, to := range r.names {
			if from == to {
				continue
			}
			b, c := before[[2]string{from, to}], r.n.Counters(from, to)
			cut := uint64(1)
			if passes(from, to) {
				cut = 0
			}
			assert.Equal(t, cut, c.Cut-b.Cut, "%s→%s cut", from, to)
			assert.Equal(t, 1-cut, c.Delivered-b.Delivered, "%s→%s delivered", from, to)
		}
	}
}

func group(of map[string]int) func(from, to string) bool {
	return func(from, to string) bool { return of[from] == of[to] }
}

func all(string, string) bool { return true }

// TestPartition_Shapes: each partition shape delivers within its groups
// and drops across them, one-way cuts drop one direction only, and Heal
// restores every pair.
func TestPartition_Shapes(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := newRawNet(t, memlink.Options{LockStep: true}, five...)
	defer r.n.Close()
	checkRound(t, r, all)

	require.NoError(t, r.n.Partition([]string{"n1", "n2"}, []string{"n3", "n4", "n5"}))
	checkRound(t, r, group(map[string]int{"n1": 1, "n2": 1, "n3": 2, "n4": 2, "n5": 2}))

	// Ports in no group are one group together.
	require.NoError(t, r.n.Partition([]string{"n1"}))
	checkRound(t, r, group(map[string]int{"n1": 1}))

	// Three groups, one of them named only by omission.
	require.NoError(t, r.n.Partition([]string{"n1", "n3"}, []string{"n5"}))
	checkRound(t, r, group(map[string]int{"n1": 1, "n3": 1, "n5": 2}))

	r.n.Heal()
	checkRound(t, r, all)

	// One-way: n2 no longer hears n1, n1 still hears n2.
	require.NoError(t, r.n.Cut("n1", "n2"))
	oneWay := func(from, to string) bool { return from != "n1" || to != "n2" }
	checkRound(t, r, oneWay)

	// A cut stays under a new partition; Heal ends both.
	require.NoError(t, r.n.Partition([]string{"n4"}))
	checkRound(t, r, func(from, to string) bool {
		return oneWay(from, to) && (from == "n4") == (to == "n4")
	})
	r.n.Heal()
	checkRound(t, r, all)

	// A port's own partition: nothing it sends passes, it still hears.
	r.ports["n3"].Partition()
	checkRound(t, r, func(from, to string) bool { return from != "n3" })
	r.ports["n3"].Heal()
	checkRound(t, r, all)

	assert.ErrorIs(t, r.n.Partition([]string{"n1", "nobody"}), memlink.ErrUnknownPort)
	assert.Error(t, r.n.Partition([]string{"n1"}, []string{"n2", "n1"}), "a port in two groups")
	assert.ErrorIs(t, r.n.Cut("n1", "nobody"), memlink.ErrUnknownPort)
	checkRound(t, r, all)
}

// TestHold_LockStep: DeliverNext passes over a held pair's frames, which
// wait in order and are delivered after Release; other pairs into the
// same port are not held.
func TestHold_LockStep(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := newRawNet(t, memlink.Options{LockStep: true}, "n1", "n2", "n3")
	defer r.n.Close()
	require.NoError(t, r.n.Hold("n1", "n2"))
	r.send(t, "n1", "n2", "1", "2")
	r.send(t, "n3", "n2", "x")
	r.send(t, "n1", "n3", "y")
	r.send(t, "n1", "n2", "3")
	assert.Equal(t, 5, r.n.Waiting())
	assert.Equal(t, []string{"n3→n2:x", "n1→n3:y"}, r.deliverAll())
	assert.Equal(t, 3, r.n.Waiting(), "the held frames wait")
	require.NoError(t, r.n.Release("n1", "n2"))
	assert.Equal(t, []string{"n1→n2:1", "n1→n2:2", "n1→n2:3"}, r.deliverAll())
	assert.Zero(t, r.n.Counters("", "").Dropped)

	// Port.Hold holds every pair from the port, made later or not.
	r.ports["n3"].Hold()
	r.send(t, "n3", "n1", "a")
	r.send(t, "n3", "n2", "b")
	r.send(t, "n2", "n3", "c")
	assert.Equal(t, []string{"n2→n3:c"}, r.deliverAll())
	r.ports["n3"].Release()
	assert.Equal(t, []string{"n3→n1:a", "n3→n2:b"}, r.deliverAll())
	assert.ErrorIs(t, r.n.Hold("n1", "nobody"), memlink.ErrUnknownPort)
}

// TestHold_RealTimeFillsThenWaits: on a real-time network a held pair
// keeps its frames, in order, up to QueueFrames; then its sender waits,
// while other pairs keep flowing; Release delivers all, nothing lost.
func TestHold_RealTimeFillsThenWaits(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := newRawNet(t, memlink.Options{QueueFrames: 4}, "a", "b", "c")
	defer r.n.Close()
	require.NoError(t, r.n.Hold("a", "b"))
	var want []string
	for i := range 10 {
		want = append(want, fmt.Sprint(i))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, m := range want {
			pkt := r.frameTo("a", "b", m)
			_, _ = r.ports["a"].WritePackets(listOf(pkt))
			pkt.DecRef()
		}
	}()
	require.Eventually(t, func() bool { return r.n.Counters("a", "b").Frames == 5 }, 5*time.Second, time.Millisecond,
		"four frames held and a fifth waiting")
	select {
	case <-done:
		t.Fatal("the sender of a full held pair did not wait")
	case <-time.After(100 * time.Millisecond):
	}
	r.send(t, "c", "b", "from c")
	require.Eventually(t, func() bool { return len(r.got("b")) == 1 }, 5*time.Second, time.Millisecond, "c→b is not held")
	assert.Empty(t, r.got("a"))
	require.NoError(t, r.n.Release("a", "b"))
	<-done
	require.Eventually(t, func() bool { return len(r.got("b")) == 11 }, 5*time.Second, time.Millisecond)
	rec := r.rec["b"]
	rec.mu.Lock()
	got := slices.DeleteFunc(slices.Clone(rec.got), func(s string) bool { return s == "from c" })
	rec.mu.Unlock()
	assert.Equal(t, want, got, "in order")
	assert.Zero(t, r.n.Counters("", "").Dropped)
}

// TestPartition_TCPAcrossGroups: a real-time transfer between groups
// survives a partition and arrives once it heals, while a transfer within
// a group runs during the partition.
func TestPartition_TCPAcrossGroups(t *testing.T) {
	defer goleak.VerifyNone(t)
	n, hosts := newHosts(t, memlink.Options{}, "n1", "n2", "n3")
	sent, got := transferBetween(t, hosts[0].st, hosts[2].st, hosts[2].a4, 4<<20, func() {
		require.NoError(t, n.Partition([]string{"n1"}, []string{"n2", "n3"}))
		s, g := transferBetween(t, hosts[1].st, hosts[2].st, hosts[2].a6, 1<<20, nil)
		assert.Equal(t, s, g, "within a group")
		time.Sleep(time.Second)
		n.Heal()
	})
	assert.Equal(t, sent, got, "across the groups, after the heal")
	assert.NotZero(t, n.Counters("n1", "n3").Cut)
	assert.Zero(t, n.Counters("n2", "n3").Cut)
	closeHosts(hosts)
}

func TestPartition_RejectsNames(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := newRawNet(t, memlink.Options{}, "a", "b", "c")
	defer r.n.Close()
	err := r.n.Partition([]string{"a"}, []string{"zz"})
	require.ErrorIs(t, err, memlink.ErrUnknownPort)
	assert.True(t, strings.Contains(err.Error(), `"zz"`), err.Error())
}
