package tap

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/netip"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/usertcp/usertcp/link/delay"
	"github.com/usertcp/usertcp/link/fault"
	"github.com/usertcp/usertcp/link/pcap"
)

// DefaultName is the device name New uses when Options.Name is empty.
const DefaultName = "usertcp0"

// MinMTU and MaxMTU bound Options.MTU: IPv4's minimum (RFC 791), and the
// largest MTU whose Ethernet frames a TAP device passes (65535 bytes with
// the header), rounded down as Linux tools do.
const (
	MinMTU = 68
	MaxMTU = 65520
)

// Options configures a TAP link. The zero value opens (or creates)
// DefaultName in the caller's network namespace at the device's MTU, with
// no impairment.
type Options struct {
	// Name is the device name, at most 15 bytes; a pattern such as
	// "utap%d" lets the kernel pick a free number. Empty means
	// DefaultName.
	Name string

	// Netns is the network namespace the device lives in: a name made by
	// `ip netns add` or a path such as /proc/PID/ns/net. Empty means the
	// caller's. The device is opened from a thread that joins the
	// namespace (see InNetns); the process itself stays where it is.
	Netns string

	// MTU is the stack's MTU in bytes, MinMTU to MaxMTU: the largest IP
	// packet it sends (TCP's MSS follows from it). Zero means the kernel
	// side's MTU, so both sides agree. It may differ from the kernel's:
	// TCP's MSS negotiation keeps each side's segments within what the
	// other announced.
	MTU uint32

	// MAC is the stack's Ethernet address. Empty means a locally
	// administered address derived from the device name, so it is the
	// same on every run and the kernel's neighbour cache stays valid.
	MAC net.HardwareAddr

	// KernelMTU and KernelAddresses configure the kernel side of a device
	// that New creates: its MTU (zero: MTU, or Linux's 1500 if MTU is
	// zero too) and its addresses with prefix lengths. IPv6 addresses
	// skip duplicate address detection. The device is brought up. A
	// device that already exists is used as it is.
	KernelMTU       uint32
	KernelAddresses []netip.Prefix

	// ChecksumOffload skips verifying the checksums of received frames.
	// The kernel always fills them in on a TAP device without offloads,
	// so only a corrupting kernel would be caught. Frames sent always
	// carry checksums, because the kernel checks them.
	ChecksumOffload bool

	// NoOffload turns off segmentation and checksum offload. By default
	// the device carries a virtio-net header (IFF_VNET_HDR) before every
	// frame, as a virtual machine's NIC does: netstack hands the kernel
	// TCP segments of up to 64 KiB with the checksum left to it, and the
	// kernel hands the stack the same (TUNSETOFFLOAD), so a bulk transfer
	// costs a system call per 64 KiB rather than per MTU. Without it,
	// every frame is at most the MTU and carries its checksums. A stack
	// sending with Corrupt set never leaves its checksums to the kernel
	// (it would sum over the corrupted bytes and hide them). With offload,
	// a received frame is checksummed once: the link finishes the ones
	// the kernel left to it and checks the ones it neither left nor
	// marked as checked (Counters.BadChecksums), and netstack checks none
	// again; without it, netstack checks every frame.
	NoOffload bool

	// Impairments of the frames the stack sends, as in link/memlink
	// (link/delay and link/fault). Frames from the kernel arrive
	// untouched; impair them with netem on the kernel side (tc qdisc add
	// dev NAME root netem loss 1%). With offload, a frame the stack sends
	// may be a TCP segment of up to 64 KiB that the kernel cuts into
	// MSS-sized ones after the impairment: a lost frame is then a burst
	// of lost segments, as with loss on the host side of a TSO NIC.

	// Seed seeds the random decisions of the impairments below; the same
	// seed repeats the same decisions.
	Seed uint64
	// Loss is the probability, in [0, 1], that a frame is dropped.
	Loss float64
	// Duplicate is the probability, in [0, 1], that a frame is sent
	// twice.
	Duplicate float64
	// Corrupt is the probability, in [0, 1], that one bit of a frame is
	// flipped.
	Corrupt float64
	// Reorder is the probability, in [0, 1], that a frame is held back
	// so that later frames overtake it.
	Reorder float64
	// Latency is the one-way delay every frame gets.
	Latency time.Duration
	// Jitter adds a uniform extra delay in [0, Jitter) to each frame.
	Jitter time.Duration
	// Rate caps the bandwidth, in bytes per second; zero means unlimited.
	Rate int64

	// JitterReorders draws each frame's jitter independently, so that
	// frames overtake one another (delay.Config.JitterReorders); by
	// default jitter keeps their order.
	JitterReorders bool

	// Clock drives delays and pcap timestamps; nil is the real clock.
	Clock tcpip.Clock

	// Pcap, if set, receives a capture of the frames on the device, both
	// directions, as Ethernet frames: the stack's before any fault, the
	// kernel's as they arrive.
	Pcap io.Writer
}

