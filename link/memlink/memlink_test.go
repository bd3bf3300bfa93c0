package memlink_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"

	"github.com/usertcp/usertcp/internal/testutil"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/link/pcap"
	"github.com/usertcp/usertcp/stack"
)

const transferSize = 10 << 20

// nextPort gives each transfer its own port, so TIME_WAIT of an earlier
// one never collides.
var nextPort atomic.Uint32

// transfer moves n seeded random bytes from stack B to stack A over TCP
// (netstack's own gonet, so this tests the link, not gentcp) and returns
// the SHA-256 of what was sent and of what arrived. during, if set, runs
// once the transfer is under way.
func transfer(t *testing.T, p *testutil.Pair, v6 bool, n int, during func()) (sent, got [32]byte) {
	t.Helper()
	addr := testutil.AddrA4
	if v6 {
		addr = testutil.AddrA6
	}
	return transferBetween(t, p.B, p.A, addr, n, during)
}

// transferBetween moves n seeded random bytes from src to the stack dst at
// addr, as transfer does.
func transferBetween(t *testing.T, src, dst *stack.Stack, addr netip.Addr, n int, during func()) (sent, got [32]byte) {
	t.Helper()
	proto := ipv4.ProtocolNumber
	if addr.Is6() {
		proto = ipv6.ProtocolNumber
	}
	port := uint16(5000 + nextPort.Add(1))
	l, err := gonet.ListenTCP(dst.Netstack(), tcpip.FullAddress{Port: port}, proto)
	require.NoError(t, err)
	defer l.Close()
	recvd := make(chan [32]byte, 1)
	recvErr := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			recvErr <- err
			return
		}
		defer c.Close()
		h := sha256.New()
		if _, err := io.Copy(h, c); err != nil {
			recvErr <- err
			return
		}
		var s [32]byte
		copy(s[:], h.Sum(nil))
		recvd <- s
	}()
	c, err := gonet.DialTCP(src.Netstack(), tcpip.FullAddress{Addr: tcpip.AddrFromSlice(addr.AsSlice()), Port: port}, proto)
	require.NoError(t, err)
	h := sha256.New()
	var seed [32]byte
	rng := rand.NewChaCha8(seed)
	buf := make([]byte, 64<<10)
	for left, i := n, 0; left > 0; i++ {
		k := min(left, len(buf))
		rng.Read(buf[:k])
		h.Write(buf[:k])
		_, err := c.Write(buf[:k])
		require.NoError(t, err)
		left -= k
		if i == 8 && during != nil {
			during()
		}
	}
	require.NoError(t, c.CloseWrite())
	copy(sent[:], h.Sum(nil))
	select {
	case got = <-recvd:
	case err := <-recvErr:
		t.Fatalf("receiver: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("transfer did not finish in 2 minutes")
	}
	c.Close()
	return sent, got
}

func TestTransfer(t *testing.T) {
	cases := []struct {
		name   string
		opts   memlink.Options
		during func(p *testutil.Pair)
		check  func(t *testing.T, a, b memlink.Counters)
	}{
		{name: "clean link", opts: memlink.Options{ChecksumOffload: true},
			check: func(t *testing.T, a, b memlink.Counters) { assert.Zero(t, b.Dropped) }},
		{name: "5% loss", opts: memlink.Options{Loss: 0.05},
			check: func(t *testing.T, a, b memlink.Counters) { assert.NotZero(t, b.Dropped) }},
		{name: "1% duplication", opts: memlink.Options{Duplicate: 0.01},
			check: func(t *testing.T, a, b memlink.Counters) { assert.NotZero(t, b.Duplicated) }},
		{name: "reordering", opts: memlink.Options{Reorder: 0.02, Latency: 200 * time.Microsecond},
			check: func(t *testing.T, a, b memlink.Counters) { assert.NotZero(t, b.Reordered) }},
		{name: "0.1% corruption", opts: memlink.Options{Corrupt: 0.001},
			check: func(t *testing.T, a, b memlink.Counters) { assert.NotZero(t, b.Corrupted) }},
		{name: "20 ms latency with jitter", opts: memlink.Options{Latency: 20 * time.Millisecond, Jitter: 2 * time.Millisecond}},
		{name: "3 s partition then heal", opts: memlink.Options{},
			during: func(p *testutil.Pair) {
				p.LinkA.Partition()
				p.LinkB.Partition()
				time.Sleep(3 * time.Second)
				p.LinkA.Heal()
				p.LinkB.Heal()
			},
			check: func(t *testing.T, a, b memlink.Counters) { assert.NotZero(t, b.Dropped) }},
	}
	for _, tc := range cases {
		for _, v6 := range []bool{false, true} {
			name := tc.name + "/IPv4"
			if v6 {
				name = tc.name + "/IPv6"
			}
			t.Run(name, func(t *testing.T) {
				defer goleak.VerifyNone(t)
				tc.opts.Seed = 42
				t.Logf("seed %d", tc.opts.Seed)
				p := testutil.NewPair(t, tc.opts, stack.TCPOptions{MinRTO: 10 * time.Millisecond, MaxRTO: 500 * time.Millisecond})
				var during func()
				if tc.during != nil {
					during = func() { tc.during(p) }
				}
				sent, got := transfer(t, p, v6, transferSize, during)
				assert.Equal(t, fmt.Sprintf("%x", sent), fmt.Sprintf("%x", got), "SHA-256 of the bytes sent and received")
				if tc.check != nil {
					tc.check(t, p.LinkA.Counters(), p.LinkB.Counters())
				}
				p.Close()
			})
		}
	}
}

