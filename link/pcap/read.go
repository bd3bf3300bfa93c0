package pcap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrFormat is wrapped by the errors ReadFile returns for input that is not
// a well-formed pcap file; test with errors.Is. Truncated input also wraps
// io.ErrUnexpectedEOF.
var ErrFormat = errors.New("pcap: malformed file")

// maxRecordLen bounds a record's captured length, so that a corrupt length
// field makes ReadFile fail instead of allocating gigabytes.
const maxRecordLen = 1 << 28

// Record is one captured frame.
type Record struct {
	// Time is when the frame crossed the Endpoint.
	Time time.Time

	// OrigLen is the frame's length on the wire; more than len(Data) if
	// the frame was truncated to the snapshot length.
	OrigLen int

	// Data is the captured bytes, link header first.
	Data []byte
}

// ReadFile parses a classic pcap file, as written by an Endpoint or by
// tcpdump -w: either byte order, microsecond or nanosecond timestamps. It
// returns the records and the file's link type. On malformed or truncated
// input it returns the records read before the problem together with an
// error wrapping ErrFormat; if r itself fails, the error wraps r's error.
func ReadFile(r io.Reader) ([]Record, LinkType, error) {
	var h [fileHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, 0, readErr("file header", err)
	}

	var order binary.ByteOrder
	var nanos bool
	switch {
	case binary.LittleEndian.Uint32(h[0:]) == magicMicros:
		order = binary.LittleEndian
	case binary.LittleEndian.Uint32(h[0:]) == magicNanos:
		order, nanos = binary.LittleEndian, true
	case binary.BigEndian.Uint32(h[0:]) == magicMicros:
		order = binary.BigEndian
	case binary.BigEndian.Uint32(h[0:]) == magicNanos:
		order, nanos = binary.BigEndian, true
	default:
		return nil, 0, fmt.Errorf("%w: unknown magic number %#08x", ErrFormat, binary.LittleEndian.Uint32(h[0:]))
	}
	if major := order.Uint16(h[4:]); major != versionMajor {
		return nil, 0, fmt.Errorf("%w: version %d.%d, want %d.x", ErrFormat, major, order.Uint16(h[6:]), versionMajor)
	}
	// The upper bits of the link type field carry FCS information
	// (pcap-savefile(5)); the type itself is the low 16 bits.
	linkType := LinkType(order.Uint32(h[20:]) & 0xffff)

	var records []Record
	for i := 0; ; i++ {
		var rh [recordHeaderLen]byte
		n, err := io.ReadFull(r, rh[:])
		if n == 0 && err == io.EOF {
			return records, linkType, nil
		}
		if err != nil {
			return records, linkType, readErr(fmt.Sprintf("record %d header", i), err)
		}
		sec := order.Uint32(rh[0:])
		frac := order.Uint32(rh[4:])
		capLen := order.Uint32(rh[8:])
		origLen := order.Uint32(rh[12:])
		if capLen > maxRecordLen {
			return records, linkType, fmt.Errorf("%w: record %d: captured length %d exceeds %d", ErrFormat, i, capLen, maxRecordLen)
		}
		unit := uint32(1) // nanoseconds per tick of frac
		if !nanos {
			unit = 1000
		}
		if frac >= 1e9/unit {
			return records, linkType, fmt.Errorf("%w: record %d: fraction of second %d out of range", ErrFormat, i, frac)
		}
		data := make([]byte, capLen)
		if _, err := io.ReadFull(r, data); err != nil {
			return records, linkType, readErr(fmt.Sprintf("record %d data", i), err)
		}
		records = append(records, Record{
			Time:    time.Unix(int64(sec), int64(frac)*int64(unit)).UTC(),
			OrigLen: int(origLen),
			Data:    data,
		})
	}
}

// readErr describes a failure to read what, wrapping ErrFormat and, for
// truncated input, io.ErrUnexpectedEOF.
func readErr(what string, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %s truncated: %w", ErrFormat, what, err)
	}
	// A failing reader is not a malformed file.
	return fmt.Errorf("pcap: reading %s: %w", what, err)
}