// Endpoint is a TAP device as a netstack LinkEndpoint: attach it to a
// stack as a NIC's link (the stack closes it). The layers from the bottom:
// the device, link/delay, link/fault, link/pcap, link/ethernet.
type Endpoint struct {
	netstack.LinkEndpoint

	dev       *device
	fault     *fault.Endpoint
	delay     *delay.Endpoint
	name      string
	netns     string
	created   bool
	kernelMTU uint32

	// gso: netstack may hand this link TCP segments larger than the MTU
	// (host GSO through the virtio-net header). rxOffload: the kernel
	// may hand the stack such segments and unfinished checksums.
	gso, rxOffload bool
}

var _ netstack.LinkEndpoint = (*Endpoint)(nil)

// Counters is what the link has done.
type Counters struct {
	// Frames and Bytes the stack sent, before faults.
	Frames, Bytes uint64
	// Dropped, Duplicated, Corrupted, Reordered: what the faults did.
	Dropped, Duplicated, Corrupted, Reordered uint64
	// OutOfOrder is the number of frames that left the delay line after
	// a frame sent after them, whatever held them back (Reorder, or Jitter
	// with JitterReorders).
	OutOfOrder uint64
	// Written and WrittenBytes reached the kernel; WriteErrors are frames
	// it refused (a device that is down refuses every frame).
	Written, WrittenBytes, WriteErrors uint64
	// Received and ReceivedBytes came from the kernel; Runts were too
	// short to be Ethernet frames and were dropped.
	Received, ReceivedBytes, Runts uint64
	// BadChecksums were received with a wrong IPv4, TCP or UDP checksum
	// and dropped by the link, which checks them for netstack when
	// segmentation offload is on (frames the kernel made itself it need
	// not check; see ChecksumOffload).
	BadChecksums uint64
}

// OpenFD opens the device opts names as New does (Name, Netns; a device
// it creates gets the kernel-side settings and comes up), but returns the
// bare non-blocking descriptor, of plain Ethernet frames without a
// virtio-net header, for a link endpoint made elsewhere such as gVisor's
// fdbased. The other options are ignored. The caller owns fd; closing it
// deletes a device OpenFD created. Errors are New's.
func OpenFD(opts Options) (fd int, err error) {
	if err := checkDevice(&opts); err != nil {
		return -1, err
	}
	opts.NoOffload = true
	dev, err := openIn(&opts)
	if err != nil {
		return -1, err
	}
	return dev.fd, nil
}

// checkDevice defaults and checks what New and OpenFD both give the
// kernel: the device name and the kernel side's MTU.
func checkDevice(opts *Options) error {
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	if len(opts.Name) > 15 {
		return fmt.Errorf("tap: device name %q is longer than 15 bytes", opts.Name)
	}
	if opts.KernelMTU != 0 && (opts.KernelMTU < MinMTU || opts.KernelMTU > MaxMTU) {
		return fmt.Errorf("tap: kernel MTU %d outside %d..%d", opts.KernelMTU, MinMTU, MaxMTU)
	}
	return nil
}

