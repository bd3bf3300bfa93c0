// recv.go owns passive gen_tcp:recv and the receive buffer both modes
// read through: how much to read from the endpoint (buffer, minimum room),
// taking a packet off the buffer with its framing, and the read errors
// recv reports once.
//
// Locks: recv holds s.mu, releasing it only while it waits for data;
// the buffer helpers (…Locked) expect it held.

package gentcp

import (
	"context"
	"slices"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/waiter"
)

// maxRecv is OTP's limit on recv(Length): 64 MiB.
const maxRecv = 64 << 20

// Recv receives a packet in passive mode, as gen_tcp:recv(Socket, Length,
// Timeout). With {packet,raw}, Length 0 returns what is buffered, at most
// `buffer` bytes; Length N waits for exactly N bytes (if the peer closes
// first, the partial bytes are discarded and the result is closed). In
// packet modes Length must be 0 and one packet is returned. A timeout
// loses no data. The Data's bytes are the caller's; a caller done with
// them may Release the Data, so a later read reuses its array.
//
// When Setopts changes the packet type while Recv waits, Recv goes on
// with the new type from the peer's next bytes, as OTP's driver does: the
// Setopts alone returns nothing, even if a whole packet of the new type is
// buffered; a Recv(N) still takes exactly N bytes. Where OTP's recv would
// return an HTTP packet (a switch to an HTTP type), Recv returns einval
// once that packet is whole and leaves it for RecvHTTP.
//
// Reasons: timeout, closed, enotconn, econnreset (show_econnreset), einval
// (an active socket, Length > 0 in packet mode, or an HTTP packet type,
// whose packets RecvHTTP returns), ealready (another recv
// is in progress), emsgsize (a packet above packet_size; the socket is
// closed), enomem (Length above 64 MiB), FunctionClause (Length < 0).
func (s *Socket) Recv(length int, timeout time.Duration) (Data, error) {
	return s.RecvContext(context.Background(), length, timeout)
}

// RecvContext is Recv that also gives up when ctx is done.
func (s *Socket) RecvContext(ctx context.Context, length int, timeout time.Duration) (Data, error) {
	d, _, err := s.recv(ctx, length, timeout, nil, nil)
	return d, s.failed("recv", err)
}

// RecvAppend is Recv that appends what it receives to dst and returns the
// extended slice: the Go way to receive without allocating. Recv, like
// gen_tcp:recv, returns a new binary each call; a caller that passes its
// buffer back each time (buf, err = s.RecvAppend(buf[:0], 0, t)) reuses
// one array instead. Length, Timeout and the reasons are Recv's; Data's
// list and header presentation does not apply.
//
// With {packet,raw} and Length 0 the bytes are copied once, from netstack
// straight into dst's spare capacity: what Recv(0) would return (at most
// the buffer option's bytes), and at most cap(dst)-len(dst) of it. A dst
// without spare capacity grows by the buffer option first. Otherwise the
// packet is taken as Recv takes it and copied onto dst. On an error dst is
// returned as it was. A RecvAppend waiting with {packet,raw} when Setopts
// sets another type returns einval once a packet of that type is whole,
// and leaves it for the next call (which frames it).
func (s *Socket) RecvAppend(dst []byte, length int, timeout time.Duration) ([]byte, error) {
	return s.RecvAppendContext(context.Background(), dst, length, timeout)
}

// RecvAppendContext is RecvAppend that also gives up when ctx is done.
func (s *Socket) RecvAppendContext(ctx context.Context, dst []byte, length int, timeout time.Duration) ([]byte, error) {
	s.mu.Lock()
	direct, buffer := length == 0 && s.o.packet == packetRaw, max(s.o.buffer, 1)
	s.mu.Unlock()
	if !direct {
		d, err := s.RecvContext(ctx, length, timeout)
		if err != nil {
			return dst, err
		}
		return append(dst, d.Bytes...), nil
	}
	if cap(dst) == len(dst) {
		dst = slices.Grow(dst, buffer)
	}
	n := len(dst)
	_, got, err := s.recv(ctx, 0, timeout, dst[n:min(cap(dst), n+buffer)], nil)
	if err != nil {
		return dst, s.failed("recv", err)
	}
	return dst[:n+got], nil
}

