package tap_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/usertcp/usertcp/link/fault"
	"github.com/usertcp/usertcp/link/pcap"
	"github.com/usertcp/usertcp/link/tap"
	"github.com/usertcp/usertcp/link/tap/taptest"
)

// TestOffload moves 4 MiB each way between the stack and the kernel over
// a 1500-byte TAP link and checks, from a capture, what crossed it: with
// offload (the default) TCP segments larger than the MTU both ways, since
// netstack hands the kernel 64 KiB segments and the kernel hands the stack
// the same; with NoOffload no frame above the MTU. Either way the bytes
// arrive intact, which needs the checksums the kernel left to the stack
// to be finished right (the link verifies what the kernel did not vouch
// for, unless ChecksumOffload).
func TestOffload(t *testing.T) {
	const mtu = 1500
	for _, c := range []struct {
		noOffload, checksumOffload bool
	}{{false, false}, {false, true}, {true, false}} {
		for _, family := range []string{"tcp4", "tcp6"} {
			t.Run(fmt.Sprintf("NoOffload=%v/ChecksumOffload=%v/%s", c.noOffload, c.checksumOffload, family), func(t *testing.T) {
				leakCheck(t)
				ns := taptest.NewNamespace(t, mtu)
				var capture bytes.Buffer
				o := ns.Options()
				o.NoOffload, o.ChecksumOffload, o.Pcap = c.noOffload, c.checksumOffload, &capture
				ep, err := tap.New(o)
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if send, _ := ep.Offload(); send == c.noOffload {
					t.Errorf("Offload() send = %v with NoOffload %v", send, c.noOffload)
				}
				// With offload the link checks received checksums itself
				// (rxcheck.go), so netstack is told not to check them again.
				if claimed := ep.Capabilities()&netstack.CapabilityRXChecksumOffload != 0; claimed != (!c.noOffload || c.checksumOffload) {
					t.Errorf("RX checksum offload claimed to netstack: %v, want %v", claimed, !c.noOffload || c.checksumOffload)
				}
				st := newStack(t, ep)
				peer, proto := taptest.Kernel4, ipv4.ProtocolNumber
				if family == "tcp6" {
					peer, proto = taptest.Kernel6, ipv6.ProtocolNumber
				}
				ln, err := ns.Listen(family, netip.AddrPortFrom(peer, 0).String())
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				accepted := make(chan net.Conn, 1)
				go func() {
					kc, err := ln.Accept()
					if err != nil {
						close(accepted)
						return
					}
					accepted <- kc
				}()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				uc, err := gonet.DialContextTCP(ctx, st.Netstack(), tcpip.FullAddress{
					Addr: tcpip.AddrFromSlice(peer.AsSlice()), Port: uint16(ln.Addr().(*net.TCPAddr).Port)}, proto)
				if err != nil {
					t.Fatalf("dial the kernel: %v", err)
				}
				defer uc.Close()
				kc, ok := <-accepted
				if !ok {
					t.Fatal("kernel accept failed")
				}
				defer kc.Close()
				deadline := time.Now().Add(30 * time.Second)
				uc.SetDeadline(deadline)
				kc.SetDeadline(deadline)

				up, down := randomBytes(1, 4<<20), randomBytes(2, 4<<20)
				gotUp, gotDown := make(chan [32]byte, 1), make(chan [32]byte, 1)
				go func() { gotUp <- hashN(kc, len(up)) }()
				go func() { gotDown <- hashN(uc, len(down)) }()
				go kc.Write(down)
				if _, err := uc.Write(up); err != nil {
					t.Fatalf("stack write: %v", err)
				}
				if h := <-gotUp; h != sha256.Sum256(up) {
					t.Errorf("stack -> kernel: the kernel read other bytes than were sent")
				}
				if h := <-gotDown; h != sha256.Sum256(down) {
					t.Errorf("kernel -> stack: the stack read other bytes than were sent")
				}
				uc.Close()
				kc.Close()
				st.Close()

				recs, _, err := pcap.ReadFile(&capture)
				if err != nil {
					t.Fatalf("pcap.ReadFile: %v", err)
				}
				mac := string(ep.LinkAddress())
				var bigOut, bigIn, frames int
				for _, r := range recs {
					eth := header.Ethernet(r.Data)
					if eth.Type() != header.IPv4ProtocolNumber && eth.Type() != header.IPv6ProtocolNumber {
						continue
					}
					frames++
					if len(r.Data) <= header.EthernetMinimumSize+mtu {
						continue
					}
					if string(eth.SourceAddress()) == mac {
						bigOut++
					} else {
						bigIn++
					}
				}
				t.Logf("%d IP frames, %d sent and %d received above the MTU; counters %+v", frames, bigOut, bigIn, ep.Counters())
				if n := ep.Counters().BadChecksums; n != 0 {
					t.Errorf("%d of the kernel's frames refused for their checksums", n)
				}
				if c.noOffload && bigOut+bigIn > 0 {
					t.Errorf("NoOffload: %d frames sent and %d received above the %d-byte MTU", bigOut, bigIn, mtu)
				}
				if !c.noOffload && (bigOut == 0 || bigIn == 0) {
					t.Errorf("offload: %d frames sent and %d received above the MTU, want some each way", bigOut, bigIn)
				}
			})
		}
	}
}

// TestOffloadAndCorrupt: corruption needs checksums the stack finishes,
// since the kernel would sum over the corrupted bytes. Corrupt at New
// keeps segmentation offload off; SetFaults refuses Corrupt on a link
// that has it on, and takes it with NoOffload.
func TestOffloadAndCorrupt(t *testing.T) {
	leakCheck(t)
	ns := taptest.NewNamespace(t, 0)
	o := ns.Options()
	o.Corrupt = 0.01
	ep, err := tap.New(o)
	if err != nil {
		t.Fatalf("New(Corrupt): %v", err)
	}
	if send, _ := ep.Offload(); send {
		t.Errorf("Offload() send = true with Corrupt set")
	}
	ep.Close()

	ep, err = tap.New(ns.Options())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := ep.SetFaults(fault.Config{Corrupt: 0.01}); err == nil {
		t.Errorf("SetFaults(Corrupt) on an offloading link = nil, want an error")
	}
	if err := ep.SetFaults(fault.Config{Loss: 0.01}); err != nil {
		t.Errorf("SetFaults(Loss) on an offloading link: %v", err)
	}
	ep.Close()

	o = ns.Options()
	o.NoOffload = true
	ep, err = tap.New(o)
	if err != nil {
		t.Fatalf("New(NoOffload): %v", err)
	}
	defer ep.Close()
	if err := ep.SetFaults(fault.Config{Corrupt: 0.01}); err != nil {
		t.Errorf("SetFaults(Corrupt) with NoOffload: %v", err)
	}
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// hashN reads exactly n bytes from r and returns their SHA-256 (zero on a
// short read).
func hashN(r io.Reader, n int) [32]byte {
	h := sha256.New()
	if _, err := io.CopyN(h, r, int64(n)); err != nil {
		return [32]byte{}
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}
