package stack_test

import (
	"bytes"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"

	"go.uber.org/goleak"

	"github.com/usertcp/usertcp/internal/testutil"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// TestNetstackIgnoresWindowClamp is a canary for the pinned netstack: it
// stores TCPWindowClampOption but never applies it to the window it
// advertises (transport/tcp/endpoint.go selectWindowLocked does not read
// windowClamp). A receiver that clamps its window to 4 KiB and does not
// read still has far more than 4 KiB queued. BENCHMARKS.md ("one timeout
// a round") relies on this: netstack offers no window knob a truthful
// receive window could use. When this test fails, netstack applies the
// clamp, and a window bounded by the memory small segments really cost
// can be set through it.
func TestNetstackIgnoresWindowClamp(t *testing.T) {
	defer goleak.VerifyNone(t)
	const clamp = 4 << 10
	p := testutil.NewPair(t, memlink.Options{}, stack.TCPOptions{})
	defer p.Close()

	const port = 5002
	l, err := gonet.ListenTCP(p.A.Netstack(), tcpip.FullAddress{Port: port}, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := acceptOne(l)

	// B receives: its endpoint is made here so the clamp is set before
	// the handshake, as Linux's TCP_WINDOW_CLAMP would be.
	var wq waiter.Queue
	ep, terr := p.B.Netstack().NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	if terr != nil {
		t.Fatal(terr)
	}
	if terr := ep.SetSockOptInt(tcpip.TCPWindowClampOption, clamp); terr != nil {
		ep.Close()
		t.Fatalf("set TCPWindowClampOption: %v", terr)
	}
	got, terr := ep.GetSockOptInt(tcpip.TCPWindowClampOption)
	if terr != nil || got != clamp {
		ep.Close()
		t.Fatalf("TCPWindowClampOption reads %d, %v; want %d stored", got, terr, clamp)
	}
	defer ep.Close()
	connected, ch := waiter.NewChannelEntry(waiter.WritableEvents)
	wq.EventRegister(&connected)
	defer wq.EventUnregister(&connected)
	terr = ep.Connect(tcpip.FullAddress{Addr: tcpip.AddrFromSlice(testutil.AddrA4.AsSlice()), Port: port})
	if _, started := terr.(*tcpip.ErrConnectStarted); started {
		select {
		case <-ch:
			terr = ep.LastError()
		case <-time.After(10 * time.Second):
			t.Fatal("connect did not finish")
		}
	}
	if terr != nil {
		t.Fatalf("connect: %v", terr)
	}
	s, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer s.Close()

	// A sends 256 KiB that B never reads; A's writes block once B's
	// window is full.
	const sent = 256 << 10
	go func() { _, _ = s.Write(bytes.Repeat([]byte{'x'}, sent)) }()
	queued, want := 0, 4*clamp
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if queued, terr = ep.GetSockOptInt(tcpip.ReceiveQueueSizeOption); terr != nil {
			t.Fatalf("ReceiveQueueSizeOption: %v", terr)
		}
		if queued >= want {
			break
		}
	}
	if queued < want {
		t.Fatalf("a receiver with TCPWindowClampOption %d queued only %d bytes of %d: netstack now applies the clamp "+
			"(see BENCHMARKS.md, \"one timeout a round\": the truthful receive window can use it)", clamp, queued, sent)
	}
	t.Logf("clamp %d B stored, yet %d B queued unread: the clamp is not applied", clamp, queued)
}
