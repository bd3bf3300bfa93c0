package tap_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/usertcp/usertcp/internal/testutil"
	"github.com/usertcp/usertcp/link/fault"
	"github.com/usertcp/usertcp/link/pcap"
	"github.com/usertcp/usertcp/link/tap"
	"github.com/usertcp/usertcp/link/tap/taptest"
	"github.com/usertcp/usertcp/stack"
)

// leakCheck registers, first, the cleanup that runs last: no goroutine
// may outlive the test's other cleanups (stacks, namespaces).
func leakCheck(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// newStack puts ep under a stack with the usertcp side's addresses and
// closes it when the test ends.
func newStack(t *testing.T, ep *tap.Endpoint, addrs ...netip.Prefix) *stack.Stack {
	t.Helper()
	if len(addrs) == 0 {
		addrs = taptest.UserPrefixes()
	}
	st, err := stack.New(stack.Options{NICs: []stack.NIC{{Name: "eth0", Link: ep, Addresses: addrs}}})
	if err != nil {
		ep.Close()
		t.Fatalf("stack.New: %v", err)
	}
	t.Cleanup(st.Close)
	return st
}

func ping(t *testing.T, st *stack.Stack, dst netip.Addr) {
	t.Helper()
	if _, err := testutil.Ping(st, dst, 5*time.Second); err != nil {
		t.Fatalf("ping %v: %v", dst, err)
	}
}

func TestOptionsRejected(t *testing.T) {
	cases := map[string]tap.Options{
		"name too long":          {Name: "a-name-of-16-byt"},
		"MTU too small":          {MTU: 67},
		"MTU too large":          {MTU: 65521},
		"kernel MTU too large":   {KernelMTU: 70000},
		"corrupt with offload":   {Corrupt: 0.1, ChecksumOffload: true},
		"loss above one":         {Loss: 1.5},
		"MAC of the wrong size":  {MAC: []byte{2, 0, 0, 0, 1}},
		"negative latency":       {Latency: -time.Second},
		"reorder probability -1": {Reorder: -1},
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			ep, err := tap.New(o)
			if err == nil {
				ep.Close()
				t.Fatalf("New(%+v) = nil error", o)
			}
			var oe *tap.OpenError
			if errors.As(err, &oe) {
				t.Fatalf("New(%+v) = %v: touched the kernel before checking options", o, err)
			}
		})
	}
}

// TestExistingDevice opens the persistent device tapns.sh made: the
// kernel side keeps its settings, ARP and NDP resolve both ways, and the
// device outlives the endpoint.
func TestExistingDevice(t *testing.T) {
	leakCheck(t)
	ns := taptest.NewNamespace(t, 9000)
	ep, err := tap.New(ns.Options())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if ep.Created() || ep.Name() != ns.Tap || ep.Netns() != ns.Name {
		t.Errorf("Created, Name, Netns = %v, %q, %q; want false, %q, %q", ep.Created(), ep.Name(), ep.Netns(), ns.Tap, ns.Name)
	}
	if ep.KernelMTU() != 9000 || ep.MTU() != 9000 {
		t.Errorf("KernelMTU, MTU = %d, %d; want 9000, 9000 (MTU 0 follows the kernel side)", ep.KernelMTU(), ep.MTU())
	}
	st := newStack(t, ep)
	ping(t, st, taptest.Kernel4)
	ping(t, st, taptest.Kernel6)
	// The kernel resolved the stack's MAC on its own to answer.
	out, err := ns.IP("neigh", "show", "dev", ns.Tap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, taptest.User4.String()) || !strings.Contains(out, taptest.User6.String()) {
		t.Errorf("kernel neighbour table lacks the stack's addresses:\n%s", out)
	}
	st.Close()
	if _, err := ns.IP("link", "show", "dev", ns.Tap); err != nil {
		t.Errorf("the persistent device is gone after Close: %v", err)
	}
}

