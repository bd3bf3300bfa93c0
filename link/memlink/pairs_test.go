package memlink_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/usertcp/usertcp/link/delay"
	"github.com/usertcp/usertcp/link/fault"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/link/pcap"
)

// TestSetFaults_PerPair: a pair's own faults touch only that pair; a
// port's apply to every pair from it; bad configurations are refused.
func TestSetFaults_PerPair(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := newRawNet(t, memlink.Options{LockStep: true}, "n1", "n2", "n3")
	defer r.n.Close()
	require.NoError(t, r.n.SetFaults("n1", "n2", fault.Config{Loss: 1}))
	checkRoundLost(t, r, func(from, to string) bool { return from != "n1" || to != "n2" })
	c := r.n.Counters("n1", "n2")
	assert.Equal(t, uint64(1), c.Dropped)
	assert.Zero(t, c.Cut, "a loss is no cut")

	require.NoError(t, r.ports["n3"].SetFaults(fault.Config{Duplicate: 1}))
	r.reset()
	r.sendAll(t)
	r.deliverAll()
	assert.Equal(t, []string{"n2→n1", "n3→n1", "n3→n1"}, r.got("n1"), "n3's frames twice")
	assert.Equal(t, []string{"n3→n2", "n3→n2"}, r.got("n2"), "n1→n2 still lost")
	assert.Equal(t, uint64(2), r.n.Counters("n3", "").Duplicated)

	// The pair's own setting wins over the port's until the port's is set again.
	require.NoError(t, r.n.SetFaults("n3", "n1", fault.Config{}))
	r.reset()
	r.sendAll(t)
	r.deliverAll()
	assert.Equal(t, []string{"n2→n1", "n3→n1"}, r.got("n1"))

	assert.ErrorIs(t, r.n.SetFaults("n1", "n2", fault.Config{Loss: 2}), fault.ErrInvalidConfig)
	assert.ErrorIs(t, r.n.SetFaults("n1", "zz", fault.Config{}), memlink.ErrUnknownPort)
	assert.ErrorIs(t, r.n.SetDelay("n1", "n2", delay.Config{Latency: -1}), delay.ErrInvalidConfig)
	assert.ErrorIs(t, r.ports["n1"].SetFaults(fault.Config{Loss: -1}), fault.ErrInvalidConfig)

	off := newRawNet(t, memlink.Options{ChecksumOffload: true}, "a", "b")
	defer off.n.Close()
	assert.Error(t, off.n.SetFaults("a", "b", fault.Config{Corrupt: 0.1}), "Corrupt without checksums")
}

// checkRoundLost is checkRound for losses: passes says which pairs deliver.
func checkRoundLost(t *testing.T, r *rawNet, passes func(from, to string) bool) {
	t.Helper()
	r.reset()
	r.sendAll(t)
	r.deliverAll()
	want := expect(r.names, passes)
	for _, name := range r.names {
		assert.Equal(t, want[name], r.got(name), "what %s received", name)
	}
}

// TestSetDelay_PerPair: on a virtual clock, a pair's latency holds only
// its own frames back until the clock reaches it.
func TestSetDelay_PerPair(t *testing.T) {
	defer goleak.VerifyNone(t)
	clock := faketime.NewManualClock()
	r := newRawNet(t, memlink.Options{LockStep: true, Clock: clock}, "n1", "n2", "n3")
	defer r.n.Close()
	require.NoError(t, r.n.SetDelay("n1", "n3", delay.Config{Latency: 10 * time.Millisecond}))
	r.send(t, "n1", "n3", "slow")
	r.send(t, "n1", "n2", "fast")
	r.send(t, "n3", "n1", "back")
	assert.Equal(t, []string{"n1→n2:fast", "n3→n1:back"}, r.deliverAll())
	clock.Advance(9 * time.Millisecond)
	assert.Empty(t, r.deliverAll())
	clock.Advance(time.Millisecond)
	assert.Equal(t, []string{"n1→n3:slow"}, r.deliverAll())

	// Port.SetDelay: every pair from n2, the pair's own setting replaced.
	require.NoError(t, r.ports["n2"].SetDelay(delay.Config{Latency: 5 * time.Millisecond}))
	r.send(t, "n2", "n1", "x")
	r.send(t, "n2", "n3", "y")
	r.send(t, "n1", "n3", "z")
	assert.Empty(t, r.deliverAll())
	clock.Advance(5 * time.Millisecond)
	// Two delay lines due at one instant: the manual clock fires their
	// timers in no particular order.
	assert.ElementsMatch(t, []string{"n2→n1:x", "n2→n3:y"}, r.deliverAll())
	clock.Advance(5 * time.Millisecond)
	assert.Equal(t, []string{"n1→n3:z"}, r.deliverAll())
}