// openIn opens the device in opts.Netns; an OpenError names the device
// asked for when the kernel gave no name.
func openIn(opts *Options) (opened, error) {
	var dev opened
	err := InNetns(opts.Netns, func() error {
		var err error
		dev, err = openDevice(opts)
		return err
	})
	if oe, ok := err.(*OpenError); ok && oe.Name == "" {
		oe.Name = opts.Name
	}
	return dev, err
}

// New opens the TAP device opts describes, creating it if it does not
// exist, and returns it as a link. On error nothing is left open or
// created, and the error is an *OpenError matching ErrNoTun,
// ErrPermission, ErrBusy, ErrNotTAP or ErrNoNetns where one applies.
func New(opts Options) (*Endpoint, error) {
	if err := checkDevice(&opts); err != nil {
		return nil, err
	}
	if opts.MTU != 0 && (opts.MTU < MinMTU || opts.MTU > MaxMTU) {
		return nil, fmt.Errorf("tap: MTU %d outside %d..%d", opts.MTU, MinMTU, MaxMTU)
	}
	if opts.ChecksumOffload && opts.Corrupt > 0 {
		return nil, errors.New("tap: Corrupt needs checksums: turn ChecksumOffload off")
	}
	mac := opts.MAC
	if len(mac) == 0 {
		mac = defaultMAC(opts.Name)
	}
	if len(mac) != 6 {
		return nil, fmt.Errorf("tap: MAC %v is not an Ethernet address", mac)
	}
	if opts.Clock == nil {
		opts.Clock = tcpip.NewStdClock()
	}
	// Check the layers' settings before touching the kernel.
	dcfg := delay.Config{
		Seed: opts.Seed, Clock: opts.Clock, Latency: opts.Latency, Jitter: opts.Jitter,
		JitterReorders: opts.JitterReorders, Reorder: opts.Reorder, Rate: opts.Rate,
	}
	fcfg := fault.Config{Seed: opts.Seed, Loss: opts.Loss, Duplicate: opts.Duplicate, Corrupt: opts.Corrupt}
	if err := checkConfigs(dcfg, fcfg); err != nil {
		return nil, err
	}

	dev, err := openIn(&opts)
	if err != nil {
		return nil, err
	}
	mtu := opts.MTU
	if mtu == 0 {
		mtu = dev.mtu
	}
	var caps netstack.LinkEndpointCapabilities
	if opts.ChecksumOffload {
		caps |= netstack.CapabilityRXChecksumOffload
	}
	d, err := newDevice(dev.fd, dev.name, mtu+header.EthernetMinimumSize, tcpip.LinkAddress(mac), caps, dev.vnetHdr)
	if err != nil {
		return nil, &OpenError{Op: "register with the poller", Name: dev.name, Netns: opts.Netns, Err: err}
	}
	e := &Endpoint{dev: d, name: dev.name, netns: opts.Netns, created: dev.created, kernelMTU: dev.mtu,
		gso: dev.vnetHdr && opts.Corrupt == 0, rxOffload: dev.rxOffload}
	if e.delay, err = delay.New(d, dcfg); err != nil {
		d.Close()
		return nil, fmt.Errorf("tap: %w", err)
	}
	if e.fault, err = fault.New(e.delay, fcfg); err != nil {
		d.Close()
		return nil, fmt.Errorf("tap: %w", err)
	}
	var top netstack.LinkEndpoint = e.fault
	if opts.Pcap != nil {
		// The Ethernet layer sits above the capture, so the capture
		// cannot infer the link type from what it wraps.
		p, err := pcap.New(top, opts.Pcap, pcap.Options{Clock: opts.Clock, LinkType: pcap.LinkTypeEthernet})
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("tap: %w", err)
		}
		top = p
	}
	e.LinkEndpoint = ethernet.New(top)
	return e, nil
}

