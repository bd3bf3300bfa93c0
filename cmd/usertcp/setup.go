package main

import (
	"fmt"
	"io"

	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/usertcp/usertcp/config"
	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/link/tap"
	"github.com/usertcp/usertcp/stack"
)

// world is what a config file describes, built: the link, the stacks and a
// gentcp node per stack with the configured socket defaults.
type world struct {
	cfg     *config.Config
	link    [2]*memlink.End
	network *memlink.Network // the network of demo --hosts (link is then unused)
	tap     *tap.Endpoint    // the TAP device, on a tap link (link is then unused)
	stacks  map[string]*stack.Stack
	nodes   map[string]*gentcp.Node
}

// loadConfig reads path, or the embedded default when path is empty,
// checking socket options with gentcp's own parser.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path, config.WithOptionCheck(func(term string) error {
		_, err := gentcp.ParseOptions(term)
		return err
	}))
}

// build turns cfg into running stacks. pcap, if not nil, captures the wire.
func build(cfg *config.Config, pcap io.Writer) (*world, error) {
	if cfg.Link.Kind == config.Tap {
		// In the process's own network namespace; serve and connect take
		// --netns and call buildTap themselves.
		return buildTap(cfg, pcap, "")
	}
	if cfg.Link.Kind != config.Memlink {
		return nil, fmt.Errorf("link kind %q is not supported by this command yet (use memlink)", cfg.Link.Kind)
	}
	l := cfg.Link
	lo := memlinkOptions(l, pcap)
	a, b, err := memlink.New(lo)
	if err != nil {
		return nil, err
	}
	w := &world{cfg: cfg, link: [2]*memlink.End{a, b}, stacks: map[string]*stack.Stack{}, nodes: map[string]*gentcp.Node{}}
	defaults, err := socketDefaults(cfg)
	if err != nil {
		w.close()
		return nil, err
	}
	used := map[config.End]bool{}
	for i, sc := range cfg.Stacks {
		var end *memlink.End
		switch sc.End {
		case config.EndA:
			end = a
		case config.EndB:
			end = b
		default:
			w.close()
			return nil, fmt.Errorf("stack %q: end %q is not an end of a memlink", sc.Name, sc.End)
		}
		if used[sc.End] {
			w.close()
			return nil, fmt.Errorf("stack %q: end %q is taken", sc.Name, sc.End)
		}
		used[sc.End] = true
		st, err := stack.New(stackOptions(sc, end, uint64(l.Seed)*16+uint64(i)))
		if err != nil {
			w.close()
			return nil, fmt.Errorf("stack %q: %w", sc.Name, err)
		}
		w.stacks[sc.Name] = st
		if w.nodes[sc.Name], err = defaults.node(st, i); err != nil {
			w.close()
			return nil, err
		}
	}
	return w, nil
}

// memlinkOptions turns the config's link into memlink.Options, one
// conversion for a link (build), a network (demo --hosts) and a
// simulation (which sets the seed itself).
func memlinkOptions(l config.Link, pcap io.Writer) memlink.Options {
	lo := memlink.Options{
		MTU:       uint32(l.MTU),
		Seed:      uint64(l.Seed),
		Loss:      l.Loss,
		Duplicate: l.Duplicate,
		Corrupt:   l.Corrupt,
		Reorder:   l.Reorder,
		Latency:   l.Latency,
		Jitter:    l.Jitter,
		Rate:      int64(l.Rate),
		Pcap:      pcap,

		JitterReorders: l.JitterReorders,
	}
	if l.Ethernet != nil {
		lo.Ethernet = *l.Ethernet
	}
	if l.Offload != nil && !*l.Offload {
		lo.NoGSO, lo.NoGRO = true, true
	}
	if l.ChecksumOffload != nil {
		lo.ChecksumOffload = *l.ChecksumOffload
	} else {
		// Offload is free speed, but only a link that cannot corrupt
		// frames may skip checksums.
		lo.ChecksumOffload = l.Corrupt == 0
	}
	return lo
}

// nodeDefaults are the config's default socket options, parsed once for
// every node.
type nodeDefaults struct {
	connect, listen []gentcp.Option
}

func socketDefaults(cfg *config.Config) (nodeDefaults, error) {
	var d nodeDefaults
	var err error
	if d.connect, err = gentcp.ParseOptions(orEmpty(cfg.Sockets.ConnectOptions)); err != nil {
		return d, fmt.Errorf("sockets.connect_options: %w", err)
	}
	if d.listen, err = gentcp.ParseOptions(orEmpty(cfg.Sockets.ListenOptions)); err != nil {
		return d, fmt.Errorf("sockets.listen_options: %w", err)
	}
	return d, nil
}

// node makes the gentcp node of stack st, the i-th in config order: its
// pids start with i, so that they differ from stack to stack.
func (d nodeDefaults) node(st *stack.Stack, i int) (*gentcp.Node, error) {
	n := gentcp.NewNode(st)
	n.SetNumber(uint32(i))
	if err := n.SetDefaults(d.connect, d.listen); err != nil {
		return nil, err
	}
	return n, nil
}

func orEmpty(s string) string {
	if s == "" {
		return "[]"
	}
	return s
}

// stackOptions converts a config stack into stack.Options.
func stackOptions(sc config.Stack, end netstack.LinkEndpoint, seed uint64) stack.Options {
	o := stack.Options{
		NICs:       []stack.NIC{{Name: "eth0", Link: end, Addresses: sc.Addresses}},
		Hosts:      sc.Hosts,
		Forwarding: sc.Forwarding,
		RandSource: stack.SeededSource(seed),
	}
	for _, r := range sc.Routes {
		o.Routes = append(o.Routes, stack.Route{Dest: r.Dest, Gateway: r.Gateway, NIC: "eth0"})
	}
	t := sc.TCP
	o.TCP = stack.TCPOptions{
		CongestionControl: t.CongestionControl,
		SendBuffer:        stack.BufferRange(t.SendBuffer),
		ReceiveBuffer:     stack.BufferRange(t.ReceiveBuffer),
		MinRTO:            t.MinRTO,
		MaxRTO:            t.MaxRTO,
		TimeWait:          t.TimeWait,
		KeepaliveIdle:     t.KeepaliveIdle,
		KeepaliveInterval: t.KeepaliveInterval,
		KeepaliveCount:    t.KeepaliveCount,
	}
	if t.SACK != nil {
		o.TCP.NoSACK = !*t.SACK
	}
	if t.RACK != nil {
		o.TCP.RACK = *t.RACK
	}
	if t.ModerateReceiveBuffer != nil {
		o.TCP.NoModerateReceiveBuffer = !*t.ModerateReceiveBuffer
	}
	return o
}

func (w *world) close() {
	for _, st := range w.stacks {
		st.Close()
	}
	// Ends not attached to a stack are closed here; closing twice is
	// harmless.
	for _, e := range w.link {
		if e != nil {
			e.Close()
		}
	}
	if w.network != nil {
		w.network.Close()
	}
}