// recvInto is recv(S, 0) for a raw socket that delivers into dst instead
// of a new Data: at most len(dst) bytes, copied once from the endpoint (or
// from what is already buffered). The net.Conn adapter reads with it.
func (s *Socket) recvInto(ctx context.Context, dst []byte, timeout time.Duration) (int, error) {
	_, n, err := s.recv(ctx, 0, timeout, dst, nil)
	return n, err
}

// recv is the one receive loop: into == nil returns a Data; otherwise
// bytes go into into and their count is returned (raw, length 0 only).
// A non-nil hp says the caller is RecvHTTP: it takes the packets of the
// HTTP types, parsed into *hp, and every other caller the packets of the
// other types (einval otherwise, judged again after each wait, as
// setopts may change the type meanwhile).
func (s *Socket) recv(ctx context.Context, length int, timeout time.Duration, into []byte, hp *HTTPPacket) (Data, int, error) {
	http := hp != nil
	if length < 0 {
		return Data{}, 0, FunctionClause
	}
	if timeout < 0 {
		return Data{}, 0, BadArg
	}
	s.mu.Lock()
	if err := s.recvCheckLocked(length, http); err != nil {
		s.mu.Unlock()
		return Data{}, 0, err
	}
	if into != nil && (s.o.packet != packetRaw || length != 0) {
		s.mu.Unlock()
		return Data{}, 0, Einval
	}
	s.recvBusy = true

	// The wait (its timer and the endpoint's wake-up registration) is set
	// up only when the first try finds nothing, so a recv that finds data
	// buffered or queued in netstack allocates nothing for it.
	var w *waitCtx
	var entry *waiter.Entry
	var ch chan struct{}
	defer func() {
		if w != nil {
			w.stop()
			s.wq.EventUnregister(entry)
		}
	}()
	defer s.mu.Unlock()
	defer func() { s.recvBusy = false }()
	// framed is the packet type the loop frames with; switched says
	// setopts changed it while recv waited and nothing has arrived since
	// (recvSwitchLocked).
	framed, switched := s.o.packet, false
	for {
		if s.closed {
			return Data{}, 0, Closed
		}
		if s.dead {
			return Data{}, 0, s.takeRecvErrorLocked()
		}
		if s.o.packet != framed {
			s.recvSwitchLocked(length, framed)
			framed, switched = s.o.packet, true
		}
		if switched && s.recvReadableLocked() {
			switched = false
		}
		stale := length == 0 && s.staleRemain > 0 && s.o.packet == packetRaw
		if switched || stale {
			// Nothing to take: wait for the bytes.
		} else if length == 0 && (s.o.packet.isHTTP() != http || into != nil && s.o.packet != packetRaw) {
			// Another call takes this type's packets (RecvHTTP or
			// Recv). Where OTP's recv would return one, this one says
			// einval and leaves it buffered for that call.
			if _, _, err, ok := s.frameLocked(0, true); ok {
				return Data{}, 0, Einval
			} else if err != nil {
				return Data{}, 0, s.packetErrorLocked(err)
			}
		} else if into != nil {
			if n, ok := s.takeIntoLocked(into); ok {
				return Data{}, n, nil
			}
		} else {
			var d Data
			var err error
			var ok bool
			if http {
				*hp, err, ok = s.takeHTTPLocked(true)
			} else {
				d, err, ok = s.takePacketLocked(length, true)
			}
			if ok {
				return d, 0, nil
			}
			if err != nil {
				return Data{}, 0, s.packetErrorLocked(err)
			}
		}
		if s.eof || s.reset {
			return Data{}, 0, s.recvSawCloseLocked()
		}
		want := s.readWant(length)
		if stale {
			want = s.staleRemain
		}
		before := len(s.rbuf)
		terr := s.fillLocked(want)
		switch terr.(type) {
		case nil:
			if stale {
				s.staleRemain -= len(s.rbuf) - before
			}
			switched = false
			continue
		case *tcpip.ErrWouldBlock:
			if w == nil {
				// Register for the endpoint's wake-ups, then try again:
				// data that came before the registration woke nobody.
				w = s.node.startWait(ctx, timeout)
				e, c := s.node.channelEntry(waiter.ReadableEvents | waiter.EventHUp | waiter.EventErr)
				entry, ch = &e, c
				s.wq.EventRegister(entry)
				continue
			}
			changed := s.changedLocked()
			s.mu.Unlock()
			err := w.block(ch, changed)
			s.mu.Lock()
			if err != nil {
				// Nothing is lost: buffered bytes stay for the next recv.
				if s.closed {
					return Data{}, 0, Closed
				}
				if err == Timeout {
					if timeout == 0 && length > 0 {
						s.staleRemain = length - len(s.rbuf)
					} else if timeout > 0 {
						s.staleRemain = 0
					}
				}
				return Data{}, 0, err
			}
		default:
			s.noteReadErrorLocked(terr)
		}
	}
}

