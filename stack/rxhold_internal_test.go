package stack

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"
)

// TestReceivedFrameRestoresHeaders: a segment netstack refused has had its
// IP and TCP headers consumed (pkt.Data() is the payload alone), and the
// frame the hold keeps must be the frame as it arrived, or its delivery
// again would be garbage to netstack.
func TestReceivedFrameRestoresHeaders(t *testing.T) {
	seg := ackSegment{remotePort: 4000, flags: header.TCPFlagAck | header.TCPFlagPsh, ack: 7, window: 100, payload: 68}
	frame := seg.frame()
	frame = frame[:len(frame)-2] // no link padding

	unparsed := netstack.NewPacketBuffer(netstack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
	defer unparsed.DecRef()
	got, ok := receivedFrame(unparsed)
	require.True(t, ok)
	assert.Equal(t, frame, got, "a segment netstack has not parsed is copied whole")

	parsed := netstack.NewPacketBuffer(netstack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
	defer parsed.DecRef()
	_, ok = parsed.NetworkHeader().Consume(header.IPv4MinimumSize)
	require.True(t, ok)
	_, ok = parsed.TransportHeader().Consume(header.TCPMinimumSize)
	require.True(t, ok)
	require.Equal(t, seg.payload, parsed.Data().Size(), "the payload is all that is left in Data")
	got, ok = receivedFrame(parsed)
	require.True(t, ok)
	assert.Equal(t, frame, got, "the headers netstack consumed are put back in front of the payload")
}

// outgoingSegment builds a segment as netstack hands it to the link: IPv4
// and TCP headers pushed in front of the payload, the TCP checksum
// computed.
func outgoingSegment(t *testing.T, window uint16) *netstack.PacketBuffer {
	t.Helper()
	payload := bytes.Repeat([]byte{0x5a}, 68)
	pkt := netstack.NewPacketBuffer(netstack.PacketBufferOptions{
		ReserveHeaderBytes: header.IPv4MinimumSize + header.TCPMinimumSize,
		Payload:            buffer.MakeWithData(payload),
	})
	th := header.TCP(pkt.TransportHeader().Push(header.TCPMinimumSize))
	th.Encode(&header.TCPFields{SrcPort: 80, DstPort: 4000, SeqNum: 1, AckNum: 2, DataOffset: header.TCPMinimumSize,
		Flags: header.TCPFlagAck, WindowSize: window})
	tcpLen := uint16(header.TCPMinimumSize + len(payload))
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, ackLocal4, ackRemote4, tcpLen)
	th.SetChecksum(^checksum.Checksum(payload, checksum.Checksum(th, xsum)))
	ip := header.IPv4(pkt.NetworkHeader().Push(header.IPv4MinimumSize))
	ip.Encode(&header.IPv4Fields{TotalLength: header.IPv4MinimumSize + tcpLen, TTL: 64, Protocol: uint8(header.TCPProtocolNumber),
		SrcAddr: ackLocal4, DstAddr: ackRemote4})
	pkt.NetworkProtocolNumber = header.IPv4ProtocolNumber
	pkt.TransportProtocolNumber = header.TCPProtocolNumber
	return pkt
}

// tcpChecksumValid reports whether an outgoing segment's TCP checksum
// holds.
func tcpChecksumValid(pkt *netstack.PacketBuffer) bool {
	th := header.TCP(pkt.TransportHeader().Slice())
	payload := pkt.Data().AsRange().ToSlice()
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, ackLocal4, ackRemote4, uint16(len(th)+len(payload)))
	return checksum.Checksum(payload, checksum.Checksum(th, xsum)) == 0xffff
}

// heldTestHold is a hold on a stack without NICs whose connection from
// ackRemote4:4000 to ackLocal4:80 has n frames waiting.
func heldTestHold(t *testing.T, n int) (*receiveHold, *heldFlow) {
	t.Helper()
	ns := netstack.New(netstack.Options{Clock: faketime.NewManualClock()})
	t.Cleanup(ns.Destroy)
	h := newReceiveHold(ns, true)
	t.Cleanup(h.close)
	key := flowKey{local: ackLocal4, remote: ackRemote4, localPort: 80, remotePort: 4000}
	// The flow has no endpoint and no link to deliver to, so it is marked
	// as being delivered: sent then starts no delivery (a timer of 0 on
	// the manual clock runs at once, on a goroutine of its own, and its
	// drain found no endpoint: the one -race failure of 2a0954a).
	f := &heldFlow{key: key, proto: header.IPv4ProtocolNumber, limit: holdMinFlowLimit, backoff: holdRetryMin, draining: true}
	h.mu.Lock()
	h.flows[key] = f
	h.active.Add(1)
	for range n {
		pkt := netstack.NewPacketBuffer(netstack.PacketBufferOptions{Payload: buffer.MakeWithData(
			ackSegment{remotePort: 4000, flags: header.TCPFlagAck, payload: 68}.frame())})
		require.True(t, h.appendLocked(f, pkt))
		pkt.DecRef()
	}
	h.mu.Unlock()
	return h, f
}

