package pcap_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/usertcp/usertcp/internal/testutil"
	"github.com/usertcp/usertcp/internal/testutil/linktest"
	"github.com/usertcp/usertcp/link/delay"
	"github.com/usertcp/usertcp/link/fault"
	"github.com/usertcp/usertcp/link/pcap"
)

func TestNew_WritesFileHeader(t *testing.T) {
	var f bytes.Buffer
	_, err := pcap.New(channel.New(1, linktest.MTU, ""), &f, pcap.Options{SnapLen: 1000})
	require.NoError(t, err)
	want := []byte{
		0x4d, 0x3c, 0xb2, 0xa1, // nanosecond magic, little-endian
		2, 0, 4, 0, // version 2.4
		0, 0, 0, 0, // thiszone: UTC
		0, 0, 0, 0, // sigfigs
		0xe8, 0x03, 0, 0, // snaplen 1000
		101, 0, 0, 0, // LINKTYPE_RAW
	}
	assert.Equal(t, want, f.Bytes())

	recs, lt, err := pcap.ReadFile(&f)
	require.NoError(t, err)
	assert.Empty(t, recs)
	assert.Equal(t, pcap.LinkTypeRaw, lt)
}

// failingWriter fails every Write after the first ok ones.
type failingWriter struct {
	ok int
}

var errDiskFull = errors.New("disk full")

func (w *failingWriter) Write(b []byte) (int, error) {
	if w.ok == 0 {
		return 0, errDiskFull
	}
	w.ok--
	return len(b), nil
}

func TestNew_Errors(t *testing.T) {
	_, err := pcap.New(nil, io.Discard, pcap.Options{})
	assert.Error(t, err, "nil lower endpoint")
	_, err = pcap.New(channel.New(1, linktest.MTU, ""), nil, pcap.Options{})
	assert.Error(t, err, "nil writer")
	_, err = pcap.New(channel.New(1, linktest.MTU, ""), &failingWriter{}, pcap.Options{})
	assert.ErrorIs(t, err, errDiskFull)
}

func TestNew_LinkType(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lower stack.LinkEndpoint
		opt   pcap.LinkType
		want  pcap.LinkType
	}{
		{"raw IP link is inferred", channel.New(1, linktest.MTU, ""), 0, pcap.LinkTypeRaw},
		{"Ethernet link is inferred", ethernet.New(channel.New(1, linktest.MTU, "")), 0, pcap.LinkTypeEthernet},
		{"an explicit link type wins", channel.New(1, linktest.MTU, ""), pcap.LinkTypeEthernet, pcap.LinkTypeEthernet},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f bytes.Buffer
			ep, err := pcap.New(tc.lower, &f, pcap.Options{LinkType: tc.opt})
			require.NoError(t, err)
			assert.Equal(t, tc.want, ep.LinkType())
			_, lt, err := pcap.ReadFile(&f)
			require.NoError(t, err)
			assert.Equal(t, tc.want, lt)
		})
	}
}

// dispatcher records what a lower endpoint delivers up: the protocol and
// the bytes after any consumed link header.
type dispatcher struct {
	mu    sync.Mutex
	proto []tcpip.NetworkProtocolNumber
	data  [][]byte
}

func (d *dispatcher) DeliverNetworkPacket(proto tcpip.NetworkProtocolNumber, pkt *stack.PacketBuffer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.proto = append(d.proto, proto)
	d.data = append(d.data, pkt.Data().AsRange().ToSlice())
}

func (*dispatcher) DeliverLinkPacket(tcpip.NetworkProtocolNumber, *stack.PacketBuffer) {}

// inject delivers b from ch upwards as an inbound frame.
func inject(ch *channel.Endpoint, proto tcpip.NetworkProtocolNumber, b []byte) {
	p := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b)})
	ch.InjectInbound(proto, p)
	p.DecRef()
}

