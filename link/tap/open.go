package tap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// tunPath is the TUN/TAP clone device. Tests point it elsewhere to see
// the error for a missing driver.
var tunPath = "/dev/net/tun"

// NetnsPath returns the file of the network namespace netns: netns itself
// if it contains a slash (such as /proc/1234/ns/net), else the file that
// `ip netns add` creates, /run/netns/NAME.
func NetnsPath(netns string) string {
	if strings.ContainsRune(netns, '/') {
		return netns
	}
	return "/run/netns/" + netns
}

// InNetns runs fn on an OS thread that has joined the network namespace
// netns (see NetnsPath), and returns fn's error. With netns "" it runs fn
// in the caller's goroutine. Kernel sockets and devices that fn creates
// belong to that namespace for their whole life, whichever thread uses
// them later: this is how a process in one namespace opens a TAP device,
// or a kernel socket, in another.
//
// The thread is locked to a goroutine of its own and never unlocked, so
// Go retires it when fn returns: no other goroutine ever runs in the
// namespace by accident.
func InNetns(netns string, fn func() error) error {
	if netns == "" {
		return fn()
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: see the doc comment.
		done <- func() error {
			nsfd, err := unix.Open(NetnsPath(netns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return openError(opOpenNetns, "", netns, err)
			}
			defer unix.Close(nsfd)
			if err := unix.Setns(nsfd, unix.CLONE_NEWNET); err != nil {
				return openError(opSetns, "", netns, err)
			}
			return fn()
		}()
	}()
	return <-done
}

// opened is a device New got: its non-blocking descriptor and what the
// kernel says about it.
type opened struct {
	fd      int
	name    string // the kernel's name for it (a pattern such as tap%d resolved)
	created bool   // TUNSETIFF made it; it vanishes when fd closes
	mtu     uint32 // the kernel side's MTU

	vnetHdr   bool // frames carry a virtio-net header (IFF_VNET_HDR)
	rxOffload bool // the kernel may send partial checksums and large TCP segments
}

// openDevice opens o.Name as a TAP device in the current thread's network
// namespace, creating it if it does not exist. A device it creates gets
// o's kernel-side settings and comes up; an existing one is used as it is.
// On error nothing is left open.
func openDevice(o *Options) (dev opened, err error) {
	fd, err := unix.Open(tunPath, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return dev, openError(opOpenTun, o.Name, o.Netns, err)
	}
	defer func() {
		if err != nil {
			// Closing the descriptor also deletes a device it created.
			unix.Close(fd)
		}
	}()
	ifr, err := unix.NewIfreq(o.Name)
	if err != nil {
		return dev, fmt.Errorf("tap: device name %q: %w", o.Name, err)
	}
	// IFF_TUN_EXCL first: it fails with EBUSY if the name exists, which
	// tells a device created here (and so to be configured here) from one
	// that someone else set up. IFF_NO_PI: frames without the 4-byte
	// packet information header. IFF_VNET_HDR (unless NoOffload): a
	// virtio-net header before every frame, through which both sides hand
	// over TCP segments of up to 64 KiB and leave checksums to the other
	// (see vnet.go); without it the kernel hands over whole, checksummed
	// frames of at most its MTU, one system call each.
	flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if !o.NoOffload {
		flags |= unix.IFF_VNET_HDR
	}
	ifr.SetUint16(flags | unix.IFF_TUN_EXCL)
	err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
	created := err == nil
	if errors.Is(err, unix.EBUSY) {
		ifr, _ = unix.NewIfreq(o.Name)
		ifr.SetUint16(flags)
		err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
	}
	if err != nil {
		return dev, openError(opSetIff, o.Name, o.Netns, err)
	}
	dev = opened{fd: fd, name: ifr.Name(), created: created}
	if !o.NoOffload {
		dev.vnetHdr = true
		if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, vnetHdrSize); err != nil {
			return dev, openError("TUNSETVNETHDRSZ", o.Name, o.Netns, err)
		}
		// What the stack takes from the kernel: frames whose checksum is
		// left to it and TCP segments larger than the MTU. A kernel that
		// refuses still exchanges headers, and the stack can still send
		// large segments; it then receives plain frames.
		dev.rxOffload = unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, unix.TUN_F_CSUM|unix.TUN_F_TSO4|unix.TUN_F_TSO6) == nil
	}
	if created {
		if err := configureKernelSide(dev.name, o); err != nil {
			return dev, err
		}
	}
	if dev.mtu, err = kernelMTU(dev.name); err != nil {
		return dev, &OpenError{Op: opKernel + ": read MTU", Name: dev.name, Netns: o.Netns, Err: err, Kind: kindOf(opKernel, err)}
	}
	return dev, nil
}

