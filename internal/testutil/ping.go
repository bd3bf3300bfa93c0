package testutil

import (
	"bytes"
	"errors"
	"net/netip"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/usertcp/usertcp/stack"
)

// Ping sends one ICMP echo request from st to dst through netstack's ping
// socket and waits for the reply; it returns the round-trip time.
func Ping(st *stack.Stack, dst netip.Addr, timeout time.Duration) (time.Duration, error) {
	tp, np, typ := icmp.ProtocolNumber4, ipv4.ProtocolNumber, byte(header.ICMPv4Echo)
	if dst.Is6() {
		tp, np, typ = icmp.ProtocolNumber6, ipv6.ProtocolNumber, byte(header.ICMPv6EchoRequest)
	}
	var wq waiter.Queue
	ep, terr := st.Netstack().NewEndpoint(tp, np, &wq)
	if terr != nil {
		return 0, errors.New(terr.String())
	}
	defer ep.Close()
	if terr := ep.Connect(tcpip.FullAddress{Addr: tcpip.AddrFromSlice(dst.AsSlice())}); terr != nil {
		return 0, errors.New(terr.String())
	}
	entry, ch := waiter.NewChannelEntry(waiter.ReadableEvents)
	wq.EventRegister(&entry)
	defer wq.EventUnregister(&entry)
	msg := make([]byte, 8+16)
	msg[0] = typ
	copy(msg[8:], "usertcp ping....")
	start := time.Now()
	var r bytes.Reader
	r.Reset(msg)
	if _, terr := ep.Write(&r, tcpip.WriteOptions{}); terr != nil {
		return 0, errors.New(terr.String())
	}
	deadline := time.After(timeout)
	for {
		var out bytes.Buffer
		_, terr := ep.Read(&out, tcpip.ReadOptions{})
		if terr == nil {
			if bytes.Contains(out.Bytes(), []byte("usertcp ping")) {
				return time.Since(start), nil
			}
			continue
		}
		if _, ok := terr.(*tcpip.ErrWouldBlock); !ok {
			return 0, errors.New(terr.String())
		}
		select {
		case <-ch:
		case <-deadline:
			return 0, errors.New("ping: no reply")
		}
	}
}
