package tap_test

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/tap"
)

// TestPortScanFindsOnlyServedPorts: the kernel host scans every TCP port
// of both of the usertcp side's addresses. It finds open exactly the ports
// a gen_tcp listen socket serves on that address: a listener bound to the
// IPv4 address is not reachable over IPv6, a dual-stack inet6 listener is
// reachable over both, and neither the local port of an outgoing
// connection nor a closed listener's port accepts a connection. Every
// other port answers with a RST (refused), none stays silent.
func TestPortScanFindsOnlyServedPorts(t *testing.T) {
	l := newTapLink(t, linkOptions{})

	// Served: one listener on the IPv4 address only, one dual-stack.
	_, v4port := userListen(t, l, "inet", append(passive, gentcp.IP(l.userAddr["inet"]))...)
	_, dualPort := userListen(t, l, "inet6", passive...)
	// Not served: a listener opened and closed again, and the local port
	// of a connection the user side made to the kernel.
	closed, closedPort := userListen(t, l, "inet", passive...)
	closed.Close()
	peerLn, peerPort := peerListen(t, l, "inet")
	go func() {
		if c, err := peerLn.Accept(); err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}()
	_, out := connectUser(t, l, "inet", peerPort, passive...)
	outAddr, err := out.Sockname()
	if err != nil {
		t.Fatalf("inet:sockname: %v", err)
	}
	outPort := int(outAddr.Port())

	want := map[string][]int{
		"inet":  sorted(v4port, dualPort),
		"inet6": {dualPort},
	}
	for _, family := range families {
		t0 := time.Now()
		open, silent, err := scan(l.ns.Name, l.userAddr[family], 1, 65535)
		if err != nil {
			t.Fatalf("scanning %s: %v", l.userAddr[family], err)
		}
		t.Logf("%s: scanned 65535 ports in %v: open %v, silent %d", l.userAddr[family],
			time.Since(t0).Round(time.Millisecond), open, len(silent))
		if !slices.Equal(open, want[family]) {
			t.Errorf("%s: open ports %v, want only the served %v (closed listener %d, outgoing local port %d)",
				l.userAddr[family], open, want[family], closedPort, outPort)
		}
		if len(silent) > 0 {
			t.Errorf("%s: %d ports neither accepted nor refused a connection (first %v): a closed port must answer with a RST",
				l.userAddr[family], len(silent), silent[:min(len(silent), 10)])
		}
	}
}

func sorted(p ...int) []int { slices.Sort(p); return p }

// scan connects, from a kernel socket in network namespace netns, to
// every port of addr in [from, to], a batch of non-blocking connects at a
// time, and sorts the ports into those that accepted the connection and
// those that gave no answer within two seconds; the rest refused. It uses
// raw sockets on one thread rather than net.Dial so that the whole scan
// enters the namespace once.
func scan(netns string, addr netip.Addr, from, to int) (open, silent []int, err error) {
	const batch = 256
	err = tap.InNetns(netns, func() error {
		for lo := from; lo <= to; lo += batch {
			hi := min(lo+batch-1, to)
			o, s, err := scanBatch(addr, lo, hi)
			if err != nil {
				return err
			}
			open, silent = append(open, o...), append(silent, s...)
		}
		return nil
	})
	return open, silent, err
}

func scanBatch(addr netip.Addr, lo, hi int) (open, silent []int, err error) {
	domain := unix.AF_INET
	if addr.Is6() {
		domain = unix.AF_INET6
	}
	fds := make([]unix.PollFd, 0, hi-lo+1)
	ports := make([]int, 0, hi-lo+1)
	defer func() {
		for _, p := range fds {
			// Linger 0: close with a RST, so the scan leaves no
			// TIME_WAIT on either side.
			unix.SetsockoptLinger(int(p.Fd), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
			unix.Close(int(p.Fd))
		}
	}()
	for port := lo; port <= hi; port++ {
		fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("socket: %w", err)
		}
		fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLOUT})
		ports = append(ports, port)
		var sa unix.Sockaddr
		if addr.Is6() {
			sa = &unix.SockaddrInet6{Port: port, Addr: addr.As16()}
		} else {
			sa = &unix.SockaddrInet4{Port: port, Addr: addr.As4()}
		}
		if err := unix.Connect(fd, sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
			return nil, nil, fmt.Errorf("connect to port %d: %w", port, err)
		}
	}
	// Wait until every connect has an outcome, or two seconds pass.
	deadline := time.Now().Add(2 * time.Second)
	pending := slices.Clone(fds)
	for len(pending) > 0 {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		if _, err := unix.Poll(pending, int(left/time.Millisecond)+1); err != nil && !errors.Is(err, unix.EINTR) {
			return nil, nil, fmt.Errorf("poll: %w", err)
		}
		pending = slices.DeleteFunc(pending, func(p unix.PollFd) bool { return p.Revents != 0 })
		for i := range pending {
			pending[i].Revents = 0
		}
	}
	for i, p := range fds {
		if slices.ContainsFunc(pending, func(q unix.PollFd) bool { return q.Fd == p.Fd }) {
			silent = append(silent, ports[i])
			continue
		}
		soErr, err := unix.GetsockoptInt(int(p.Fd), unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return nil, nil, fmt.Errorf("SO_ERROR: %w", err)
		}
		switch unix.Errno(soErr) {
		case 0:
			open = append(open, ports[i])
		case unix.ECONNREFUSED:
		default:
			return nil, nil, fmt.Errorf("port %d: %w", ports[i], unix.Errno(soErr))
		}
	}
	return open, silent, nil
}