// TestBackpressureNoDrops checks that a full queue slows the sender
// instead of dropping: a tiny queue on a clean link loses no frame.
func TestBackpressureNoDrops(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := testutil.NewPair(t, memlink.Options{QueueFrames: 4, ChecksumOffload: true}, stack.TCPOptions{})
	sent, got := transfer(t, p, false, 4<<20, nil)
	assert.Equal(t, sent, got)
	// The last ACKs may still be in the queue when the transfer returns:
	// every frame written must be delivered, not necessarily by then.
	var b memlink.Counters
	assert.Eventually(t, func() bool {
		b = p.LinkB.Counters()
		return b.Frames == b.Delivered
	}, 5*time.Second, time.Millisecond, "every frame written was delivered")
	assert.Equal(t, b.Frames, b.Delivered, "every frame written was delivered")
	assert.Zero(t, b.Dropped)
	p.Close()
}

// TestNoGoroutineLeftAfterClose builds and closes stacks and links and
// checks nothing keeps running.
func TestNoGoroutineLeftAfterClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	for range 3 {
		p := testutil.NewPair(t, memlink.Options{Latency: time.Millisecond, Loss: 0.01, Ethernet: true}, stack.TCPOptions{})
		sent, got := transfer(t, p, false, 256<<10, nil)
		require.Equal(t, sent, got)
		p.Close()
	}
}

// TestEthernetARPAndPing resolves neighbours with ARP and NDP over an
// Ethernet memlink and checks each stack answers ICMP echo.
func TestEthernetARPAndPing(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := testutil.NewPair(t, memlink.Options{Ethernet: true}, stack.TCPOptions{})
	for _, v6 := range []bool{false, true} {
		sent, got := transfer(t, p, v6, 64<<10, nil)
		assert.Equal(t, sent, got)
	}
	for _, dst := range []netip.Addr{testutil.AddrA4, testutil.AddrA6} {
		rtt, err := testutil.Ping(p.B, dst, time.Second)
		require.NoError(t, err, "ping %v", dst)
		assert.Greater(t, rtt, time.Duration(0))
	}
	p.Close()
}

var _ net.Conn = (*gonet.TCPConn)(nil)

// TestGROMergesBulkSegments: on a checksum-offloaded link the pumps merge
// a bulk transfer's segments, so the stacks handle fewer TCP segments than
// frames crossed the wire; with NoGRO every frame is one segment. The
// bytes arrive intact either way.
func TestGROMergesBulkSegments(t *testing.T) {
	for _, noGRO := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoGRO=%v", noGRO), func(t *testing.T) {
			defer goleak.VerifyNone(t)
			// NoGSO: with GSO a clean offloaded link passes segments
			// whole (TestWholeSegments), leaving GRO nothing to merge.
			p := testutil.NewPair(t, memlink.Options{ChecksumOffload: true, NoGRO: noGRO, NoGSO: true}, stack.TCPOptions{})
			sent, got := transfer(t, p, false, 8<<20, nil)
			assert.Equal(t, sent, got)
			var frames, segs uint64
			count := func() {
				frames = p.LinkA.Counters().Delivered + p.LinkB.Counters().Delivered
				segs = p.A.Netstack().Stats().TCP.ValidSegmentsReceived.Value() +
					p.B.Netstack().Stats().TCP.ValidSegmentsReceived.Value()
			}
			if noGRO {
				// When the transfer ends the last frames may still wait
				// in an endpoint's segment queue, delivered but not yet
				// handled, and the pump counts a batch's frames only once
				// it has delivered the whole batch, while netstack counts
				// each segment as it handles it: every frame must become a
				// segment, once the closing ACKs have settled.
				assert.Eventually(t, func() bool {
					count()
					d := int64(frames) - int64(segs)
					return -3 <= d && d <= 3
				}, 5*time.Second, time.Millisecond)
				t.Logf("%d frames crossed, %d TCP segments handled", frames, segs)
				assert.InDelta(t, frames, segs, 3, "without GRO every frame is a segment")
			} else {
				count()
				t.Logf("%d frames crossed, %d TCP segments handled", frames, segs)
				assert.Less(t, segs, frames*9/10, "GRO merged no more than a tenth of the frames")
			}
			p.Close()
		})
	}
}