// ioctlSocket opens the socket that interface ioctls go through.
func ioctlSocket() (int, error) {
	return unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
}

func kernelMTU(name string) (uint32, error) {
	s, err := ioctlSocket()
	if err != nil {
		return 0, err
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFMTU, ifr); err != nil {
		return 0, err
	}
	return ifr.Uint32(), nil
}

// configureKernelSide gives a device New created its kernel-side MTU and
// addresses and brings it up.
func configureKernelSide(name string, o *Options) error {
	fail := func(what string, err error) error {
		op := opKernel + ": " + what
		return &OpenError{Op: op, Name: name, Netns: o.Netns, Err: err, Kind: kindOf(op, err)}
	}
	s, err := ioctlSocket()
	if err != nil {
		return fail("socket", err)
	}
	defer unix.Close(s)
	mtu := o.KernelMTU
	if mtu == 0 {
		mtu = o.MTU
	}
	if mtu != 0 {
		ifr, _ := unix.NewIfreq(name)
		ifr.SetUint32(mtu)
		if err := unix.IoctlIfreq(s, unix.SIOCSIFMTU, ifr); err != nil {
			return fail(fmt.Sprintf("set MTU %d", mtu), err)
		}
	}
	ifr, _ := unix.NewIfreq(name)
	if err := unix.IoctlIfreq(s, unix.SIOCGIFINDEX, ifr); err != nil {
		return fail("interface index", err)
	}
	index := ifr.Uint32()
	for _, p := range o.KernelAddresses {
		if err := addAddress(index, p); err != nil {
			return fail("add address "+p.String(), err)
		}
	}
	ifr, _ = unix.NewIfreq(name)
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fail("read flags", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fail("bring up", err)
	}
	return nil
}

// addAddress adds p to interface index with an rtnetlink RTM_NEWADDR
// request, as `ip addr replace P dev NAME nodad` does. Netlink rather than
// the SIOCSIFADDR ioctl: it takes IPv6 and several addresses per family,
// and IFA_F_NODAD makes an IPv6 address usable at once instead of after a
// second of duplicate address detection.
func addAddress(index uint32, p netip.Prefix) error {
	s, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer unix.Close(s)
	addr := p.Addr().Unmap()
	family := uint8(unix.AF_INET)
	if addr.Is6() {
		family = unix.AF_INET6
	}
	ne := binary.NativeEndian
	msg := make([]byte, unix.SizeofNlMsghdr+unix.SizeofIfAddrmsg)
	// struct ifaddrmsg: family, prefixlen, flags, scope, index.
	am := msg[unix.SizeofNlMsghdr:]
	am[0] = family
	am[1] = uint8(p.Bits())
	am[3] = unix.RT_SCOPE_UNIVERSE
	ne.PutUint32(am[4:], index)
	attr := func(typ uint16, data []byte) {
		l := unix.SizeofRtAttr + len(data)
		b := make([]byte, (l+unix.RTA_ALIGNTO-1)&^(unix.RTA_ALIGNTO-1))
		ne.PutUint16(b[0:], uint16(l))
		ne.PutUint16(b[2:], typ)
		copy(b[unix.SizeofRtAttr:], data)
		msg = append(msg, b...)
	}
	attr(unix.IFA_LOCAL, addr.AsSlice())
	attr(unix.IFA_ADDRESS, addr.AsSlice())
	if addr.Is6() {
		flags := make([]byte, 4)
		ne.PutUint32(flags, unix.IFA_F_NODAD)
		attr(unix.IFA_FLAGS, flags)
	}
	// struct nlmsghdr: len, type, flags, seq, pid.
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], unix.RTM_NEWADDR)
	ne.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_REPLACE)
	ne.PutUint32(msg[8:], 1)
	if err := unix.Sendto(s, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	for {
		n, _, err := unix.Recvfrom(s, buf, 0)
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Type != unix.NLMSG_ERROR || m.Header.Seq != 1 {
				continue
			}
			if len(m.Data) < 4 {
				return errors.New("short netlink error message")
			}
			if code := int32(ne.Uint32(m.Data)); code != 0 {
				return syscall.Errno(-code)
			}
			return nil
		}
	}
}