// lossPattern sends 200 frames along each pair of order (in that order,
// pair by pair) over a network with 50% loss and returns which arrived,
// per pair.
func lossPattern(t *testing.T, order [][2]string) map[string]string {
	t.Helper()
	r := newRawNet(t, memlink.Options{LockStep: true, Seed: 7, Loss: 0.5}, "n1", "n2", "n3")
	defer r.n.Close()
	for _, p := range order {
		for i := range 200 {
			r.send(t, p[0], p[1], fmt.Sprint(i))
		}
	}
	got := map[string]string{}
	for _, f := range r.deliverAll() {
		pair, msg, _ := strings.Cut(f, ":")
		got[pair] += msg + " "
	}
	return got
}

// TestPairStreams_IndependentOfOrder: each pair draws from its own stream,
// so what a pair loses does not depend on which pairs carried traffic
// first, and two pairs do not lose the same frames.
func TestPairStreams_IndependentOfOrder(t *testing.T) {
	defer goleak.VerifyNone(t)
	first := lossPattern(t, [][2]string{{"n1", "n3"}, {"n2", "n3"}, {"n3", "n1"}})
	second := lossPattern(t, [][2]string{{"n3", "n1"}, {"n2", "n3"}, {"n1", "n3"}})
	require.Len(t, first, 3)
	assert.Equal(t, first, second)
	assert.NotEqual(t, first["n1→n3"], first["n2→n3"], "two pairs share a stream")
}

// TestCapture_NetworkAndPort: the network's capture holds every frame that
// entered it, once, from concurrent senders, lost ones and unroutable
// ones included; a port's capture holds what it sent and what reached it.
func TestCapture_NetworkAndPort(t *testing.T) {
	defer goleak.VerifyNone(t)
	var all, of2 bytes.Buffer
	r := newRawNet(t, memlink.Options{Pcap: &all}, "n1", "n2", "n3")
	defer r.n.Close()
	require.NoError(t, r.ports["n2"].Capture(&of2))
	require.NoError(t, r.n.SetFaults("n1", "n2", fault.Config{Loss: 1}))
	var wg sync.WaitGroup
	for _, from := range r.names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				for _, to := range r.names {
					if to != from {
						pkt := r.frameTo(from, to, fmt.Sprintf("%s→%s %d", from, to, i))
						_, _ = r.ports[from].WritePackets(listOf(pkt))
						pkt.DecRef()
					}
				}
			}
		}()
	}
	wg.Wait()
	r.send(t, "n1", "10.0.0.99", "to nobody")
	// n2 receives 50 from n3 (n1's are lost).
	require.Eventually(t, func() bool { return len(r.got("n2")) == 50 }, 5*time.Second, time.Millisecond)
	r.n.Close()

	recs, lt, err := pcap.ReadFile(&all)
	require.NoError(t, err)
	assert.Equal(t, pcap.LinkTypeRaw, lt)
	seen := map[string]int{}
	for _, rec := range recs {
		seen[string(header.IPv4(rec.Data).Payload())]++
	}
	assert.Len(t, recs, 301)
	assert.Len(t, seen, 301, "a frame recorded twice")
	assert.Equal(t, 1, seen["n1→n2 7"], "a lost frame entered the network")
	assert.Equal(t, 1, seen["to nobody"])

	recs, _, err = pcap.ReadFile(&of2)
	require.NoError(t, err)
	var sent, got int
	for _, rec := range recs {
		p := string(header.IPv4(rec.Data).Payload())
		switch {
		case strings.HasPrefix(p, "n2→"):
			sent++
		case strings.HasPrefix(p, "n3→n2"):
			got++
		default:
			t.Errorf("n2's capture has %q", p)
		}
	}
	assert.Equal(t, 100, sent)
	assert.Equal(t, 50, got)
}