// TestCreatedDevice lets New create the device: it gets the kernel-side
// MTU and addresses, comes up, and vanishes at Close.
func TestCreatedDevice(t *testing.T) {
	leakCheck(t)
	ns := taptest.NewNamespace(t, 0)
	k4, k6 := netip.MustParsePrefix("10.77.1.1/30"), netip.MustParsePrefix("fd77:75:1::1/64")
	ep, err := tap.New(tap.Options{
		Name: "made%d", Netns: ns.Name, MTU: 4000, KernelMTU: 3000,
		KernelAddresses: []netip.Prefix{k4, k6},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if !ep.Created() || ep.Name() != "made0" {
		t.Errorf("Created, Name = %v, %q; want true, made0", ep.Created(), ep.Name())
	}
	if ep.KernelMTU() != 3000 || ep.MTU() != 4000 {
		t.Errorf("KernelMTU, MTU = %d, %d; want 3000, 4000", ep.KernelMTU(), ep.MTU())
	}
	out, err := ns.IP("addr", "show", "dev", "made0")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mtu 3000", ",UP", k4.String(), k6.String()} {
		if !strings.Contains(out, want) {
			t.Errorf("ip addr show lacks %q:\n%s", want, out)
		}
	}
	st := newStack(t, ep, netip.MustParsePrefix("10.77.1.2/30"), netip.MustParsePrefix("fd77:75:1::2/64"))
	ping(t, st, k4.Addr())
	ping(t, st, k6.Addr())
	st.Close()
	if _, err := ns.IP("link", "show", "dev", "made0"); err == nil {
		t.Errorf("made0 still exists after Close")
	}
}

func TestBusy(t *testing.T) {
	leakCheck(t)
	ns := taptest.NewNamespace(t, 0)
	ep, err := tap.New(ns.Options())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer ep.Close()
	_, err = tap.New(ns.Options())
	if !errors.Is(err, tap.ErrBusy) || !errors.Is(err, unix.EBUSY) {
		t.Fatalf("second New = %v, want ErrBusy", err)
	}
	t.Log(err)
}

func TestNotTAP(t *testing.T) {
	leakCheck(t)
	ns := taptest.NewNamespace(t, 0)
	_, err := tap.New(tap.Options{Name: "lo", Netns: ns.Name})
	if !errors.Is(err, tap.ErrNotTAP) {
		t.Fatalf("New(lo) = %v, want ErrNotTAP", err)
	}
	t.Log(err)
}

func TestNoNetns(t *testing.T) {
	leakCheck(t)
	_, err := tap.New(tap.Options{Netns: taptest.NamePrefix + "does-not-exist"})
	if !errors.Is(err, tap.ErrNoNetns) {
		t.Fatalf("New = %v, want ErrNoNetns", err)
	}
	t.Log(err)
}

// TestPermission drops CAP_NET_ADMIN from one thread, inside a test
// namespace, and creates a device from it. Without root the plain call
// fails the same way.
func TestPermission(t *testing.T) {
	leakCheck(t)
	if unix.Geteuid() != 0 {
		_, err := tap.New(tap.Options{Name: "utperm0"})
		if !errors.Is(err, tap.ErrPermission) {
			t.Fatalf("New as an unprivileged user = %v, want ErrPermission", err)
		}
		t.Log(err)
		return
	}
	ns := taptest.NewNamespace(t, 0)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread leaves with its changed namespace and
		// capabilities when this goroutine ends.
		errc <- func() error {
			if err := joinNetns(ns.Name); err != nil {
				return err
			}
			if err := dropEffectiveCap(unix.CAP_NET_ADMIN); err != nil {
				return err
			}
			ep, err := tap.New(tap.Options{Name: "utperm0"})
			if err == nil {
				ep.Close()
			}
			return err
		}()
	}()
	err := <-errc
	if !errors.Is(err, tap.ErrPermission) || !errors.Is(err, unix.EPERM) {
		t.Fatalf("New without CAP_NET_ADMIN = %v, want ErrPermission", err)
	}
	t.Log(err)
}

func joinNetns(name string) error {
	fd, err := unix.Open(tap.NetnsPath(name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Setns(fd, unix.CLONE_NEWNET)
}

// dropEffectiveCap removes capability c from the calling thread's
// effective set.
func dropEffectiveCap(c int) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	data[c/32].Effective &^= 1 << (c % 32)
	return unix.Capset(&hdr, &data[0])
}

// TestForeignUnicastFrame sends the stack a frame addressed to another
// MAC, as a kernel with a stale neighbour entry does. The link must drop
// it and keep reading (gVisor's fdbased stops reading for good).
func TestForeignUnicastFrame(t *testing.T) {
	leakCheck(t)
	ns := taptest.NewNamespace(t, 0)
	ep, err := tap.New(ns.Options())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	st := newStack(t, ep)
	ping(t, st, taptest.Kernel4)
	before := ep.Counters().Received
	for range 3 {
		if err := sendRawFrame(ns, []byte{0x02, 0, 0, 0, 0, 0x99}); err != nil {
			t.Fatal(err)
		}
	}
	ping(t, st, taptest.Kernel4)
	c := ep.Counters()
	if c.Received-before < 3 {
		t.Errorf("Received grew by %d, want at least 3 foreign frames", c.Received-before)
	}
}

// sendRawFrame writes a frame of size bytes to the namespace's TAP device
// with an AF_PACKET socket: a minimal IPv4-typed frame to MAC dst.
func sendRawFrame(ns *taptest.Namespace, dst []byte) error {
	return tap.InNetns(ns.Name, func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		ifr, err := unix.NewIfreq(ns.Tap)
		if err != nil {
			return err
		}
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
			return err
		}
		frame := make([]byte, header.EthernetMinimumSize+46)
		copy(frame, dst)
		copy(frame[6:], []byte{0x02, 0, 0, 0, 0, 0x98})
		binary.BigEndian.PutUint16(frame[12:], uint16(header.IPv4ProtocolNumber))
		return unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: int(ifr.Uint32()), Halen: 6})
	})
}