// TestHeldConnectionAdvertisesZeroWindow: while segments of a connection
// wait, what the stack sends on it offers no window, with a checksum
// that still holds; once none waits, netstack's window goes out as it is.
func TestHeldConnectionAdvertisesZeroWindow(t *testing.T) {
	h, f := heldTestHold(t, 1)

	pkt := outgoingSegment(t, 1234)
	defer pkt.DecRef()
	h.sent(pkt, header.TCP(pkt.TransportHeader().Slice()), true)
	assert.Zero(t, header.TCP(pkt.TransportHeader().Slice()).WindowSize(), "a segment sent while one waits offers no window")
	assert.True(t, tcpChecksumValid(pkt), "the checksum is updated with the window")
	assert.Equal(t, uint64(1), h.closedWindows.Load())

	offloaded := outgoingSegment(t, 1234)
	defer offloaded.DecRef()
	sum := header.TCP(offloaded.TransportHeader().Slice()).Checksum()
	h.sent(offloaded, header.TCP(offloaded.TransportHeader().Slice()), false)
	assert.Zero(t, header.TCP(offloaded.TransportHeader().Slice()).WindowSize())
	assert.Equal(t, sum, header.TCP(offloaded.TransportHeader().Slice()).Checksum(), "a checksum netstack left to the link is left alone")

	h.mu.Lock()
	h.forgetLocked(f)
	h.mu.Unlock()
	open := outgoingSegment(t, 1234)
	defer open.DecRef()
	h.sent(open, header.TCP(open.TransportHeader().Slice()), true)
	assert.Equal(t, uint16(1234), header.TCP(open.TransportHeader().Slice()).WindowSize(), "with nothing waiting the window is netstack's")
}

// TestHoldIsBounded: a connection holds at most its limit in frames and
// the stack at most holdLimit; a segment beyond is netstack's drop, and
// counted as an overflow.
func TestHoldIsBounded(t *testing.T) {
	h, f := heldTestHold(t, 0)
	frame := ackSegment{remotePort: 4000, flags: header.TCPFlagAck, payload: 1000}.frame()
	pkt := netstack.NewPacketBuffer(netstack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
	defer pkt.DecRef()

	h.mu.Lock()
	defer h.mu.Unlock()
	fits := holdMinFlowLimit / len(frame)
	for i := range fits {
		require.True(t, h.appendLocked(f, pkt), "frame %d of %d", i, fits)
	}
	assert.False(t, h.appendLocked(f, pkt), "the connection's limit")
	assert.Equal(t, uint64(1), h.overflowed.Load())
	assert.Equal(t, fits*len(frame), f.bytes)
	assert.Equal(t, f.bytes, h.bytes)

	f.limit = 2 * holdLimit
	h.bytes = holdLimit - len(frame) + 1
	assert.False(t, h.appendLocked(f, pkt), "the stack's limit")
	assert.Equal(t, uint64(2), h.overflowed.Load())
}

// TestHoldForgetsOnClose: close drops every queue and stops its timer,
// so nothing is delivered into a closed stack.
func TestHoldForgetsOnClose(t *testing.T) {
	h, f := heldTestHold(t, 3)
	h.mu.Lock()
	h.armLocked(f, holdRetryMin)
	h.mu.Unlock()
	h.close()
	h.mu.Lock()
	defer h.mu.Unlock()
	assert.Empty(t, h.flows)
	assert.Zero(t, h.bytes)
	assert.Zero(t, h.active.Load())
	assert.False(t, f.retry.Stop(), "the retry timer was stopped")
}

// TestSentResetForgetsHeldQueue: a RST netstack sends ends the connection
// (an abort), so its held segments are dropped rather than delivered to
// draw RSTs of their own, and the RST goes out as netstack made it.
func TestSentResetForgetsHeldQueue(t *testing.T) {
	h, _ := heldTestHold(t, 2)
	pkt := outgoingSegment(t, 1234)
	defer pkt.DecRef()
	th := header.TCP(pkt.TransportHeader().Slice())
	th.SetFlags(uint8(header.TCPFlagRst | header.TCPFlagAck))
	h.sent(pkt, th, false)
	assert.Equal(t, uint16(1234), th.WindowSize(), "the RST is left as netstack made it")
	assert.False(t, h.holding())
	h.mu.Lock()
	defer h.mu.Unlock()
	assert.Empty(t, h.flows)
	assert.Zero(t, h.bytes)
}

// TestHeldFramesKeepTheirChecksumState: each held frame keeps whether the
// link vouched for its checksum, so a redelivery says what the first
// delivery said (a frame the kernel marked valid may carry a partial
// checksum that netstack must not verify).
func TestHeldFramesKeepTheirChecksumState(t *testing.T) {
	h, f := heldTestHold(t, 0)
	frame := ackSegment{remotePort: 4000, flags: header.TCPFlagAck, payload: 68}.frame()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, validated := range []bool{true, false, true} {
		pkt := netstack.NewPacketBuffer(netstack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
		pkt.RXChecksumValidated = validated
		require.True(t, h.appendLocked(f, pkt))
		pkt.DecRef()
	}
	var got []bool
	for _, fr := range f.frames[f.head:] {
		got = append(got, fr.validated)
	}
	assert.Equal(t, []bool{true, false, true}, got)
}

// TestHeldQueueCompacts: the slots of delivered frames are reused once
// half the queue is delivered, so a connection that holds and delivers
// for a long time keeps a queue of the size of what waits.
func TestHeldQueueCompacts(t *testing.T) {
	h, f := heldTestHold(t, 8)
	h.mu.Lock()
	defer h.mu.Unlock()
	first := f.frames[4].b
	f.head = 4 // four delivered
	pkt := netstack.NewPacketBuffer(netstack.PacketBufferOptions{Payload: buffer.MakeWithData(
		ackSegment{remotePort: 4000, flags: header.TCPFlagAck, payload: 68}.frame())})
	defer pkt.DecRef()
	require.True(t, h.appendLocked(f, pkt))
	assert.Zero(t, f.head)
	assert.Equal(t, 5, f.waiting())
	assert.Len(t, f.frames, 5)
	assert.Equal(t, &first[0], &f.frames[0].b[0], "the oldest waiting frame is first")
}
