package memlink_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/usertcp/usertcp/link/fault"
	"github.com/usertcp/usertcp/link/memlink"
)

// sentLog keeps what an observer was told.
type sentLog struct {
	mu  sync.Mutex
	got []memlink.Sent
}

func (l *sentLog) add(s memlink.Sent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, s)
}

// payload is the message a Sent carries (the IPv4 payload of its bytes).
func payload(s memlink.Sent) string { return string(header.IPv4(s.Bytes).Payload()) }

// TestObserve_EveryFateOfAFrame: on a lock-step network of three ports
// the observer hears of each frame with its fate, one call per frame of
// a batch, in order: lost to Loss, cut, duplicated, corrupted (its bytes
// as sent, the delivery differs by one bit), unroutable, passed; and
// DeliverNext says which frames a Hold kept back and which reached a
// closed port.
func TestObserve_EveryFateOfAFrame(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := newRawNet(t, memlink.Options{LockStep: true}, "n1", "n2", "n3")
	var log sentLog
	r.n.Observe(log.add)
	require.NoError(t, r.n.SetFaults("n1", "n2", fault.Config{Loss: 1}))
	require.NoError(t, r.n.Cut("n1", "n3"))
	require.NoError(t, r.n.SetFaults("n2", "n1", fault.Config{Duplicate: 1}))
	require.NoError(t, r.n.SetFaults("n2", "n3", fault.Config{Corrupt: 1}))

	r.send(t, "n1", "n2", "lost 1", "lost 2")
	r.send(t, "n1", "n3", "cut")
	r.send(t, "n2", "n1", "dup")
	r.send(t, "n2", "n3", "corrupt")
	r.send(t, "n3", "10.0.0.99", "nowhere")
	r.send(t, "n3", "n2", "clean")

	log.mu.Lock()
	got := append([]memlink.Sent(nil), log.got...)
	log.mu.Unlock()
	require.Len(t, got, 7)
	type fate struct {
		from, to, msg                       string
		dropped, cut, dup, corrupt, unroute bool
	}
	var fates []fate
	for _, s := range got {
		fates = append(fates, fate{s.From, s.To, payload(s), s.Dropped, s.Cut, s.Duplicated, s.Corrupted, s.Unroutable})
	}
	assert.Equal(t, []fate{
		{"n1", "n2", "lost 1", true, false, false, false, false},
		{"n1", "n2", "lost 2", true, false, false, false, false},
		{"n1", "n3", "cut", false, true, false, false, false},
		{"n2", "n1", "dup", false, false, true, false, false},
		{"n2", "n3", "corrupt", false, false, false, true, false},
		{"n3", "", "nowhere", false, false, false, false, true},
		{"n3", "n2", "clean", false, false, false, false, false},
	}, fates)

	var delivered []memlink.Frame
	for {
		f, ok := r.n.DeliverNext()
		if !ok {
			break
		}
		delivered = append(delivered, f)
	}
	require.Len(t, delivered, 4, "dup twice, corrupt, clean")
	assert.Equal(t, got[3].Bytes, delivered[0].Bytes)
	assert.Equal(t, got[3].Bytes, delivered[1].Bytes)
	diff := 0
	for i := range got[4].Bytes {
		for x := got[4].Bytes[i] ^ delivered[2].Bytes[i]; x != 0; x &= x - 1 {
			diff++
		}
	}
	assert.Equal(t, 1, diff, "bits differing between the corrupted frame sent and delivered")
	for _, f := range delivered {
		assert.False(t, f.Held || f.Lost, "%s→%s", f.From, f.To)
	}

	// A held pair's frame is passed over, then delivered with Held; a
	// frame to a port closed since is Lost.
	require.NoError(t, r.n.Hold("n3", "n1"))
	r.send(t, "n3", "n1", "held")
	require.NoError(t, r.n.SetFaults("n1", "n2", fault.Config{}))
	r.send(t, "n1", "n2", "past the hold")
	f, ok := r.n.DeliverNext()
	require.True(t, ok)
	assert.Equal(t, "past the hold", string(header.IPv4(f.Bytes).Payload()))
	assert.False(t, f.Held, "a frame of a pair not held")
	require.NoError(t, r.n.Release("n3", "n1"))
	f, ok = r.n.DeliverNext()
	require.True(t, ok)
	assert.Equal(t, "held", string(header.IPv4(f.Bytes).Payload()))
	assert.True(t, f.Held)
	assert.False(t, f.Lost)

	r.send(t, "n3", "n2", "after close")
	r.ports["n2"].Close()
	f, ok = r.n.DeliverNext()
	require.True(t, ok)
	assert.Equal(t, "n2", f.To)
	assert.True(t, f.Lost)
	assert.False(t, f.Held)
	r.n.Observe(nil)
	r.send(t, "n3", "n1", "unobserved")
	log.mu.Lock()
	assert.Len(t, log.got, 10, "nothing after Observe(nil)")
	log.mu.Unlock()
}
