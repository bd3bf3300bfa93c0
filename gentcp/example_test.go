package gentcp_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// twoNodes builds two stacks on a memlink and a gentcp node on each; the
// returned function closes everything.
func twoNodes() (server, client *gentcp.Node, closeAll func()) {
	a, b, err := memlink.New(memlink.Options{})
	if err != nil {
		panic(err)
	}
	mk := func(l *memlink.End, addr string) *stack.Stack {
		st, err := stack.New(stack.Options{NICs: []stack.NIC{{
			Name: "eth0", Link: l, Addresses: []netip.Prefix{netip.MustParsePrefix(addr)}}}})
		if err != nil {
			panic(err)
		}
		return st
	}
	sa, sb := mk(a, "10.0.0.1/24"), mk(b, "10.0.0.2/24")
	return gentcp.NewNode(sa), gentcp.NewNode(sb), func() { sa.Close(); sb.Close() }
}

// A passive echo with {packet,4} framing between two stacks.
func Example() {
	server, client, closeAll := twoNodes()
	defer closeAll()

	sp := server.NewProcess()
	defer sp.Exit()
	l, _ := sp.Listen(5678, gentcp.Binary, gentcp.Packet(4), gentcp.Active(false))
	server.Spawn(func(p *gentcp.Process) {
		s, _ := p.Accept(l, gentcp.Infinity)
		for {
			d, err := s.Recv(0, gentcp.Infinity)
			if err != nil {
				return // closed: the client went away
			}
			s.Send(d.Bytes)
		}
	})

	cp := client.NewProcess()
	defer cp.Exit()
	s, err := cp.Connect("10.0.0.1", 5678, 5*time.Second, gentcp.Binary, gentcp.Packet(4), gentcp.Active(false))
	if err != nil {
		fmt.Println(err)
		return
	}
	s.Send([]byte("hello"))
	s.Send(nil) // an empty packet is a bare header
	for range 2 {
		d, _ := s.Recv(0, 5*time.Second)
		fmt.Println(d)
	}
	st, _ := s.Getstat("send_cnt", "send_oct")
	fmt.Println(st)
	s.Close()
	// Output:
	// <<"hello">>
	// <<>>
	// [{send_cnt 2} {send_oct 13}]
}

// An {active,once} socket delivers one message per re-arm.
func ExampleSocket_Setopts_activeOnce() {
	server, client, closeAll := twoNodes()
	defer closeAll()
	sp := server.NewProcess()
	defer sp.Exit()
	l, _ := sp.Listen(5679, gentcp.Binary, gentcp.Packet(2), gentcp.ActiveOnce)
	cp := client.NewProcess()
	defer cp.Exit()
	c, _ := cp.Connect("10.0.0.1", 5679, 5*time.Second, gentcp.Binary, gentcp.Packet(2))
	s, _ := sp.Accept(l, 5*time.Second)
	c.Send([]byte("one"))
	c.Send([]byte("two"))
	for range 2 {
		m, _ := sp.Receive(5 * time.Second)
		switch m := m.(type) {
		case gentcp.TCP:
			fmt.Println("tcp", m.Data)
		}
		opts, _ := s.Getopts("active")
		fmt.Println(opts)
		s.Setopts(gentcp.ActiveOnce)
	}
	c.Close()
	m, _ := sp.Receive(5 * time.Second)
	fmt.Printf("%T\n", m)
	// Output:
	// tcp <<"one">>
	// [{active,false}]
	// tcp <<"two">>
	// [{active,false}]
	// gentcp.TCPClosed
}

// RecvAppend reads into one reused buffer: a stream is received without
// a new binary per call.
func ExampleSocket_RecvAppend() {
	server, client, closeAll := twoNodes()
	defer closeAll()
	sp := server.NewProcess()
	defer sp.Exit()
	l, _ := sp.Listen(5680, gentcp.Binary, gentcp.Active(false))
	cp := client.NewProcess()
	defer cp.Exit()
	c, _ := cp.Connect("10.0.0.1", 5680, 5*time.Second)
	s, _ := sp.Accept(l, 5*time.Second)
	c.Send([]byte("a stream of bytes"))
	c.Close()

	buf := make([]byte, 0, 8)
	var err error
	total := 0
	for {
		buf, err = s.RecvAppend(buf[:0], 0, 5*time.Second)
		if err != nil {
			fmt.Println(err) // closed: the peer is done
			break
		}
		total += len(buf) // at most cap(buf) bytes a call
	}
	fmt.Println(total, "bytes in one", cap(buf), "byte buffer")
	// Output:
	// closed
	// 17 bytes in one 8 byte buffer
}

// A bulk reader through Recv releases each Data once it is done with the
// bytes, so the next read reuses the array instead of allocating one.
func ExampleData_Release() {
	server, client, closeAll := twoNodes()
	defer closeAll()
	sp := server.NewProcess()
	defer sp.Exit()
	l, _ := sp.Listen(5681, gentcp.Binary, gentcp.Active(false), gentcp.Buffer(64<<10))
	cp := client.NewProcess()
	defer cp.Exit()
	c, _ := cp.Connect("10.0.0.1", 5681, 5*time.Second)
	s, _ := sp.Accept(l, 5*time.Second)
	go func() {
		for range 64 {
			c.Send(make([]byte, 16<<10))
		}
		c.Close()
	}()

	total := 0
	for {
		d, err := s.Recv(0, 5*time.Second)
		if err != nil {
			fmt.Println(err)
			break
		}
		total += len(d.Bytes) // use the bytes...
		d.Release()           // ...then neither d nor its bytes again
	}
	fmt.Println(total, "bytes")
	// Output:
	// closed
	// 1048576 bytes
}

// Options can be written in Erlang syntax, as in sys.config.
func ExampleParseOptions() {
	opts, err := gentcp.ParseOptions("[binary, {packet, 4}, {active, once}, {ip, {10,0,0,1}}]")
	fmt.Println(opts, err)
	_, err = gentcp.ParseOptions("[{packet, 3}]")
	fmt.Println(err)
	// Output:
	// [binary {packet,4} {active,once} {ip,{10,0,0,1}}] <nil>
	// gentcp: bad option {packet,3}: want 0, raw, 1, 2, 4, line, asn1, cdr, sunrm, fcgi, tpkt, http, httph, http_bin or httph_bin (badarg)
}
