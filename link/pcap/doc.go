// Package pcap records the frames that pass through any stack.LinkEndpoint,
// in both directions, to a libpcap capture file that tcpdump and Wireshark
// read.
//
// An Endpoint wraps a lower endpoint and is itself a stack.LinkEndpoint:
//
//	f, _ := os.Create("a.pcap")
//	ep, err := pcap.New(lower, f, pcap.Options{Clock: clock})
//	s.CreateNIC(1, ep) // s is a *stack.Stack
//
// and then tcpdump -r a.pcap -nn shows the traffic. Frames written by the
// stack are recorded in WritePackets, frames delivered by the lower endpoint
// in DeliverNetworkPacket; classic pcap has no direction field, so the two
// directions are interleaved in time order.
//
// # What is captured
//
// An Endpoint records what crosses it, whole: the frame from the first byte
// of the link header (if any) to the end, without a virtio-net header. The
// NIC adds the link header (through AddHeader, which the Endpoint passes
// down) before it writes, and the lower endpoint parses it on receipt
// without removing the bytes, so when pcap wraps an Ethernet endpoint both
// directions are recorded as Ethernet frames, and when it wraps an endpoint
// without link header (link/channel, link/pipe, loopback) both are raw IP.
// The link type is inferred from lower.ARPHardwareType(); an endpoint that
// adds its link header above pcap (pcap wrapped by link/ethernet, say) must
// set Options.LinkType, because the lower endpoint cannot tell.
//
// Where pcap sits among the other wrappers says what it sees: outside
// link/fault (pcap wraps fault) it records what the stack sent, losses and
// all; inside (fault wraps pcap) it records what survived, as a tap on the
// cable would.
//
// # File format
//
// The file is the classic libpcap format (not pcapng) with the nanosecond
// magic 0xa1b23c4d, little-endian. Nanoseconds, because stacks on a memory
// link exchange many frames within one microsecond, and because a virtual
// clock (faketime.ManualClock) gives exact timestamps that microseconds
// would round; tcpdump (libpcap 1.5 and later) and Wireshark read it.
// Timestamps come from Options.Clock's Now, never from time.Now, so a
// virtual clock gives virtual timestamps. The seconds field is 32 bits, as
// the format defines, so times before 1970 or after 2106 wrap.
//
// ReadFile parses such a file back (either magic, either byte order), for
// tests.
package pcap
