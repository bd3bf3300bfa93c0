// Package stack builds a gVisor netstack stack from plain Options: NICs with
// IPv4 and IPv6 addresses, routes, ARP and NDP, ICMP echo, and TCP tuned the
// way usertcp wants it (SACK, RACK only on request, a congestion control
// choice, buffer ranges, RTO bounds, TIME_WAIT length, keepalive defaults).
//
// The package never creates a link: each NIC is given a
// netstack LinkEndpoint (from link/memlink, link/tap, or any other package),
// so the layers stay separate: link → stack → gentcp.
//
// Start with New and a NIC on a link:
//
//	a, b, _ := memlink.New(memlink.Options{}) // b is for a second stack
//	s, _ := stack.New(stack.Options{NICs: []stack.NIC{{Name: "eth0", Link: a,
//		Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}}}})
//	defer s.Close()
//
// Then use it through gentcp (gentcp.NewNode(s): gen_tcp, or net.Conn and
// net.Listener with Node.Dial and Node.Listen), or through netstack itself
// (s.Netstack() with gVisor's gonet adapter, as the package's Example
// does).
//
// Clock, RandSource and SecureRNG are injectable. Together they decide every
// timer, ephemeral port, initial sequence number and timestamp offset the
// stack uses, which is what the deterministic simulation needs: netstack
// reads its TCP secrets and ephemeral ports from SecureRNG, so seeding
// RandSource alone does not make two runs equal.
//
// New puts a link endpoint of its own in front of every NIC's link, which
// repairs netstack's TCP where library users would otherwise meet its
// defects: a SYN flood guard, fresh timestamps on retransmitted SYNs, and
// the window of a newer ACK for an ACK that arrives after it (netstack
// takes its send window from any ACK, so a reordering path widened it past
// the peer's window and could stall a connection for good). RACK stays
// off by default: netstack's RACK recovers from a run of lost small
// segments one segment per retransmission timeout (TCPOptions.RACK).
//
// A Stack also owns a host table (name → addresses) so callers can resolve
// "localhost" and configured names without the host's resolver, and the
// keepalive defaults that netstack keeps per socket rather than per stack.
package stack
