package pcap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// Writer writes frames to a capture file, for a link that records frames
// itself rather than through an Endpoint (link/memlink records a whole
// network into one file). Endpoint uses one. Its methods are safe for
// concurrent use: records are written whole, one Write call each, in the
// order Record is called, with timestamps that never go backwards.
type Writer struct {
	clock    tcpip.Clock
	snapLen  uint32
	linkType LinkType

	mu sync.Mutex

	// +checklocks:mu
	w io.Writer

	// err is the first error w returned; once set, recording stops.
	//
	// +checklocks:mu
	err error

	// buf is reused for each record.
	//
	// +checklocks:mu
	buf []byte
}

// NewWriter writes the file header to w and returns a Writer that records
// frames after it. opts.LinkType zero means LinkTypeRaw (there is no lower
// endpoint to infer it from). It returns an error if w is nil or if writing
// the header fails. It does not close w.
func NewWriter(w io.Writer, opts Options) (*Writer, error) {
	if w == nil {
		return nil, errors.New("pcap: nil writer")
	}
	r := &Writer{clock: opts.Clock, snapLen: opts.SnapLen, linkType: opts.LinkType, w: w}
	if r.clock == nil {
		r.clock = tcpip.NewStdClock()
	}
	if r.snapLen == 0 {
		r.snapLen = DefaultSnapLen
	}
	if r.linkType == 0 {
		r.linkType = LinkTypeRaw
	}

	var h [fileHeaderLen]byte
	le := binary.LittleEndian
	le.PutUint32(h[0:], magicNanos)
	le.PutUint16(h[4:], versionMajor)
	le.PutUint16(h[6:], versionMinor)
	// thiszone and sigfigs stay zero: timestamps are UTC, as the format
	// recommends.
	le.PutUint32(h[16:], r.snapLen)
	le.PutUint32(h[20:], uint32(r.linkType))
	if _, err := w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("pcap: writing file header: %w", err)
	}
	return r, nil
}

// LinkType returns the link type written in the file header.
func (r *Writer) LinkType() LinkType { return r.linkType }

// Err returns the first error the underlying writer returned, or nil.
// After an error the Writer records nothing more.
func (r *Writer) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Record appends one record for pkt, the whole frame from its first byte
// (without a virtio-net header). It reads pkt's bytes and neither keeps nor
// releases a reference.
func (r *Writer) Record(pkt *stack.PacketBuffer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return
	}
	// Timestamp under the lock, so that timestamps never go backwards
	// in the file.
	ts := r.clock.Now()

	// A virtio-net header is a host interface detail, not part of the
	// frame on the wire.
	skip := len(pkt.VirtioNetHeader().Slice())
	origLen := pkt.Size() - skip
	capLen := min(origLen, int(r.snapLen))

	b := r.buf[:0]
	b = binary.LittleEndian.AppendUint32(b, uint32(ts.Unix()))
	b = binary.LittleEndian.AppendUint32(b, uint32(ts.Nanosecond()))
	b = binary.LittleEndian.AppendUint32(b, uint32(capLen))
	b = binary.LittleEndian.AppendUint32(b, uint32(origLen))
	want := capLen
	for _, s := range pkt.AsSlices() {
		if skip > 0 {
			n := min(skip, len(s))
			s, skip = s[n:], skip-n
		}
		n := min(want, len(s))
		b = append(b, s[:n]...)
		want -= n
		if want == 0 {
			break
		}
	}
	r.buf = b

	if _, err := r.w.Write(b); err != nil {
		r.err = fmt.Errorf("pcap: writing record: %w", err)
	}
}
