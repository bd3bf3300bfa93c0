// Package tap provides a Linux TAP device as a netstack LinkEndpoint, so a
// usertcp stack talks to the kernel (and through it to real programs: curl,
// nc, erl) over Ethernet, with ARP, NDP, IPv4 and IPv6.
//
//	ep, err := tap.New(tap.Options{Name: "usertcp0", Netns: "usertcp"})
//	if err != nil { ... }   // errors.Is(err, tap.ErrPermission), ErrBusy, ...
//	st, err := stack.New(stack.Options{NICs: []stack.NIC{{Name: "eth0", Link: ep,
//		Addresses: []netip.Prefix{netip.MustParsePrefix("10.77.0.2/30")}}}})
//
// New attaches to the named device if it exists (scripts/tapns.sh makes a
// persistent one inside a network namespace) and creates it otherwise; a
// device it creates gets Options.KernelMTU and KernelAddresses, comes up,
// and disappears when the endpoint closes. Options.Netns opens the device
// in another network namespace from one thread that joins it (InNetns), so
// the kernel side can live in a namespace while the process does not.
//
// The layers, from the bottom, are those of link/memlink: the device, then
// link/delay, link/fault and link/pcap for the frames the stack sends (and
// pcap for those it receives), then gVisor's link/ethernet. The device
// moves frames with one non-blocking read or write system call each,
// through Go's poller: no thread blocks, and Close stops the one reader
// goroutine and closes the descriptor (a stack closes its links).
//
// By default the device offloads segmentation and checksums both ways, as
// a virtual machine's NIC does: it is opened with IFF_VNET_HDR, so every
// frame comes after a virtio-net header; netstack hands the kernel TCP
// segments of up to 64 KiB with the checksum left to it (gVisor's host
// GSO) and the kernel cuts them by the MSS, and TUNSETOFFLOAD lets the
// kernel hand the stack segments as large. A bulk transfer then costs one
// system call per 64 KiB whatever the MTU. Each received frame is
// checksummed once, in the device: the checksums the kernel left undone
// are finished there, the frames it neither left nor marked as checked are
// verified there (Counters.BadChecksums), and netstack, told the link
// checks, checks none again (unless ChecksumOffload, which checks
// nothing); captures show the large segments, as tcpdump does on a Linux
// host with TSO. NoOffload turns all of this off, and netstack checks
// every frame.
//
// Every knob:
//
//	Name             device name, at most 15 bytes, "tap%d" patterns allowed (default usertcp0)
//	Netns            network namespace of the device (default: the caller's)
//	MTU              the stack's MTU, 68..65520 (default: the kernel side's)
//	MAC              the stack's Ethernet address (default: derived from Name)
//	KernelMTU        kernel-side MTU of a device New creates (default: MTU, or 1500)
//	KernelAddresses  kernel-side addresses of a device New creates
//	ChecksumOffload  trust received checksums (sent frames always carry them)
//	NoOffload        no virtio-net header: frames of at most the MTU, checksummed
//	Seed, Loss, Duplicate, Corrupt, Reorder, Latency, Jitter, JitterReorders, Rate
//	                 impair the frames the stack sends, as in link/memlink
//	Clock            the clock delays and pcap timestamps run on
//	Pcap             capture both directions as Ethernet frames
//
// The MTUs of the two sides may differ: each side's TCP announces an MSS
// from its own MTU and sends segments no larger than the other's, so a
// 9000-byte stack and a 1500-byte kernel still agree on 1460-byte segments.
// Without offload, give both sides 65520 for speed: the device then hands
// over one frame per system call, so larger frames mean fewer calls.
//
// New fails with an *OpenError whose message says what to do, matching
// ErrNoTun (no /dev/net/tun), ErrPermission (no CAP_NET_ADMIN), ErrBusy
// (another process has the device), ErrNotTAP (the name belongs to another
// kind of device) or ErrNoNetns, and the errno behind it.
//
// Package taptest, beside this one, makes namespaces with a TAP device for
// tests.
package tap
