// Package testutil holds fixtures shared by the tests of several packages:
// two stacks joined by a memlink, with fixed names and addresses.
package testutil

import (
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"
	"net/netip"
	"testing"
	"time"

	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// The fixed addresses of the two stacks of a Pair.
var (
	AddrA4 = netip.MustParseAddr("10.0.0.1")
	AddrB4 = netip.MustParseAddr("10.0.0.2")
	AddrA6 = netip.MustParseAddr("fd00:75::1")
	AddrB6 = netip.MustParseAddr("fd00:75::2")
)

// Pair is two stacks, A and B, joined by one memlink.
type Pair struct {
	A, B         *stack.Stack // the stacks, at AddrA4/AddrA6 and AddrB4/AddrB6
	LinkA, LinkB *memlink.End // their ends of the link
}

// NewPair builds a Pair with the given link options and TCP options for
// both stacks, and closes it when the test ends. Names "a" and "b" resolve
// on both stacks.
func NewPair(tb testing.TB, lo memlink.Options, tcp stack.TCPOptions) *Pair {
	tb.Helper()
	return newPair(tb, lo, tcp, nil)
}

// newPair is NewPair with an optional wrapper around end A's link (the
// Injector uses it).
func newPair(tb testing.TB, lo memlink.Options, tcp stack.TCPOptions, wrapA func(netstack.LinkEndpoint) netstack.LinkEndpoint) *Pair {
	tb.Helper()
	la, lb, err := memlink.New(lo)
	if err != nil {
		tb.Fatalf("memlink.New: %v", err)
	}
	hosts := map[string][]netip.Addr{"a": {AddrA4, AddrA6}, "b": {AddrB4, AddrB6}}
	if tcp.TimeWait == 0 {
		tcp.TimeWait = time.Second
	}
	mk := func(l netstack.LinkEndpoint, a4, a6 netip.Addr) *stack.Stack {
		st, err := stack.New(stack.Options{
			NICs: []stack.NIC{{Name: "eth0", Link: l, Addresses: []netip.Prefix{
				netip.PrefixFrom(a4, 24), netip.PrefixFrom(a6, 64)}}},
			Hosts: hosts,
			TCP:   tcp,
			Clock: lo.Clock,
		})
		if err != nil {
			tb.Fatalf("stack.New: %v", err)
		}
		return st
	}
	var linkA netstack.LinkEndpoint = la
	if wrapA != nil {
		linkA = wrapA(la)
	}
	p := &Pair{LinkA: la, LinkB: lb}
	p.A = mk(linkA, AddrA4, AddrA6)
	p.B = mk(lb, AddrB4, AddrB6)
	tb.Cleanup(p.Close)
	return p
}

// Close closes both stacks (and with them the link).
func (p *Pair) Close() {
	p.A.Close()
	p.B.Close()
}