func TestEndpoint_RecordsBothDirectionsWithClockTimes(t *testing.T) {
	clock := faketime.NewManualClock()
	var f bytes.Buffer
	ch := channel.New(8, linktest.MTU, "")
	ep, err := pcap.New(ch, &f, pcap.Options{Clock: clock})
	require.NoError(t, err)
	var d dispatcher
	ep.Attach(&d)

	out := linktest.Frames(1, 2)
	in := linktest.Frames(2, 1)
	clock.Advance(1500 * time.Millisecond)
	n, terr := linktest.Write(ep, out[0])
	require.Nil(t, terr)
	require.Equal(t, 1, n)
	clock.Advance(1234 * time.Nanosecond)
	inject(ch, header.IPv4ProtocolNumber, in[0])
	clock.Advance(time.Hour)
	_, terr = linktest.Write(ep, out[1])
	require.Nil(t, terr)

	// The frames pass unchanged, both ways.
	assert.Equal(t, out, linktest.Drain(ch))
	assert.Equal(t, [][]byte{in[0]}, d.data)

	recs, _, err := pcap.ReadFile(&f)
	require.NoError(t, err)
	start := time.Unix(0, 0)
	want := []pcap.Record{
		{Time: start.Add(1500 * time.Millisecond), OrigLen: len(out[0]), Data: out[0]},
		{Time: start.Add(1500*time.Millisecond + 1234), OrigLen: len(in[0]), Data: in[0]},
		{Time: start.Add(time.Hour + 1500*time.Millisecond + 1234), OrigLen: len(out[1]), Data: out[1]},
	}
	require.Len(t, recs, len(want))
	for i := range want {
		assert.True(t, want[i].Time.Equal(recs[i].Time), "record %d: time %v, want %v", i, recs[i].Time, want[i].Time)
		assert.Equal(t, want[i].OrigLen, recs[i].OrigLen, "record %d", i)
		assert.Equal(t, want[i].Data, recs[i].Data, "record %d", i)
	}
	assert.NoError(t, ep.Err())
	linktest.CheckRefs(t)
}

// Around an Ethernet endpoint, both directions are recorded as whole
// Ethernet frames: the NIC pushes the header before writing, and the
// Ethernet endpoint consumes it on receipt without removing the bytes.
func TestEndpoint_RecordsEthernetHeaders(t *testing.T) {
	var f bytes.Buffer
	local := tcpip.LinkAddress("\x02\x00\x00\x00\x00\x01")
	remote := tcpip.LinkAddress("\x02\x00\x00\x00\x00\x02")
	ch := channel.New(8, linktest.MTU, local)
	ep, err := pcap.New(ethernet.New(ch), &f, pcap.Options{})
	require.NoError(t, err)
	require.Equal(t, pcap.LinkTypeEthernet, ep.LinkType())
	var d dispatcher
	ep.Attach(&d)

	ip := linktest.Frames(3, 1)[0]
	// Outbound, as a NIC does it: reserve room, AddHeader, write.
	p := stack.NewPacketBuffer(stack.PacketBufferOptions{
		ReserveHeaderBytes: int(ep.MaxHeaderLength()),
		Payload:            buffer.MakeWithData(ip),
	})
	p.NetworkProtocolNumber = header.IPv4ProtocolNumber
	p.EgressRoute.LocalLinkAddress = local
	p.EgressRoute.RemoteLinkAddress = remote
	ep.AddHeader(p)
	var l stack.PacketBufferList
	l.PushBack(p)
	_, terr := ep.WritePackets(l)
	require.Nil(t, terr)
	l.DecRef()

	// Inbound: an Ethernet frame from the remote.
	frame := make([]byte, header.EthernetMinimumSize+len(ip))
	header.Ethernet(frame).Encode(&header.EthernetFields{SrcAddr: remote, DstAddr: local, Type: header.IPv4ProtocolNumber})
	copy(frame[header.EthernetMinimumSize:], ip)
	inject(ch, 0, frame)

	recs, _, err := pcap.ReadFile(&f)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	for i, r := range recs {
		require.Len(t, r.Data, header.EthernetMinimumSize+len(ip), "record %d", i)
		eth := header.Ethernet(r.Data)
		assert.Equal(t, header.IPv4ProtocolNumber, eth.Type(), "record %d", i)
		assert.Equal(t, ip, r.Data[header.EthernetMinimumSize:], "record %d", i)
	}
	assert.Equal(t, remote, header.Ethernet(recs[0].Data).DestinationAddress())
	assert.Equal(t, local, header.Ethernet(recs[1].Data).DestinationAddress())
	// The stack still gets the IP packet, header parsed off.
	assert.Equal(t, []tcpip.NetworkProtocolNumber{header.IPv4ProtocolNumber}, d.proto)
	assert.Equal(t, [][]byte{ip}, d.data)
	linktest.Drain(ch)
	linktest.CheckRefs(t)
}

