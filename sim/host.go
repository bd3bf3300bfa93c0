package sim

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// ErrUnknownHost is the error of a call given a name no host has; test
// with errors.Is.
var ErrUnknownHost = errors.New("sim: unknown host")

// Host describes one simulated host.
type Host struct {
	// Name resolves to the host's addresses on every host. The default
	// is "a" and "b" for Options.A and B, "n1", "n2", ... for
	// Options.Hosts (by position).
	Name string
	// Addresses default to 10.0.0.1/24 for A and 10.0.0.2/24 for B, and
	// to 10.0.0.1/16, 10.0.0.2/16, ... for Options.Hosts (by position:
	// the 256th is 10.0.1.0/16).
	Addresses []netip.Prefix
	// TCP tunes TCP (netstack's defaults when zero).
	TCP stack.TCPOptions
	// Start, if set, is the host's first process, started as a daemon
	// when the host boots: at the start of the run and at every Restart.
	// It starts the host's services (with Node.Spawn, whose processes
	// are daemons too); an error it returns while the host is up is a
	// failure of the run.
	Start func(p *gentcp.Process) error
}

// Stack is the former name of Host.
type Stack = Host

// host is one simulated host: its stack, its node and its view of the
// clock, for its current boot.
type host struct {
	index int
	name  string
	spec  Host // defaults filled in
	// port is the host's attachment to the network, named portName ("a"
	// and "b" on a two-host link, whose seeds predate networks; the
	// host's name otherwise).
	port     *memlink.Port
	portName string
	clock    *hostClock
	stack    *stack.Stack
	node     *gentcp.Node
	boots    uint64 // how many times the host booted
	crashes  int    // how many times it crashed
	up       bool   // the stack runs (it has not crashed or closed)
	dirty    bool   // on Sim.dirty
}

// addrs returns the addresses frames reach h by.
func (h *host) addrs() []netip.Addr {
	var out []netip.Addr
	for _, p := range h.spec.Addresses {
		out = append(out, p.Addr())
	}
	return out
}

// defaultAddress is the address of the i-th host of Options.Hosts:
// 10.0.0.0/16 plus i+1.
func defaultAddress(i int) netip.Prefix {
	n := uint32(i + 1)
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}), 16)
}

// boot starts a fresh stack and node for h: a new port on the network
// (the first time, the one made for it), new random streams (the boot
// count is mixed into the seeds, so sequence numbers and ports differ
// from the last boot), and h's start process.
func (s *Sim) boot(h *host) error {
	if h.port == nil {
		p, err := s.net.AddPort(h.portName, h.addrs()...)
		if err != nil {
			return fmt.Errorf("sim: host %q: %w", h.name, err)
		}
		h.port = p
	}
	h.clock = s.clock.view(h.index)
	seed := func(k uint64) uint64 {
		z := splitmix(s.opts.Seed, 2*uint64(h.index)+k)
		if h.boots > 0 {
			z = splitmix(z, h.boots)
		}
		return z
	}
	st, err := stack.New(stack.Options{
		NICs:  []stack.NIC{{Name: "eth0", Link: h.port, Addresses: h.spec.Addresses}},
		Hosts: s.table,
		TCP:   h.spec.TCP,
		Clock: h.clock,
		// Loopback delivers inline, in the sender's goroutine, so a
		// process talking to its own stack would race the processor.
		NoLoopback: true,
		RandSource: stack.SeededSource(seed(1)),
		SecureRNG:  stack.SeededRNG(seed(2)),
	})
	if err != nil {
		h.port.Close()
		return fmt.Errorf("sim: host %q: %w", h.name, err)
	}
	h.boots++
	h.stack = st
	h.node = gentcp.NewNode(st)
	h.node.SetScheduler(nodeScheduler{s: s.sched, host: h.index, node: h.name, calls: s.callFailed(h, h.boots)})
	s.nodes[h.node] = h
	h.up = true
	s.journal.booted(h)
	s.touch(h)
	if h.spec.Start != nil {
		s.spawn(h.node, daemonMode, h.spec.Start)
	}
	return nil
}

// Host returns the gen_tcp node of the named host (of its current boot:
// Restart gives it a new one), or nil if no host has the name.
func (s *Sim) Host(name string) *gentcp.Node {
	if h := s.byName[name]; h != nil {
		return h.node
	}
	return nil
}

// Hosts returns the names of the hosts, in the order of Options.Hosts
// ("a" and "b" without it).
func (s *Sim) Hosts() []string {
	out := make([]string, len(s.hosts))
	for i, h := range s.hosts {
		out[i] = h.name
	}
	return out
}

