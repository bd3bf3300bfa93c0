package stack

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"
)

// outgoingSYN is a SYN as netstack hands it to the link: IPv4 and TCP
// headers pushed, with a timestamp option.
func outgoingSYN(localPort uint16, isn, tsVal uint32) (*netstack.PacketBuffer, header.TCP) {
	pkt := netstack.NewPacketBuffer(netstack.PacketBufferOptions{ReserveHeaderBytes: 80})
	th := header.TCP(pkt.TransportHeader().Push(header.TCPMinimumSize + 12))
	th.Encode(&header.TCPFields{SrcPort: localPort, DstPort: 80, SeqNum: isn,
		DataOffset: uint8(len(th)), Flags: header.TCPFlagSyn, WindowSize: 65535})
	opts := th[header.TCPMinimumSize:]
	opts[0], opts[1], opts[2], opts[3] = header.TCPOptionNOP, header.TCPOptionNOP, header.TCPOptionTS, header.TCPOptionTSLength
	binary.BigEndian.PutUint32(opts[4:], tsVal)
	pkt.TransportProtocolNumber = header.TCPProtocolNumber
	ip := header.IPv4(pkt.NetworkHeader().Push(header.IPv4MinimumSize))
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(pkt.Size()), TTL: 64, Protocol: uint8(header.TCPProtocolNumber),
		SrcAddr: tcpip.AddrFrom4([4]byte{10, 1, 0, 1}), DstAddr: tcpip.AddrFrom4([4]byte{10, 1, 0, 2})})
	pkt.NetworkProtocolNumber = header.IPv4ProtocolNumber
	return pkt, th
}

// TestSYNStampsBounded: the table keeps at most maxSYNStamps handshakes,
// the oldest going first, and forgets those netstack has given up on.
func TestSYNStampsBounded(t *testing.T) {
	clk := faketime.NewManualClock()
	s := newSYNStamps(clk, 0)
	assert.Equal(t, 127*time.Second, s.lifetime, "netstack's 6 SYN retries: 1+2+...+64 s")
	send := func(port uint16, isn, tsVal uint32) uint32 {
		pkt, th := outgoingSYN(port, isn, tsVal)
		defer pkt.DecRef()
		s.sent(pkt, th, true)
		return binary.BigEndian.Uint32(timestampOption(th))
	}
	for i := range maxSYNStamps + 100 {
		send(uint16(i), uint32(i), 5)
	}
	s.mu.Lock()
	n := len(s.syns)
	s.mu.Unlock()
	assert.Equal(t, maxSYNStamps, n, "entries after maxSYNStamps+100 handshakes")
	clk.Advance(time.Second)
	assert.Equal(t, uint32(5), send(0, 0, 5), "the oldest was forgotten: its resend counts as a first")
	assert.Equal(t, uint32(1005), send(200, 200, 5), "a recent one is restamped")
	clk.Advance(s.lifetime + time.Millisecond)
	send(9999, 9999, 7)
	s.mu.Lock()
	n = len(s.syns)
	s.mu.Unlock()
	assert.Equal(t, 1, n, "entries once netstack has given up on the others")
}