func TestEndpoint_SnapLenTruncates(t *testing.T) {
	var f bytes.Buffer
	ch := channel.New(8, linktest.MTU, "")
	ep, err := pcap.New(ch, &f, pcap.Options{SnapLen: 10})
	require.NoError(t, err)
	fr := linktest.Frames(4, 1)[0]
	_, terr := linktest.Write(ep, fr)
	require.Nil(t, terr)

	recs, _, err := pcap.ReadFile(&f)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, fr[:10], recs[0].Data)
	assert.Equal(t, len(fr), recs[0].OrigLen)
	assert.Equal(t, [][]byte{fr}, linktest.Drain(ch), "the frame itself must not be truncated")
	linktest.CheckRefs(t)
}

func TestEndpoint_WriterErrorStopsRecordingNotTraffic(t *testing.T) {
	w := &failingWriter{ok: 2} // the file header and one record
	ch := channel.New(8, linktest.MTU, "")
	ep, err := pcap.New(ch, w, pcap.Options{})
	require.NoError(t, err)

	in := linktest.Frames(5, 3)
	for _, fr := range in {
		_, terr := linktest.Write(ep, fr)
		require.Nil(t, terr)
	}
	assert.ErrorIs(t, ep.Err(), errDiskFull)
	assert.Equal(t, in, linktest.Drain(ch))
	linktest.CheckRefs(t)
}

func TestEndpoint_ConcurrentRecordsStayWhole(t *testing.T) {
	defer goleak.VerifyNone(t)
	var f testutil.LockedBuffer
	ch := channel.New(10000, linktest.MTU, "")
	ep, err := pcap.New(ch, &f, pcap.Options{})
	require.NoError(t, err)
	var d dispatcher
	ep.Attach(&d)

	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for _, fr := range linktest.Frames(uint64(g), 100) {
				_, _ = linktest.Write(ep, fr)
			}
		}()
		go func() {
			defer wg.Done()
			for _, fr := range linktest.Frames(uint64(g+100), 100) {
				inject(ch, header.IPv4ProtocolNumber, fr)
			}
		}()
	}
	wg.Wait()

	recs, _, err := pcap.ReadFile(bytes.NewReader(f.Bytes()))
	require.NoError(t, err)
	require.Len(t, recs, 800)
	for i := 1; i < len(recs); i++ {
		assert.False(t, recs[i].Time.Before(recs[i-1].Time), "record %d goes back in time", i)
	}
	linktest.Drain(ch)
	linktest.CheckRefs(t)
}

// header24 returns a pcap file header in the given byte order.
func header24(order binary.ByteOrder, magic uint32, major uint16, linkType uint32) []byte {
	b := make([]byte, 24)
	order.PutUint32(b[0:], magic)
	order.PutUint16(b[4:], major)
	order.PutUint16(b[6:], 4)
	order.PutUint32(b[16:], 65535)
	order.PutUint32(b[20:], linkType)
	return b
}

// record16 returns a record header in the given byte order.
func record16(order binary.ByteOrder, sec, frac, capLen, origLen uint32) []byte {
	b := make([]byte, 16)
	order.PutUint32(b[0:], sec)
	order.PutUint32(b[4:], frac)
	order.PutUint32(b[8:], capLen)
	order.PutUint32(b[12:], origLen)
	return b
}

func cat(parts ...[]byte) []byte {
	return bytes.Join(parts, nil)
}

// ReadFile also reads files from other writers: big-endian, microsecond
// timestamps, link type with FCS bits set.
func TestReadFile_BigEndianMicroseconds(t *testing.T) {
	be := binary.BigEndian
	file := cat(
		header24(be, 0xa1b2c3d4, 2, 1|(1<<28)),
		record16(be, 1700000000, 999999, 3, 60), []byte{1, 2, 3},
		record16(be, 1700000001, 0, 0, 0),
	)
	recs, lt, err := pcap.ReadFile(bytes.NewReader(file))
	require.NoError(t, err)
	assert.Equal(t, pcap.LinkTypeEthernet, lt)
	require.Len(t, recs, 2)
	assert.True(t, time.Unix(1700000000, 999999000).Equal(recs[0].Time))
	assert.Equal(t, 60, recs[0].OrigLen)
	assert.Equal(t, []byte{1, 2, 3}, recs[0].Data)
	assert.Empty(t, recs[1].Data)
}

