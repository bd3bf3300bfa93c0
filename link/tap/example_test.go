package tap_test

import (
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/tap"
	"github.com/usertcp/usertcp/stack"
)

// A stack on the TAP device that scripts/tapns.sh up makes in the network
// namespace usertcp (kernel side 10.77.0.1/30), fetching a page from a
// server the kernel side runs, such as
//
//	sudo ip netns exec usertcp python3 -m http.server --bind 10.77.0.1 8000
//
// It has no output to check: opening a TAP device needs CAP_NET_ADMIN, and
// joining the namespace CAP_SYS_ADMIN.
func ExampleNew() {
	ep, err := tap.New(tap.Options{Name: "usertcp0", Netns: "usertcp"})
	if errors.Is(err, tap.ErrPermission) || errors.Is(err, tap.ErrNoNetns) {
		fmt.Println(err) // the message says what to do: sudo, setcap, tapns.sh up
		return
	}
	if err != nil {
		panic(err)
	}
	st, err := stack.New(stack.Options{NICs: []stack.NIC{{Name: "eth0", Link: ep,
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.77.0.2/30")}}}})
	if err != nil {
		panic(err)
	}
	defer st.Close() // closes ep too

	conn, err := gentcp.NewNode(st).Dial("tcp", "10.77.0.1:8000")
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET / HTTP/1.0\r\n\r\n")
	reply, err := io.ReadAll(conn)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d bytes from the kernel's server\n", len(reply))
	fmt.Println(ep.Counters().BadChecksums, "bad checksums")
}

// New checks that the network namespace exists before it touches
// /dev/net/tun, so a missing one is ErrNoNetns whoever runs it, with a
// message that says how to make it.
func ExampleNew_missingNamespace() {
	_, err := tap.New(tap.Options{Name: "usertcp0", Netns: "usertcp-example-absent"})
	fmt.Println(errors.Is(err, tap.ErrNoNetns), errors.Is(err, tap.ErrPermission))
	var oe *tap.OpenError
	if errors.As(err, &oe) {
		fmt.Println("failed at:", oe.Op)
	}
	fmt.Println(err)
	// Output:
	// true false
	// failed at: open network namespace
	// tap usertcp0 in network namespace usertcp-example-absent: open network namespace: no such file or directory: create it first (ip netns add usertcp-example-absent, or scripts/tapns.sh up -n usertcp-example-absent)
}

// A namespace given by name is the file ip netns add makes; one given as
// a path is that file.
func ExampleNetnsPath() {
	fmt.Println(tap.NetnsPath("usertcp"))
	fmt.Println(tap.NetnsPath("/proc/1234/ns/net"))
	// Output:
	// /run/netns/usertcp
	// /proc/1234/ns/net
}