// recvSwitchLocked is a pending recv's part of a setopts that changed
// the packet type from old, as OTP's driver has it: the setopts itself
// does not make the recv frame again; the next arrival (data, the peer's
// close or a reset) does, framing what is buffered with the new type
// before reading on (recvReadableLocked tells). A recv(N>0) still takes
// exactly N bytes. A {packet,1|2|4} packet half there, its header whole,
// leaves the driver reading exactly the rest of it; with raw as the new
// type the recv then returns everything buffered (header and all), and a
// close before the rest comes discards it (staleRemain, as a recv(N)
// does). OTP hands that buffer to any other new type as one packet too,
// whatever its framing says; gentcp frames it (doc.go, Differences).
func (s *Socket) recvSwitchLocked(length int, old packetType) {
	if length > 0 || s.o.packet != packetRaw || old.headerLen() == 0 {
		return
	}
	f := s.o.framing()
	f.packet = old
	if _, used, need, err := decodePacket(s.rbuf, f); err == nil && used == 0 && len(s.rbuf) >= old.headerLen() {
		s.staleRemain = need - len(s.rbuf)
	}
}

// recvReadableLocked reports whether the endpoint has something for a
// recv: bytes, the end of the stream or an error.
func (s *Socket) recvReadableLocked() bool {
	return s.epClosed || s.eof || s.reset ||
		s.ep.Readiness(waiter.ReadableEvents|waiter.EventHUp|waiter.EventErr) != 0
}

func (s *Socket) recvCheckLocked(length int, http bool) error {
	switch {
	case s.closed:
		return Closed
	case s.listen:
		return Enotconn
	case length > maxRecv:
		return Enomem
	case s.o.active != activeFalse:
		return Einval
	case length > 0 && s.o.packet != packetRaw:
		return Einval
	case s.o.packet.isHTTP() != http:
		return Einval
	case s.recvBusy:
		return Ealready
	case s.dead:
		return s.takeRecvErrorLocked()
	case s.eofSeen:
		return Closed
	}
	return nil
}

// takeRecvErrorLocked returns the reason a recv on a dead socket gets: the
// one-shot reason if one is pending, enotconn after.
func (s *Socket) takeRecvErrorLocked() error {
	r := s.pendRecv
	s.pendRecv = ""
	if r == "" {
		return Enotconn
	}
	if s.pendClearsSend {
		s.pendSend = ""
	}
	return r
}

// packetErrorLocked handles a packet above packet_size: emsgsize once, and
// the socket is closed underneath (later calls: enotconn).
func (s *Socket) packetErrorLocked(err error) error {
	s.dead = true
	s.rbuf = nil
	s.pendRecv, s.pendSend = "", ""
	s.dropQueueLocked()
	s.closeEndpointLocked(true)
	s.notifyLocked()
	return err
}

func (s *Socket) noteReadErrorLocked(terr tcpip.Error) {
	switch terr.(type) {
	case *tcpip.ErrClosedForReceive:
		s.eof = true
	case *tcpip.ErrConnectionReset, *tcpip.ErrConnectionAborted:
		s.reset = true
	default:
		s.eof = true
	}
}

