package gentcp

import (
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// TestNetstackRecbufHoldsAnOutOfOrderSegment: the receive buffer netstack
// gets for the smallest recbuf can hold the largest out-of-order segment
// netstack keeps (payload below three quarters of the buffer), charged
// with its overhead and both headers at their largest, and stay within
// the buffer, so the in-order retransmission is still let in
// (netstackMinRecbuf). It fails when upstream's per-segment overhead
// grows past what the floor allows; TestTinyBuffersKeepTCPMoving's
// "by setopts" case is the stall it prevents.
func TestNetstackRecbufHoldsAnOutOfOrderSegment(t *testing.T) {
	b := max(minRecbuf, netstackMinRecbuf)
	held := b - b/4 - 1
	charge := held + tcp.SegOverheadSize + header.TCPHeaderMaximumSize
	if charge > b {
		t.Fatalf("a held %d-byte out-of-order segment is charged %d bytes, more than the %d-byte buffer: raise netstackMinRecbuf", held, charge, b)
	}
}
