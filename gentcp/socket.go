// socket.go holds the Socket type and the state every concern shares:
// the fields and what guards them, making a socket and its endpoint
// (newSocket, newEndpoint, adopting an {fd,_} endpoint), and the change
// signal blocked calls wait on. Each call lives in the file named after
// it (doc.go lists them).
//
// Locks: s.mu guards the fields declared after it, except parked (an
// atomic, for kick); node, id, listen, ep and wq never change. A call that also touches the
// owner's mailbox takes the process's lock (p.mu) inside s.mu, never the
// other way round; netstack's callbacks (kick) take neither.

package gentcp

import (
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Socket is a gen_tcp socket: a listen socket (from Listen) or a connected
// one (from Connect or Accept). Its methods may be called from any
// goroutine; calls that OTP restricts to the owner (ControllingProcess)
// take the calling Process.
//
// A socket is a state machine on top of a netstack endpoint. The endpoint
// does TCP; the socket owns what OTP's inet driver adds and netstack lacks:
// the receive buffer and its packet framing, the user-level send queue with
// its watermarks, the one-shot reporting of a close or reset, exit_on_close,
// active delivery to the owner, and getstat's counters (reference §13).
type Socket struct {
	node   *Node
	id     uint64
	listen bool
	ep     tcpip.Endpoint
	wq     *waiter.Queue

	mu      sync.Mutex
	o       sockOpts
	owner   *Process
	closed  bool   // the handle is closed: close/1, owner exit, or exit_on_close in active mode
	changed signal // wakes blocked calls on every state change they care about

	// Receive side: bytes read from the endpoint but not yet delivered
	// (OTP's driver buffer), and what reading has found.
	rbuf  []byte
	rbase []byte // rbuf's backing array, reused so reads do not regrow it
	rsize int    // the size of the array rbase is the rest of
	// rchunk is rbase's array if it is pooled: the socket holds it until
	// it reads into another (chunk.go).
	rchunk *chunk
	// rw is the writer netstack reads into, kept here because a local
	// one escapes to the heap (an allocation per read); it holds no
	// slice between reads.
	rw       tcpip.SliceWriter
	eof      bool // the endpoint reported end of stream
	reset    bool // the endpoint reported a reset
	recvBusy bool // a passive recv is in progress (a second gets ealready)
	// staleRemain is what a recv(N>0) poll that timed out still wanted.
	// OTP's driver keeps that request: later recv(0) calls read toward
	// it and deliver nothing until it is met, or until a recv with a
	// real (non-zero) timeout expires (scenario
	// recv_len_poll_timeout_stale_length). A switch to raw under a
	// pending recv sets it too: the rest of a {packet,1|2|4} packet half
	// read (recvSwitchLocked).
	staleRemain int
	reading     bool // the active-mode reader goroutine runs
	// parked: an active socket whose reader found nothing to read and
	// left; kick (the endpoint's readable callback) starts a reader
	// again. Idle active sockets therefore hold no goroutine. Only
	// without a Scheduler, whose readers wait as goroutines it can see.
	parked    atomic.Bool
	kickEntry waiter.Entry
	kickArmed bool // kickEntry is registered with wq
	// readSinceDeliver: bytes were read from the endpoint since the last
	// active delivery (OTP judges packet_size only on arrival).
	readSinceDeliver bool

	// Error bookkeeping (reference §6): once a close or reset has been
	// reported, the socket is dead and calls say enotconn, except for the
	// one-shot reasons still pending for recv and send.
	dead           bool
	pendRecv       Reason
	pendSend       Reason
	pendClearsSend bool // a consumed recv error also clears pendSend (background send failure)
	pendReset      bool // the background failure was a reset
	eofSeen        bool // exit_on_close false: recv has reported the EOF; recv says closed from now on
	shutWr         bool // shutdown(write) was called
	epClosed       bool
	slotFreed      bool // the node's count of open sockets no longer has it (freeSlotLocked)

	// Send side: what the endpoint did not take yet (OTP's driver queue).
	sq            [][]byte
	sqLen         int
	corked        int      // bytes at the queue's front held by the cork (corkLocked), not for want of room
	draining      bool     // the drain goroutine runs
	busy          bool     // the queue reached high_watermark and not yet low_watermark
	shutAfterSend bool     // shutdown(write) waits for the queue
	wbuf          *payload // the payload of the write in progress (writePartsLocked)
	// smallSent: the last send was small, and recvCnt was smallSentRecvs
	// then (corkLocked).
	smallSent      bool
	smallSentRecvs int

	stats stats
}

func (n *Node) newSocket(ep tcpip.Endpoint, wq *waiter.Queue, o sockOpts, listen bool) *Socket {
	return &Socket{
		node:   n,
		id:     n.nextID.Add(1),
		listen: listen,
		ep:     ep,
		wq:     wq,
		o:      o,

		changed: n.newSignal(), // tells a WakeTracker of each wake (wait.go)
	}
}

// String returns a port-like name, #Port<0.ID>.
func (s *Socket) String() string { return "#Port<0." + strconv.FormatUint(s.id, 10) + ">" }

// notifyLocked wakes every call blocked on this socket's state.
func (s *Socket) notifyLocked() { s.changed.wake() }

// changedLocked returns a channel that is closed at the next state
// change, for a call about to wait with s.mu released.
func (s *Socket) changedLocked() <-chan struct{} { return s.changed.wait() }

// newEndpoint creates a TCP endpoint of addr's family with o applied and
// bound to {ip,port} if given.
func (n *Node) newEndpoint(addr netip.Addr, o sockOpts) (tcpip.Endpoint, *waiter.Queue, error) {
	proto := ipv4.ProtocolNumber
	if addr.Is6() {
		proto = ipv6.ProtocolNumber
	}
	if o.ip.IsValid() && o.ip.Is6() != addr.Is6() {
		return nil, nil, Einval
	}
	wq := new(waiter.Queue)
	ep, terr := n.st.Netstack().NewEndpoint(tcp.ProtocolNumber, proto, wq)
	if terr != nil {
		return nil, nil, reasonOf(terr)
	}
	n.applyEndpointOpts(ep, &o, nil)
	if o.ip.IsValid() || o.port != 0 {
		fa := tcpip.FullAddress{Port: uint16(o.port)}
		if o.ip.IsValid() && !o.ip.IsUnspecified() {
			fa.Addr = tcpip.AddrFromSlice(o.ip.AsSlice())
		}
		if terr := ep.Bind(fa); terr != nil {
			ep.Close()
			return nil, nil, reasonOf(terr)
		}
	}
	return ep, wq, nil
}

// adopt makes a socket of an endpoint given with {fd,_}.
func (p *Process) adopt(o sockOpts, listen bool) (*Socket, error) {
	e := o.fd
	o.fd = nil
	p.node.applyEndpointOpts(e.EP, &o, nil)
	s := p.node.newSocket(e.EP, e.WQ, o, listen)
	if !p.own(s) {
		e.EP.Close()
		return nil, Closed
	}
	return s, nil
}

// IsListen reports whether s is a listen socket.
func (s *Socket) IsListen() bool { return s.listen }

// Endpoint returns the netstack endpoint under the socket, for options
// gentcp does not wrap. Reading or writing it directly bypasses gentcp's
// buffers and breaks the socket's semantics.
func (s *Socket) Endpoint() tcpip.Endpoint { return s.ep }
