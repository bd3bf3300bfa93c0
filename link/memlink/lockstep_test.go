package memlink_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/usertcp/usertcp/internal/testutil"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// lockStepPair is two stacks on a lock-step link; nothing moves until the
// test calls DeliverNext.
func lockStepPair(t *testing.T) (a, b *stack.Stack, la, lb *memlink.End) {
	t.Helper()
	la, lb, err := memlink.New(memlink.Options{LockStep: true})
	require.NoError(t, err)
	mk := func(l *memlink.End, addr string) *stack.Stack {
		st, err := stack.New(stack.Options{NICs: []stack.NIC{{Name: "eth0", Link: l,
			Addresses: []netip.Prefix{netip.MustParsePrefix(addr)}}}})
		require.NoError(t, err)
		return st
	}
	return mk(la, "10.0.0.1/24"), mk(lb, "10.0.0.2/24"), la, lb
}

func icmpType(t *testing.T, f memlink.Frame) header.ICMPv4Type {
	t.Helper()
	ip := header.IPv4(f.Bytes)
	require.Equal(t, uint8(header.ICMPv4ProtocolNumber), ip.Protocol())
	return header.ICMPv4(ip.Payload()).Type()
}

// TestLockStep_DeliversOnlyOnDemandInOrder: a ping's request waits on
// the wire until DeliverNext; the reply follows it; no goroutine of the
// link runs.
func TestLockStep_DeliversOnlyOnDemandInOrder(t *testing.T) {
	defer goleak.VerifyNone(t)
	a, b, la, lb := lockStepPair(t)
	done := make(chan error, 1)
	go func() {
		_, err := testutil.Ping(b, testutil.AddrA4, 10*time.Second)
		done <- err
	}()
	require.Eventually(t, func() bool { return la.Waiting() == 1 }, 5*time.Second, time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	assert.Equal(t, 1, lb.Waiting(), "either end sees the one queue")
	f, ok := la.DeliverNext()
	require.True(t, ok)
	assert.Equal(t, "b", f.From)
	assert.Equal(t, header.ICMPv4Echo, icmpType(t, f))
	// A answers inline, in this goroutine: the reply is queued already.
	f, ok = lb.DeliverNext()
	require.True(t, ok)
	assert.Equal(t, "a", f.From)
	assert.Equal(t, header.ICMPv4EchoReply, icmpType(t, f))
	require.NoError(t, <-done)
	_, ok = la.DeliverNext()
	assert.False(t, ok)
	assert.Equal(t, uint64(1), la.Counters().Delivered)
	assert.Equal(t, uint64(1), lb.Counters().Delivered)
	a.Close()
	b.Close()
}

// TestLockStep_HoldSkipsADirection: DeliverNext passes over a held
// direction's frames and delivers them, in order, after Release.
func TestLockStep_HoldSkipsADirection(t *testing.T) {
	defer goleak.VerifyNone(t)
	a, b, la, lb := lockStepPair(t)
	lb.Hold()
	done := make(chan error, 1)
	go func() {
		_, err := testutil.Ping(b, testutil.AddrA4, 10*time.Second)
		done <- err
	}()
	require.Eventually(t, func() bool { return la.Waiting() == 1 }, 5*time.Second, time.Millisecond)
	_, ok := la.DeliverNext()
	assert.False(t, ok, "b→a is held")
	lb.Release()
	f, ok := la.DeliverNext()
	require.True(t, ok)
	assert.Equal(t, "b", f.From)
	_, ok = la.DeliverNext()
	require.True(t, ok)
	require.NoError(t, <-done)
	a.Close()
	b.Close()
}

// TestHold_PumpedLink: on an ordinary link a held direction delivers
// nothing until Release, and loses nothing.
func TestHold_PumpedLink(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := testutil.NewPair(t, memlink.Options{}, stack.TCPOptions{})
	p.LinkB.Hold()
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := testutil.Ping(p.B, testutil.AddrA4, 10*time.Second)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("ping returned while b→a was held: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	p.LinkB.Release()
	require.NoError(t, <-done)
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
	assert.Zero(t, p.LinkB.Counters().Dropped)
	p.Close()
}