// takeIntoLocked delivers raw bytes into dst: from rbuf if it holds any,
// else straight from the endpoint, so the bytes are copied once.
func (s *Socket) takeIntoLocked(dst []byte) (int, bool) {
	if len(s.rbuf) > 0 {
		n := copy(dst, s.rbuf[:min(len(s.rbuf), len(dst))])
		s.rbuf = s.rbuf[n:]
		s.stats.received(n)
		return n, true
	}
	if s.epClosed || len(dst) == 0 {
		return 0, false
	}
	res, terr := s.readEndpointLocked(dst)
	if res.Count > 0 {
		s.readSinceDeliver = true
		if m, ok := s.ep.(interface{ ModerateRecvBuf(int) }); ok {
			m.ModerateRecvBuf(res.Count)
		}
		s.stats.received(res.Count)
		return res.Count, true
	}
	if terr != nil {
		if _, again := terr.(*tcpip.ErrWouldBlock); !again {
			s.noteReadErrorLocked(terr)
		}
	}
	return 0, false
}

// readEndpointLocked reads what netstack holds into dst, at most len(dst).
func (s *Socket) readEndpointLocked(dst []byte) (tcpip.ReadResult, tcpip.Error) {
	s.rw = dst
	res, terr := s.ep.Read(&s.rw, tcpip.ReadOptions{})
	s.rw = nil
	return res, terr
}

// maxReadChunk bounds one read from the endpoint (see fillLocked).
const maxReadChunk = 256 << 10

// minRoom is the smallest array fillLocked allocates: small messages
// share one, instead of one allocation each.
const minRoom = 512

// keepIdleRoom: when rbuf empties, the rest of an array of at most this
// size is kept for the next read; a bigger one is let go, so an idle
// socket does not pin a bulk-sized buffer.
const keepIdleRoom = 4 << 10

// readWant is how many bytes to ask the endpoint for.
func (s *Socket) readWant(length int) int {
	if length > 0 {
		return max(length-len(s.rbuf), 1)
	}
	return max(s.o.buffer, 1)
}

// fillLocked reads up to want bytes from the endpoint into rbuf without
// blocking: everything netstack holds, up to want.
//
// Packets are handed out of rbuf without a copy, so their bytes are never
// reused and a read often needs a new array. That array is sized by what
// netstack holds now (ReceiveQueueSizeOption), not by want: a 1-byte
// message must not allocate (and make Go zero) a whole buffer. Data that
// arrives between the size query and the read is still read, into a
// grown array, so a read takes all that is there, as OTP's does.
func (s *Socket) fillLocked(want int) tcpip.Error {
	if s.epClosed {
		return &tcpip.ErrClosedForReceive{}
	}
	// Read at most maxReadChunk at a time: a huge buffer option or recv
	// length must not make the socket allocate it up front; the loops
	// that call fillLocked keep reading until they have enough.
	want = min(want, maxReadChunk)
	got := 0
	var terr tcpip.Error
	for got < want {
		if cap(s.rbuf) == len(s.rbuf) {
			q := s.queued()
			if got > 0 && q == 0 {
				break // the read took all there was; do not grow for nothing
			}
			s.roomLocked(roomFor(want-got, q))
		}
		n := len(s.rbuf)
		room := min(cap(s.rbuf)-n, want-got)
		var res tcpip.ReadResult
		res, terr = s.readEndpointLocked(s.rbuf[n : n+room])
		s.rbuf = s.rbuf[:n+res.Count]
		got += res.Count
		if terr != nil || res.Count < room {
			break // netstack has no more for now
		}
	}
	if got > 0 {
		s.readSinceDeliver = true
		// Let receive-buffer autotuning see the read; without it the
		// window never grows (netstack-notes: ModerateRecvBuf).
		if m, ok := s.ep.(interface{ ModerateRecvBuf(int) }); ok {
			m.ModerateRecvBuf(got)
		}
		return nil
	}
	if terr == nil {
		return &tcpip.ErrWouldBlock{}
	}
	return terr
}

// queued is how many bytes netstack holds for reading, or -1 if it does
// not say.
func (s *Socket) queued() int {
	q, err := s.ep.GetSockOptInt(tcpip.ReceiveQueueSizeOption)
	if err != nil {
		return -1
	}
	return q
}