// TestGSOCutsSegmentsIntoFrames: by default netstack may hand an end
// segments of up to 64 KiB (gVisor GSO), which it cuts into MSS-sized
// frames itself; NoGSO takes the offer back. Either way no frame on the
// wire exceeds the MTU, and a transfer through loss arrives intact.
func TestGSOCutsSegmentsIntoFrames(t *testing.T) {
	for _, noGSO := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoGSO=%v", noGSO), func(t *testing.T) {
			defer goleak.VerifyNone(t)
			var capture bytes.Buffer
			p := testutil.NewPair(t, memlink.Options{NoGSO: noGSO, Loss: 0.01, Seed: 7, Pcap: &capture}, stack.TCPOptions{})
			r, terr := p.B.Netstack().FindRoute(0, tcpip.Address{}, tcpip.AddrFromSlice(testutil.AddrA4.AsSlice()), ipv4.ProtocolNumber, false)
			require.Nil(t, terr)
			assert.Equal(t, !noGSO, r.HasGVisorGSOCapability(), "netstack sees the link's GSO offer")
			r.Release()

			sent, got := transfer(t, p, false, 4<<20, nil)
			assert.Equal(t, sent, got)
			p.Close()
			recs, _, err := pcap.ReadFile(&capture)
			require.NoError(t, err)
			require.NotEmpty(t, recs)
			biggest := 0
			for _, rec := range recs {
				biggest = max(biggest, rec.OrigLen)
			}
			t.Logf("%d frames captured, the biggest %d bytes", len(recs), biggest)
			assert.LessOrEqual(t, biggest, 1500, "a frame above the MTU crossed the wire")
			assert.Greater(t, biggest, 1400, "the transfer sent no full-sized frame")
		})
	}
}

// TestWholeSegments: on a clean checksum-offloaded link (the default
// setup for speed) segments of up to 64 KiB cross whole, as on a Linux
// veth pair, so a bulk transfer needs a few frames per 64 KiB rather than
// one per MSS; a link with faults, without checksum offload or with NoGSO
// cuts them into MTU-sized frames. The bytes arrive intact, both families.
func TestWholeSegments(t *testing.T) {
	for name, c := range map[string]struct {
		opts  memlink.Options
		whole bool
	}{
		"clean, offloaded": {memlink.Options{ChecksumOffload: true}, true},
		"loss":             {memlink.Options{ChecksumOffload: true, Loss: 0.001, Seed: 3}, false},
		"latency":          {memlink.Options{ChecksumOffload: true, Latency: time.Microsecond}, false},
		"checksums":        {memlink.Options{}, false},
		"NoGSO":            {memlink.Options{ChecksumOffload: true, NoGSO: true}, false},
	} {
		t.Run(name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			p := testutil.NewPair(t, c.opts, stack.TCPOptions{})
			assert.Equal(t, c.whole, p.LinkA.WholeSegments())
			r, terr := p.B.Netstack().FindRoute(0, tcpip.Address{}, tcpip.AddrFromSlice(testutil.AddrA4.AsSlice()), ipv4.ProtocolNumber, false)
			require.Nil(t, terr)
			assert.Equal(t, c.whole, r.HasHostGSOCapability(), "netstack sees host GSO")
			r.Release()
			const size = 8 << 20
			for _, v6 := range []bool{false, true} {
				before := p.LinkB.Counters()
				sent, got := transfer(t, p, v6, size, nil)
				assert.Equal(t, sent, got, "IPv6 %v", v6)
				after := p.LinkB.Counters()
				frames := after.Delivered - before.Delivered
				perFrame := (after.DeliveredBytes - before.DeliveredBytes) / max(frames, 1)
				t.Logf("IPv6 %v: %d frames from B, %d bytes each on average", v6, frames, perFrame)
				if c.whole {
					assert.Greater(t, perFrame, uint64(8000), "segments were cut on a clean link")
				} else {
					assert.LessOrEqual(t, perFrame, uint64(1500), "a frame above the MTU crossed")
				}
			}
			p.Close()
		})
	}
}
