package pcap

import (
	"errors"
	"fmt"
	"io"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/nested"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// LinkType is a pcap link-layer header type (the "network" field of the
// file header): what each record's data starts with. The values are
// tcpdump.org's LINKTYPE_ numbers.
type LinkType uint32

const (
	// LinkTypeEthernet (LINKTYPE_ETHERNET) records start with an
	// Ethernet II header.
	LinkTypeEthernet LinkType = 1

	// LinkTypeRaw (LINKTYPE_RAW) records start with an IPv4 or IPv6
	// header; the version nibble tells which.
	LinkTypeRaw LinkType = 101
)

// String returns the LINKTYPE_ name of t, or its number.
func (t LinkType) String() string {
	switch t {
	case LinkTypeEthernet:
		return "ETHERNET"
	case LinkTypeRaw:
		return "RAW"
	default:
		return fmt.Sprintf("LinkType(%d)", uint32(t))
	}
}

// DefaultSnapLen is the snapshot length used when Options.SnapLen is zero:
// tcpdump's own maximum, larger than any frame a netstack NIC handles (an
// MTU of up to 65535 plus link headers, or a GSO batch), so nothing is
// truncated.
const DefaultSnapLen = 262144

// File format constants, from https://www.tcpdump.org/manpages/pcap-savefile.5.html.
const (
	magicMicros     = 0xa1b2c3d4
	magicNanos      = 0xa1b23c4d
	versionMajor    = 2
	versionMinor    = 4
	fileHeaderLen   = 24
	recordHeaderLen = 16
)

// Options configures an Endpoint. The zero value records with the standard
// clock, never truncates, and infers the link type.
type Options struct {
	// Clock timestamps the records, through its Now. Nil means
	// tcpip.NewStdClock(). Pass the stack's clock so that a virtual clock
	// gives virtual timestamps.
	Clock tcpip.Clock

	// SnapLen is the most bytes recorded per frame; longer frames are
	// truncated, their original length kept. Zero means DefaultSnapLen.
	SnapLen uint32

	// LinkType says what the frames start with. Zero means
	// LinkTypeEthernet if the lower endpoint's ARPHardwareType is
	// header.ARPHardwareEther, LinkTypeRaw otherwise.
	LinkType LinkType
}

// Endpoint is a stack.LinkEndpoint that records every frame written
// through it and every frame its lower endpoint delivers, then passes them
// on unchanged. Its methods are safe for concurrent use; records are
// written whole, one Write call each, in the order the frames arrive.
type Endpoint struct {
	nested.Endpoint
	rec *Writer
}

var _ stack.LinkEndpoint = (*Endpoint)(nil)

// New returns an Endpoint that records the frames crossing lower to w, and
// writes the file header to w before it returns. It returns an error if
// lower or w is nil or if writing the header fails.
//
// New does not close w; close it after the stack is done (after
// stack.Stack.Wait), once no more frames can arrive.
func New(lower stack.LinkEndpoint, w io.Writer, opts Options) (*Endpoint, error) {
	if lower == nil {
		return nil, errors.New("pcap: nil lower endpoint")
	}
	if opts.LinkType == 0 {
		opts.LinkType = LinkTypeRaw
		if lower.ARPHardwareType() == header.ARPHardwareEther {
			opts.LinkType = LinkTypeEthernet
		}
	}
	rec, err := NewWriter(w, opts)
	if err != nil {
		return nil, err
	}
	e := &Endpoint{rec: rec}
	// lower delivers to e, so that DeliverNetworkPacket below sees
	// inbound frames before the stack does.
	e.Endpoint.Init(lower, e)
	return e, nil
}

// LinkType returns the link type written in the file header.
func (e *Endpoint) LinkType() LinkType {
	return e.rec.LinkType()
}

// Err returns the first error the writer returned, or nil. After an error
// the Endpoint stops recording but keeps passing frames, so a full disk
// does not cut the network.
func (e *Endpoint) Err() error {
	return e.rec.Err()
}

// WritePackets implements stack.LinkEndpoint. It records each frame, then
// passes pkts to the lower endpoint and returns its result.
func (e *Endpoint) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	for _, pkt := range pkts.AsSlice() {
		e.rec.Record(pkt)
	}
	return e.Endpoint.WritePackets(pkts)
}

// DeliverNetworkPacket implements stack.NetworkDispatcher. The lower
// endpoint calls it for each inbound frame; it records the frame, then
// passes it up. It records first because the stack may modify pkt.
func (e *Endpoint) DeliverNetworkPacket(protocol tcpip.NetworkProtocolNumber, pkt *stack.PacketBuffer) {
	e.rec.Record(pkt)
	e.Endpoint.DeliverNetworkPacket(protocol, pkt)
}
