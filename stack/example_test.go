package stack_test

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// Two stacks on an in-memory link, one NIC each, with a host table and
// TCP settings; a TCP echo through gVisor's gonet adapter, the client
// dialing the server by name.
func Example() {
	a, b, err := memlink.New(memlink.Options{Latency: time.Millisecond})
	if err != nil {
		panic(err)
	}
	tcp := stack.TCPOptions{CongestionControl: "cubic", MinRTO: 20 * time.Millisecond}
	server, err := stack.New(stack.Options{
		NICs: []stack.NIC{{Name: "eth0", Link: a,
			Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}}},
		TCP: tcp,
	})
	if err != nil {
		panic(err)
	}
	defer server.Close()
	client, err := stack.New(stack.Options{
		NICs: []stack.NIC{{Name: "eth0", Link: b,
			Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}}},
		Hosts: map[string][]netip.Addr{"server": {netip.MustParseAddr("10.0.0.1")}},
		TCP:   tcp,
	})
	if err != nil {
		panic(err)
	}
	defer client.Close()

	// The server: netstack's own listener, echoing one connection.
	l, err := gonet.ListenTCP(server.Netstack(), tcpip.FullAddress{Port: 7}, ipv4.ProtocolNumber)
	if err != nil {
		panic(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()

	// The client: the stack's host table, then a dial.
	addrs, err := client.LookupHost("server")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := gonet.DialContextTCP(ctx, client.Netstack(),
		tcpip.FullAddress{Addr: tcpip.AddrFrom4(addrs[0].As4()), Port: 7}, ipv4.ProtocolNumber)
	if err != nil {
		panic(err)
	}
	if _, err := c.Write([]byte("hello")); err != nil {
		panic(err)
	}
	if err := c.CloseWrite(); err != nil {
		panic(err)
	}
	reply, err := io.ReadAll(c)
	if err != nil {
		panic(err)
	}
	c.Close()
	<-done
	l.Close()

	fmt.Printf("server is %v\n", addrs)
	fmt.Printf("echoed %q via %v\n", reply, c.RemoteAddr())
	fmt.Println("congestion control:", client.TCP().CongestionControl)
	// Output:
	// server is [10.0.0.1]
	// echoed "hello" via 10.0.0.1:7
	// congestion control: cubic
}

// A stack's host table resolves "localhost" to its loopback NIC and any
// name given in Options.Hosts; other names are ErrUnknownHost.
func ExampleStack_LookupHost() {
	s, err := stack.New(stack.Options{
		Hosts: map[string][]netip.Addr{"db": {netip.MustParseAddr("10.0.0.5")}},
	})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	for _, name := range []string{"localhost", "DB", "nowhere"} {
		addrs, err := s.LookupHost(name)
		fmt.Println(name, addrs, err)
	}
	// Output:
	// localhost [127.0.0.1 ::1] <nil>
	// DB [10.0.0.5] <nil>
	// nowhere [] stack: "nowhere": unknown host
}
