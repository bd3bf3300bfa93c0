// Package linktest holds the fixtures of the tests of link endpoint
// wrappers (link/delay, link/fault, link/pcap): frames and packets to
// write through a wrapper, gVisor's reference-leak check, and two bare
// netstack stacks joined by a wire through the wrapper under test.
//
// It imports gVisor only, not usertcp's stack (which builds on those
// wrappers), so that a wrapper's tests see netstack as any user of the
// wrapper does.
package linktest

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/refs"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// Main turns on gVisor's reference leak tracking, so that CheckRefs can
// tell a test that it leaked (or kept) a PacketBuffer, then runs the
// tests and exits. A package's TestMain calls it.
func Main(m *testing.M) {
	refs.SetLeakMode(refs.LeaksPanic)
	os.Exit(m.Run())
}

// CheckRefs fails t if any reference-counted gVisor object created since
// the last check is still alive. It needs Main.
func CheckRefs(t *testing.T) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("reference leak: %v", r)
		}
	}()
	refs.DoRepeatedLeakCheck()
}

// NewPacket returns an outbound IPv4 packet holding b; the caller owns it.
func NewPacket(b []byte) *stack.PacketBuffer {
	p := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b)})
	p.NetworkProtocolNumber = header.IPv4ProtocolNumber
	return p
}

// Write writes frames to ep in one batch, as a stack would: the caller's
// references are released after WritePackets returns.
func Write(ep stack.LinkEndpoint, frames ...[]byte) (int, tcpip.Error) {
	var l stack.PacketBufferList
	for _, f := range frames {
		l.PushBack(NewPacket(f))
	}
	defer l.DecRef()
	return ep.WritePackets(l)
}

// Bytes returns a copy of the whole frame in p.
func Bytes(p *stack.PacketBuffer) []byte {
	var b []byte
	for _, s := range p.AsSlices() {
		b = append(b, s...)
	}
	return b
}

// Drain returns the frames queued in ch, in order, and releases them.
func Drain(ch *channel.Endpoint) [][]byte {
	var out [][]byte
	for p := ch.Read(); p != nil; p = ch.Read() {
		out = append(out, Bytes(p))
		p.DecRef()
	}
	return out
}

// Frames returns n frames of random sizes (20 to 1419 bytes) and
// contents drawn from seed.
func Frames(seed uint64, n int) [][]byte {
	r := rand.New(rand.NewPCG(seed, 0))
	out := make([][]byte, n)
	for i := range out {
		out[i] = RandomBytes(seed<<32|uint64(i), 20+r.IntN(1400))
	}
	return out
}

// RandomBytes returns n random bytes drawn from seed.
func RandomBytes(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}