// roomFor is the size of the room a read of want bytes gets when rbuf's
// array is full and netstack holds q bytes: q, at least minRoom, at most
// want.
func roomFor(want, q int) int {
	if q < 0 {
		return want
	}
	return min(want, max(q, minRoom))
}

// roomLocked makes room for want more bytes after rbuf, reusing rbase:
// bytes already taken from the front are reclaimed by moving what is left
// to the start, and the array grows only when what is buffered plus want
// does not fit.
func (s *Socket) roomLocked(want int) {
	if cap(s.rbuf)-len(s.rbuf) >= want {
		return
	}
	need := len(s.rbuf) + want
	if cap(s.rbase) >= need {
		n := copy(s.rbase[:cap(s.rbase)], s.rbuf)
		s.rbuf = s.rbase[:n]
		return
	}
	size := need
	if len(s.rbuf) > 0 {
		// A packet longer than one read: grow geometrically.
		size = max(need, 2*cap(s.rbase))
	}
	nb, c := newReadArray(size)
	nb = nb[:copy(nb, s.rbuf)]
	s.rchunk.release()
	s.rchunk = c
	s.rbase = nb[:cap(nb)]
	s.rbuf = nb
	s.rsize = cap(nb)
}

// takePacketLocked takes the next deliverable packet from rbuf: for raw
// with length > 0 exactly length bytes, otherwise one packet as framed by
// the packet option. ok is false if rbuf holds none yet; err is the
// framing error (emsgsize). Without judgeSize a packet above packet_size
// is not yet an error, only not whole (active mode between arrivals). An
// HTTP type's line is taken as it is ({deliver,port} in active mode);
// takeHTTPLocked parses it instead.
func (s *Socket) takePacketLocked(length int, judgeSize bool) (Data, error, bool) {
	payload, used, err, ok := s.frameLocked(length, judgeSize)
	if !ok {
		return Data{}, err, false
	}
	// The packet is handed out without a copy: its bytes are never
	// reused, as rbase moves past them (or is dropped once rbuf is empty,
	// which also frees an idle socket's buffer).
	d := Data{Bytes: payload[:len(payload):len(payload)], List: !s.o.binary, chunk: s.rchunk}
	s.rchunk.hold()
	if s.o.binary && s.o.header > 0 && !s.o.packet.isHTTP() {
		// [B1,...,BN|Rest]; a packet shorter than N is a plain list
		// (reference §5 header_*).
		if len(d.Bytes) < s.o.header {
			d.List = true
		} else {
			d.Header = s.o.header
		}
	}
	s.consumeLocked(used)
	return d, nil, true
}

// frameLocked finds the next packet in rbuf, as takePacketLocked
// describes, without taking it: its bytes and how many bytes of rbuf it
// uses (consumeLocked takes them).
func (s *Socket) frameLocked(length int, judgeSize bool) (payload []byte, used int, err error, ok bool) {
	if length > 0 {
		if len(s.rbuf) < length {
			return nil, 0, nil, false
		}
		return s.rbuf[:length], length, nil, true
	}
	if s.o.packet.httpHeadersOnly() {
		// OTP's driver enters its header state whenever it frames with
		// httph (packet_http.go).
		s.o.httpHeaders = true
	}
	p, u, _, err := decodePacket(s.rbuf, s.o.framing())
	if err != nil && judgeSize {
		return nil, 0, err, false
	}
	if err != nil || u == 0 {
		return nil, 0, nil, false
	}
	return p, u, nil, true
}

// consumeLocked takes used bytes off the front of rbuf, letting a big
// array go once rbuf is empty.
func (s *Socket) consumeLocked(used int) {
	s.rbuf = s.rbuf[used:]
	if len(s.rbuf) == 0 && s.rsize > keepIdleRoom {
		s.rchunk.release()
		s.rbuf, s.rbase, s.rsize, s.rchunk = nil, nil, 0, nil
	} else {
		s.rbase = s.rbuf[:cap(s.rbuf)]
	}
	s.stats.received(used)
}
