package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/usertcp/usertcp/config"
	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// demo --hosts N: a server and N-1 clients on one memlink network.

// maxDemoHosts bounds --hosts: the scale tests go to a thousand
// hosts, and every host is a whole netstack stack in this process.
const maxDemoHosts = 1000

// demoHosts are the stacks of demo --hosts n: "server" and "client1" to
// "client<n-1>", host i at 10.0.0.i+1/16 and fd00:75::i+1/64 (the 256th is
// 10.0.1.0), each knowing the others it talks to by name. The server takes
// the TCP settings of the config's first stack, the clients those of its
// second; routes and forwarding, which name the config's own addresses,
// are not taken.
func demoHosts(cfg *config.Config, n int) ([]config.Stack, error) {
	if len(cfg.Stacks) < 2 {
		return nil, errors.New("the demo needs two stacks in the config: the server's and the clients' settings")
	}
	hosts := make([]config.Stack, n)
	for i := range hosts {
		k := i + 1
		v4 := netip.AddrFrom4([4]byte{10, 0, byte(k >> 8), byte(k)})
		v6 := netip.MustParseAddr("fd00:75::").As16()
		v6[14], v6[15] = byte(k>>8), byte(k)
		h := config.Stack{
			Name:      fmt.Sprintf("client%d", i),
			Addresses: []netip.Prefix{netip.PrefixFrom(v4, 16), netip.PrefixFrom(netip.AddrFrom16(v6), 64)},
			TCP:       cfg.Stacks[1].TCP,
		}
		if i == 0 {
			h.Name, h.TCP = "server", cfg.Stacks[0].TCP
		}
		hosts[i] = h
	}
	server := addrsOf(hosts[0])
	hosts[0].Hosts = map[string][]netip.Addr{}
	for _, c := range hosts[1:] {
		hosts[0].Hosts[c.Name] = addrsOf(c)
	}
	for i := 1; i < n; i++ {
		hosts[i].Hosts = map[string][]netip.Addr{"server": server}
	}
	return hosts, nil
}

// addrsOf lists a stack's addresses without their prefix lengths.
func addrsOf(s config.Stack) []netip.Addr {
	a := make([]netip.Addr, len(s.Addresses))
	for i, p := range s.Addresses {
		a[i] = p.Addr()
	}
	return a
}

// buildNetwork starts hosts on one memlink network made from the
// config's link, a port per host named as the host.
func buildNetwork(cfg *config.Config, hosts []config.Stack, pcap io.Writer) (*world, error) {
	netw, err := memlink.NewNetwork(memlinkOptions(cfg.Link, pcap))
	if err != nil {
		return nil, err
	}
	w := &world{cfg: cfg, network: netw, stacks: map[string]*stack.Stack{}, nodes: map[string]*gentcp.Node{}}
	defaults, err := socketDefaults(cfg)
	if err != nil {
		w.close()
		return nil, err
	}
	for i, h := range hosts {
		port, err := netw.AddPort(h.Name, addrsOf(h)...)
		if err != nil {
			w.close()
			return nil, err
		}
		st, err := stack.New(stackOptions(h, port, uint64(cfg.Link.Seed)<<32+uint64(i)))
		if err != nil {
			w.close()
			return nil, fmt.Errorf("stack %q: %w", h.Name, err)
		}
		w.stacks[h.Name] = st
		if w.nodes[h.Name], err = defaults.node(st, i); err != nil {
			w.close()
			return nil, err
		}
	}
	return w, nil
}

// runHostsDemo is demo --hosts N in real time.
func runHostsDemo(cfg *config.Config, f demoFlags, pcap io.Writer, stdout, stderr io.Writer) error {
	hosts, err := demoHosts(cfg, f.hosts)
	if err != nil {
		return err
	}
	w, err := buildNetwork(cfg, hosts, pcap)
	if err != nil {
		return err
	}
	defer w.close()
	reps, err := demo(w, hosts[0].Name, clientNames(hosts), f, stderr)
	if err != nil {
		return err
	}
	printHosts(stdout, cfg, reps, w.network)
	return nil
}

// clientNames are the names of the hosts after the server.
func clientNames(hosts []config.Stack) []string {
	names := make([]string, len(hosts)-1)
	for i, h := range hosts[1:] {
		names[i] = h.Name
	}
	return names
}

// printHosts is the report of demo --hosts: what each client measured and
// what its frames did each way, then the server's retransmissions and the
// whole network's counters.
func printHosts(out io.Writer, cfg *config.Config, reps []*report, netw *memlink.Network) {
	server := reps[0].server
	fmt.Fprintf(out, "usertcp demo: stack %q and %s on an in-memory network (%s). No kernel sockets were used.\n",
		server, plural(int64(len(reps)), "client"), describeLink(cfg.Link))
	for _, r := range reps {
		fmt.Fprintf(out, "%s:\n", r.client)
		r.printMeasures(out, "  ")
		fmt.Fprintf(out, "  retransmits: %d of %d segments\n", r.retrans[1], r.segs[1])
		fmt.Fprintf(out, "  wire out:    %s\n", describeCounters(netw.Counters(r.client, server)))
		fmt.Fprintf(out, "  wire in:     %s\n", describeCounters(netw.Counters(server, r.client)))
	}
	fmt.Fprintf(out, "server:        retransmits %d of %d segments\n", reps[0].retrans[0], reps[0].segs[0])
	all := netw.Counters("", "")
	fmt.Fprintf(out, "network:       %s, %d unroutable\n", describeCounters(all), all.Unroutable)
}