func TestReadFile_Malformed(t *testing.T) {
	le := binary.LittleEndian
	good := header24(le, 0xa1b23c4d, 2, 101)
	for _, tc := range []struct {
		name      string
		file      []byte
		records   int
		truncated bool
	}{
		{"empty input", nil, 0, true},
		{"file header cut short", good[:23], 0, true},
		{"unknown magic", cat([]byte{1, 2, 3, 4}, good[4:]), 0, false},
		{"pcapng file", cat([]byte{0x0a, 0x0d, 0x0d, 0x0a}, good[4:]), 0, false},
		{"unsupported major version", header24(le, 0xa1b23c4d, 3, 101), 0, false},
		{"record header cut short", cat(good, record16(le, 0, 0, 1, 1)[:15]), 0, true},
		{"record data cut short", cat(good, record16(le, 0, 0, 4, 4), []byte{1, 2, 3}), 0, true},
		{"second record cut short", cat(good, record16(le, 0, 0, 1, 1), []byte{9}, record16(le, 0, 0, 2, 2)), 1, true},
		{"impossible captured length", cat(good, record16(le, 0, 0, 0xffffffff, 1)), 0, false},
		{"nanoseconds out of range", cat(good, record16(le, 0, 1e9, 0, 0)), 0, false},
		{"microseconds out of range", cat(header24(le, 0xa1b2c3d4, 2, 101), record16(le, 0, 1e6, 0, 0)), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, _, err := pcap.ReadFile(bytes.NewReader(tc.file))
			require.ErrorIs(t, err, pcap.ErrFormat)
			assert.Equal(t, tc.truncated, errors.Is(err, io.ErrUnexpectedEOF), "wraps io.ErrUnexpectedEOF: %v", err)
			assert.Len(t, recs, tc.records)
		})
	}
}

// errReader fails after the file header.
type errReader struct{ r io.Reader }

var errBrokenPipe = errors.New("broken pipe")

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, errBrokenPipe
	}
	return n, err
}

func TestReadFile_ReaderErrorIsNotFormatError(t *testing.T) {
	good := header24(binary.LittleEndian, 0xa1b23c4d, 2, 101)
	_, _, err := pcap.ReadFile(&errReader{bytes.NewReader(good)})
	assert.ErrorIs(t, err, errBrokenPipe)
	assert.NotErrorIs(t, err, pcap.ErrFormat)
}

