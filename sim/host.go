package sim

import (
	"fmt"
	"net/netip"

	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/stack"
)

// Host describes one simulated host.
type Host struct {
	// Name resolves to the host's addresses on every host; the default
	// is "a" or "b".
	Name string
	// Addresses default to 10.0.0.1/24 for A and 10.0.0.2/24 for B.
	Addresses []netip.Prefix
	// TCP tunes TCP (netstack's defaults when zero).
	TCP stack.TCPOptions
}

// Stack is the former name of Host.
type Stack = Host

// host is one simulated host: its stack, its node and its view of the
// clock.
type host struct {
	index int
	name  string
	spec  Host // defaults filled in
	link  netstack.LinkEndpoint
	clock *hostClock
	stack *stack.Stack
	node  *gentcp.Node
	up    bool // the stack runs (it has not crashed or closed)
	dirty bool // on Sim.dirty
}

// boot starts h's stack and node on h.link; table resolves every host's
// name.
func (s *Sim) boot(h *host, table map[string][]netip.Addr) error {
	h.clock = s.clock.view(h.index)
	st, err := stack.New(stack.Options{
		NICs:  []stack.NIC{{Name: "eth0", Link: h.link, Addresses: h.spec.Addresses}},
		Hosts: table,
		TCP:   h.spec.TCP,
		Clock: h.clock,
		// Loopback delivers inline, in the sender's goroutine, so a
		// process talking to its own stack would race the processor.
		NoLoopback: true,
		RandSource: stack.SeededSource(splitmix(s.opts.Seed, 2*uint64(h.index)+1)),
		SecureRNG:  stack.SeededRNG(splitmix(s.opts.Seed, 2*uint64(h.index)+2)),
	})
	if err != nil {
		return fmt.Errorf("sim: stack %q: %w", h.name, err)
	}
	h.stack = st
	h.node = gentcp.NewNode(st)
	h.node.SetScheduler(nodeScheduler{s: s.sched, host: h.index, node: h.name})
	h.up = true
	s.touch(h)
	return nil
}