// TestDeviceDeleted deletes the device under a running stack: reading
// stops with an error, sending drops frames, and Close still returns.
func TestDeviceDeleted(t *testing.T) {
	leakCheck(t)
	ns := taptest.NewNamespace(t, 0)
	ep, err := tap.New(ns.Options())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	st := newStack(t, ep)
	ping(t, st, taptest.Kernel4)
	if _, err := ns.IP("link", "del", "dev", ns.Tap); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for ep.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if ep.Err() == nil {
		t.Fatalf("Err() = nil after the device was deleted")
	}
	t.Logf("Err() = %v", ep.Err())
	if _, err := testutil.Ping(st, taptest.Kernel4, 200*time.Millisecond); err == nil {
		t.Errorf("ping through a deleted device succeeded")
	}
	st.Close()
}

// TestPcapAndPartition captures a ping exchange as Ethernet frames and
// checks that a partition cuts the sending direction.
func TestPcapAndPartition(t *testing.T) {
	leakCheck(t)
	ns := taptest.NewNamespace(t, 0)
	var capture bytes.Buffer
	o := ns.Options()
	o.Pcap = &capture
	ep, err := tap.New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	st := newStack(t, ep)
	ping(t, st, taptest.Kernel4)
	ep.Partition()
	if _, err := testutil.Ping(st, taptest.Kernel4, 300*time.Millisecond); err == nil {
		t.Errorf("ping during a partition succeeded")
	}
	ep.Heal()
	ping(t, st, taptest.Kernel4)
	if err := ep.SetFaults(fault.Config{Loss: 2}); err == nil {
		t.Errorf("SetFaults(Loss: 2) = nil, want an error")
	}
	c := ep.Counters()
	if c.Dropped == 0 || c.Written == 0 || c.Received == 0 {
		t.Errorf("Counters = %+v: want drops, writes and reads", c)
	}
	st.Close()
	recs, lt, err := pcap.ReadFile(&capture)
	if err != nil {
		t.Fatalf("pcap.ReadFile: %v", err)
	}
	if lt != pcap.LinkTypeEthernet {
		t.Errorf("link type = %v, want Ethernet", lt)
	}
	var arpOut, arpIn, icmpIn bool
	mac := string(ep.LinkAddress())
	for _, r := range recs {
		eth := header.Ethernet(r.Data)
		fromStack := string(eth.SourceAddress()) == mac
		switch eth.Type() {
		case header.ARPProtocolNumber:
			arpOut = arpOut || fromStack
			arpIn = arpIn || !fromStack
		case header.IPv4ProtocolNumber:
			icmpIn = icmpIn || !fromStack
		}
	}
	if !arpOut || !arpIn || !icmpIn {
		t.Errorf("capture of %d frames: ARP out %v, ARP in %v, IPv4 in %v; want all", len(recs), arpOut, arpIn, icmpIn)
	}
}

// TestCloseUnderTraffic closes stacks while the kernel floods them with
// SYNs to a closed port. Each SYN makes the stack build a RST, which takes
// the stack's lock, while Stack.Close holds that lock and waits for its
// links: the device must not wait for its reader there (it did, and
// deadlocked). It also re-opens the same device each round.
func TestCloseUnderTraffic(t *testing.T) {
	leakCheck(t)
	ns := taptest.NewNamespace(t, 0)
	stop := make(chan struct{})
	flooding := make(chan error, 1)
	go func() {
		flooding <- tap.InNetns(ns.Name, func() error {
			for {
				select {
				case <-stop:
					return nil
				default:
				}
				c, err := net.DialTimeout("tcp4", netip.AddrPortFrom(taptest.User4, 1).String(), 50*time.Millisecond)
				if err == nil {
					c.Close()
				}
			}
		})
	}()
	defer func() {
		close(stop)
		if err := <-flooding; err != nil {
			t.Errorf("flood: %v", err)
		}
	}()
	for i := range 30 {
		ep, err := tap.New(ns.Options())
		if err != nil {
			t.Fatalf("round %d: New: %v", i, err)
		}
		st, err := stack.New(stack.Options{NICs: []stack.NIC{{Name: "eth0", Link: ep, Addresses: taptest.UserPrefixes()}}})
		if err != nil {
			t.Fatalf("round %d: stack.New: %v", i, err)
		}
		time.Sleep(20 * time.Millisecond)
		closed := make(chan struct{})
		go func() { st.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: stack.Close did not return within 10 s under traffic", i)
		}
	}
}