// checkConfigs validates the layers' settings by building them on a
// channel endpoint that never runs, so that a bad knob fails before a device is created.
func checkConfigs(dcfg delay.Config, fcfg fault.Config) error {
	lower := channel.New(1, 1500, "")
	if _, err := delay.New(lower, dcfg); err != nil {
		return fmt.Errorf("tap: %w", err)
	}
	if _, err := fault.New(lower, fcfg); err != nil {
		return fmt.Errorf("tap: %w", err)
	}
	return nil
}

// defaultMAC derives a locally administered unicast address from name.
func defaultMAC(name string) net.HardwareAddr {
	h := fnv.New32a()
	io.WriteString(h, name)
	s := h.Sum32()
	// 02: locally administered, unicast; 0x75 'u' for usertcp.
	return net.HardwareAddr{0x02, 0x75, byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)}
}

// Name is the device's name (a pattern in Options.Name resolved).
func (e *Endpoint) Name() string { return e.name }

// Netns is the network namespace the device is in, as Options.Netns.
func (e *Endpoint) Netns() string { return e.netns }

// Created reports whether New created the device; it disappears when the
// endpoint closes. Otherwise the device existed and outlives the endpoint.
func (e *Endpoint) Created() bool { return e.created }

// KernelMTU is the MTU of the kernel side, as it was when New opened the
// device.
func (e *Endpoint) KernelMTU() uint32 { return e.kernelMTU }

// Err returns the error that stopped reading from the device, such as
// EBADFD after the device was deleted, or nil.
func (e *Endpoint) Err() error { return e.dev.err() }

// Partition drops every frame the stack sends until Heal.
func (e *Endpoint) Partition() { e.fault.Partition() }

// Heal ends a Partition.
func (e *Endpoint) Heal() { e.fault.Heal() }

// SetFaults changes loss, duplication and corruption at run time (the
// seed's stream carries on). Corruption needs a link that sends finished
// checksums: one opened with NoOffload, or with Corrupt set.
func (e *Endpoint) SetFaults(c fault.Config) error {
	if c.Corrupt > 0 && e.gso {
		return errors.New("tap: Corrupt needs checksums the stack finishes itself: open the link with NoOffload (or with Corrupt set)")
	}
	return e.fault.SetConfig(c)
}

// GSOMaxSize implements netstack.GSOEndpoint: the largest TCP segment
// netstack may hand the link, zero without offload.
func (e *Endpoint) GSOMaxSize() uint32 {
	if !e.gso {
		return 0
	}
	return gsoMaxSize
}

// SupportedGSO implements netstack.GSOEndpoint: with offload the kernel
// segments (host GSO). netstack asks when a connection picks its route.
func (e *Endpoint) SupportedGSO() netstack.SupportedGSO {
	if !e.gso {
		return netstack.GSONotSupported
	}
	return netstack.HostGSOSupported
}

// Offload reports what the device offloads: send is true when netstack
// hands the kernel segments larger than the MTU with checksums to finish,
// receive when the kernel may do the same for the stack.
func (e *Endpoint) Offload() (send, receive bool) { return e.gso, e.rxOffload }

// SetDelay changes latency, jitter, reordering and rate at run time.
func (e *Endpoint) SetDelay(c delay.Config) error { return e.delay.SetConfig(c) }

// Counters returns what the link has done.
func (e *Endpoint) Counters() Counters {
	fc := e.fault.Counters()
	dc := e.delay.Counters()
	d := e.dev
	return Counters{
		Frames: fc.Frames, Bytes: fc.Bytes,
		Dropped: fc.Dropped, Duplicated: fc.Duplicated, Corrupted: fc.Corrupted, Reordered: dc.Reordered,
		OutOfOrder: dc.OutOfOrder,
		Written:    d.txFrames.Load(), WrittenBytes: d.txBytes.Load(), WriteErrors: d.txErrors.Load(),
		Received: d.rxFrames.Load(), ReceivedBytes: d.rxBytes.Load(), Runts: d.rxErrors.Load(),
		BadChecksums: d.rxBadChecksums.Load(),
	}
}
