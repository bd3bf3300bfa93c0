package memlink_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// Two stacks on a link: a gen_tcp echo server on one, a client on the
// other.
func ExampleNew() {
	a, b, err := memlink.New(memlink.Options{Latency: time.Millisecond})
	if err != nil {
		panic(err)
	}
	server, err := stack.New(stack.Options{NICs: []stack.NIC{{Name: "eth0", Link: a,
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}}}})
	if err != nil {
		panic(err)
	}
	defer server.Close()
	client, err := stack.New(stack.Options{NICs: []stack.NIC{{Name: "eth0", Link: b,
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}}}})
	if err != nil {
		panic(err)
	}
	defer client.Close()

	sp := gentcp.NewNode(server).NewProcess()
	defer sp.Exit()
	l, err := sp.Listen(7, gentcp.Binary, gentcp.Packet(4), gentcp.Active(false))
	if err != nil {
		panic(err)
	}
	go func() {
		s, err := sp.Accept(l, 5*time.Second)
		if err != nil {
			return
		}
		if d, err := s.Recv(0, 5*time.Second); err == nil {
			_ = s.Send(d.Bytes)
		}
	}()

	cp := gentcp.NewNode(client).NewProcess()
	defer cp.Exit()
	s, err := cp.Connect("10.0.0.1", 7, 5*time.Second, gentcp.Binary, gentcp.Packet(4), gentcp.Active(false))
	if err != nil {
		panic(err)
	}
	_ = s.Send([]byte("hello"))
	d, err := s.Recv(0, 5*time.Second)
	if err != nil {
		panic(err)
	}
	fmt.Printf("echoed %q\n", d.Bytes)
	c := a.Counters()
	fmt.Println("a sent frames:", c.Frames > 0, "dropped:", c.Dropped)
	// Output:
	// echoed "hello"
	// a sent frames: true dropped: 0
}

// Five stacks on one real-time network, each running a net/http server
// and fetching from the four others by name; then a partition, during
// which requests across the groups fail, and a heal.
func ExampleNetwork() {
	n, err := memlink.NewNetwork(memlink.Options{Latency: 100 * time.Microsecond, Seed: 1})
	if err != nil {
		panic(err)
	}
	defer n.Close()
	names := []string{"n1", "n2", "n3", "n4", "n5"}
	table := map[string][]netip.Addr{}
	ports := map[string]*memlink.Port{}
	for i, name := range names {
		a := netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})
		table[name] = []netip.Addr{a}
		if ports[name], err = n.AddPort(name, a); err != nil {
			panic(err)
		}
	}
	clients := map[string]*http.Client{}
	for _, name := range names {
		st, err := stack.New(stack.Options{
			NICs:  []stack.NIC{{Name: "eth0", Link: ports[name], Addresses: []netip.Prefix{netip.PrefixFrom(table[name][0], 24)}}},
			Hosts: table,
		})
		if err != nil {
			panic(err)
		}
		defer st.Close()
		node := gentcp.NewNode(st)
		l, err := node.Listen("tcp", ":80")
		if err != nil {
			panic(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello from %s", name)
		})}
		go func() { _ = srv.Serve(l) }()
		defer srv.Close()
		tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return node.DialContext(ctx, network, addr)
		}}
		defer tr.CloseIdleConnections()
		clients[name] = &http.Client{Transport: tr}
	}

	// get fetches from every host to every other at once, each request
	// given up after timeout, and returns what each pair got, sorted.
	get := func(timeout time.Duration) []string {
		var mu sync.Mutex
		var wg sync.WaitGroup
		var out []string
		for _, from := range names {
			for _, to := range names {
				if from == to {
					continue
				}
				wg.Go(func() {
					got := "failed"
					ctx, cancel := context.WithTimeout(context.Background(), timeout)
					defer cancel()
					req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+to+"/", nil)
					if r, err := clients[from].Do(req); err == nil {
						b, _ := io.ReadAll(r.Body)
						r.Body.Close()
						got = string(b)
					}
					mu.Lock()
					out = append(out, from+"→"+to+": "+got)
					mu.Unlock()
				})
			}
		}
		wg.Wait()
		slices.Sort(out)
		return out
	}
	all := get(10 * time.Second)
	fmt.Println(len(all), "requests;", all[0], ";", all[len(all)-1])

	// n1 and n2 on one side, the rest on the other.
	if err := n.Partition([]string{"n1", "n2"}, []string{"n3", "n4", "n5"}); err != nil {
		panic(err)
	}
	for _, c := range clients {
		c.Transport.(*http.Transport).CloseIdleConnections()
	}
	for _, line := range get(time.Second) {
		if line[:2] == "n1" {
			fmt.Println(line)
		}
	}
	n.Heal()
	all = get(10 * time.Second)
	fmt.Println(all[3], "; cut so far:", n.Counters("n1", "").Cut > 0, "; unroutable:", n.Counters("", "").Unroutable)
	// Output:
	// 20 requests; n1→n2: hello from n2 ; n5→n4: hello from n4
	// n1→n2: hello from n2
	// n1→n3: failed
	// n1→n4: failed
	// n1→n5: failed
	// n1→n5: hello from n5 ; cut so far: true ; unroutable: 0
}