// Up reports whether the named host is running: not crashed, or
// restarted since.
func (s *Sim) Up(name string) bool {
	h := s.byName[name]
	return h != nil && h.up
}

func (s *Sim) host(name string) (*host, error) {
	if h := s.byName[name]; h != nil {
		return h, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownHost, name)
}

// Crash makes the named host vanish at once, as a machine that loses
// power: it sends nothing more (not even a RST), the frames on their way
// to it are lost and so are those sent to it later, and its processes
// exit (as Process.Exit: their gentcp calls fail, Receive returns
// gentcp.ErrExited, Sleep returns at once; a process must then return).
// Errors its processes return after the crash are not failures of the
// run. Its peers see what they would on a real network: silence, then
// their own timeouts. Crash of a host that is down does nothing. It may
// be called from an event or a process.
func (s *Sim) Crash(name string) error {
	h, err := s.host(name)
	if err != nil || !h.up {
		return err
	}
	h.up = false
	h.crashes++
	s.journal.crashed(h, s.Now())
	s.journal.event(Event{Kind: EventCrash, Host: h.name})
	// Cut the port off first: whatever the stack sends from here on (FIN
	// or RST as sockets close) goes nowhere. Closing the stack closes the
	// port (the stack owns it), and frames still on their way to it are
	// dropped when they arrive. The port's cut ends with it, so that a
	// restarted port of the same name is not cut.
	h.port.Partition()
	for _, p := range s.sched.processes(h.index) {
		p.Exit()
	}
	h.stack.Close()
	h.port.Heal()
	return nil
}

// Restart boots the named host again: a fresh stack with the same name
// and addresses, on a new port in the same place of the network (the
// pair settings stay), with new random streams, so new initial sequence
// numbers and ports, and no sockets. Its Start process runs again. A
// host that is up crashes first (a reboot). A peer that still has a
// connection to the old boot gets a RST when its next segment arrives.
func (s *Sim) Restart(name string) error {
	h, err := s.host(name)
	if err != nil {
		return err
	}
	if err := s.Crash(name); err != nil {
		return err
	}
	h.port = nil
	if err := s.boot(h); err != nil {
		return err
	}
	s.journal.event(Event{Kind: EventRestart, Host: h.name})
	return nil
}

// Go starts f as a new process on node n, as n.Spawn does, and records
// a non-nil error it returns as a failure of the run. Run waits for it
// to return.
func (s *Sim) Go(n *gentcp.Node, f func(p *gentcp.Process) error) *gentcp.Process {
	return s.spawn(n, awaitedMode, f)
}

// Daemon starts f as a new process on node n, as Go does, but the run
// does not wait for it: a server that accepts forever. Run ends when
// every process started with Go has returned, and then stops the
// daemons (they exit: their sockets close). The processes a daemon
// spawns with Node.Spawn are daemons too (a server's handlers), and so
// are a host's Start process and those it spawns; Node.Spawn from
// anywhere else starts a process the run waits for, as Go does. An error
// a daemon returns while the run goes on is a failure of the run.
func (s *Sim) Daemon(n *gentcp.Node, f func(p *gentcp.Process) error) *gentcp.Process {
	return s.spawn(n, daemonMode, f)
}

func (s *Sim) spawn(n *gentcp.Node, mode spawnMode, f func(p *gentcp.Process) error) *gentcp.Process {
	h := s.hostOf(n)
	crashes := h.crashes
	prev := s.sched.setMode(mode)
	defer s.sched.setMode(prev)
	return n.Spawn(func(p *gentcp.Process) {
		err := f(p)
		name := h.name + " " + p.String()
		if err != nil && h.crashes == crashes {
			pe := &ProcessError{Process: name, At: s.Now(), Err: err}
			if s.phase == phaseRunning {
				s.journal.event(Event{Kind: EventError, Host: h.name, Text: pe.Process + ": " + err.Error()})
			}
			s.fail(pe)
			return
		}
		if s.phase == phaseRunning {
			text := name
			if err != nil {
				text += ": " + err.Error()
			}
			s.journal.event(Event{Kind: EventExit, Host: h.name, Text: text})
		}
	})
}

// hostOf returns the host whose node (of any boot) n is.
func (s *Sim) hostOf(n *gentcp.Node) *host {
	if h := s.nodes[n]; h != nil {
		return h
	}
	panic("sim: the node is not one of this simulation's")
}