// TestTCP_CaptureIsReadable records a TCP transfer between two stacks,
// reads the file back and, if tcpdump is installed, has tcpdump list it.
func TestTCP_CaptureIsReadable(t *testing.T) {
	defer goleak.VerifyNone(t)
	path := filepath.Join(t.TempDir(), "a.pcap")
	file, err := os.Create(path)
	require.NoError(t, err)
	defer file.Close()

	var ep *pcap.Endpoint
	net := linktest.NewNet(t, func(lower stack.LinkEndpoint) stack.LinkEndpoint {
		var err error
		ep, err = pcap.New(lower, file, pcap.Options{})
		require.NoError(t, err)
		return ep
	})
	defer net.Close()

	data := linktest.RandomBytes(1, 64<<10)
	got := net.Transfer(t, data)
	assert.Equal(t, sha256.Sum256(data), got)
	net.Close()
	require.NoError(t, ep.Err())
	require.NoError(t, file.Close())
	linktest.CheckRefs(t)

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	recs, lt, err := pcap.ReadFile(f)
	require.NoError(t, err)
	assert.Equal(t, pcap.LinkTypeRaw, lt)
	require.NotEmpty(t, recs)

	// The first frame is A's SYN; data flows A→B, ACKs B→A.
	ip := header.IPv4(recs[0].Data)
	require.True(t, ip.IsValid(len(recs[0].Data)))
	assert.Equal(t, linktest.AddrA, ip.SourceAddress())
	assert.Equal(t, linktest.AddrB, ip.DestinationAddress())
	tcpHdr := header.TCP(ip.Payload())
	assert.Equal(t, header.TCPFlagSyn, tcpHdr.Flags())
	var fromA, fromB, payload int
	for i, rec := range recs {
		ip := header.IPv4(rec.Data)
		require.True(t, ip.IsValid(len(rec.Data)), "record %d", i)
		switch ip.SourceAddress() {
		case linktest.AddrA:
			fromA++
			payload += len(header.TCP(ip.Payload()).Payload())
		case linktest.AddrB:
			fromB++
		}
		if i > 0 {
			assert.False(t, rec.Time.Before(recs[i-1].Time), "record %d goes back in time", i)
		}
	}
	assert.NotZero(t, fromB, "inbound frames were not recorded")
	// At least the data; more if a timer fired early and resent some.
	assert.GreaterOrEqual(t, payload, len(data), "payload bytes recorded from A")
	t.Logf("%d records: %d from A, %d from B", len(recs), fromA, fromB)

	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Logf("skipping the tcpdump check: tcpdump is not on PATH (%v)", err)
		return
	}
	out, err := exec.Command(tcpdump, "-r", path, "-nn").CombinedOutput()
	require.NoError(t, err, "tcpdump -r: %s", out)
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, " IP ") {
			lines = append(lines, l)
		}
	}
	require.Len(t, lines, len(recs), "tcpdump output:\n%s", out)
	assert.Contains(t, lines[0], "10.0.0.1.")
	assert.Contains(t, lines[0], "> 10.0.0.2.5678: Flags [S]")
	t.Logf("tcpdump: %s", lines[0])

	// tcpdump reads the nanosecond magic: asked for nanoseconds since the
	// epoch, it prints the first record's time to the nanosecond.
	out, err = exec.Command(tcpdump, "-r", path, "-nn", "-tt", "--time-stamp-precision=nano", "-c", "1").CombinedOutput()
	require.NoError(t, err, "tcpdump -r: %s", out)
	want := fmt.Sprintf("%d.%09d IP 10.0.0.1.", recs[0].Time.Unix(), recs[0].Time.Nanosecond())
	assert.Contains(t, string(out), want)
}

// TestTCP_StacksWithFaultAndDelay wires A as fault(delay(pcap(wire))): the
// capture, innermost, sees what survived the faults, after the delay, as a
// tap on the cable would.
func TestTCP_StacksWithFaultAndDelay(t *testing.T) {
	defer goleak.VerifyNone(t)
	var file testutil.LockedBuffer
	var (
		p *pcap.Endpoint
		d *delay.Endpoint
		f *fault.Endpoint
	)
	const seed = 5
	t.Logf("seed %d", seed)
	net := linktest.NewNet(t, func(lower stack.LinkEndpoint) stack.LinkEndpoint {
		var err error
		p, err = pcap.New(lower, &file, pcap.Options{})
		require.NoError(t, err)
		d, err = delay.New(p, delay.Config{Seed: seed, Latency: 2 * time.Millisecond})
		require.NoError(t, err)
		f, err = fault.New(d, fault.Config{Seed: seed, Loss: 0.05, Duplicate: 0.01})
		require.NoError(t, err)
		return f
	})
	defer net.Close()

	data := linktest.RandomBytes(seed, 256<<10)
	assert.Equal(t, sha256.Sum256(data), net.Transfer(t, data))
	net.Close()
	linktest.CheckRefs(t)

	recs, _, err := pcap.ReadFile(bytes.NewReader(file.Bytes()))
	require.NoError(t, err)
	fromA := 0
	for _, rec := range recs {
		if header.IPv4(rec.Data).SourceAddress() == linktest.AddrA {
			fromA++
		}
	}
	fc, dc := f.Counters(), d.Counters()
	t.Logf("fault %+v; delay %+v; %d records from A", fc, dc, fromA)
	assert.NotZero(t, fc.Dropped)
	assert.Equal(t, int(dc.Frames), fromA, "records from A, frames delay passed on")
	assert.LessOrEqual(t, dc.Frames, fc.Frames-fc.Dropped+fc.Duplicated)
}
