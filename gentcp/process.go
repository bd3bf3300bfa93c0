package gentcp

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usertcp/usertcp/stack"
)

// Node is the gen_tcp side of one stack: what an Erlang node's kernel
// application is to its sockets. It holds the default options for connect
// and listen (OTP's inet_default_connect_options and
// inet_default_listen_options) and the processes that own sockets.
type Node struct {
	st *stack.Stack

	mu             sync.Mutex
	connectDefault []Option
	listenDefault  []Option

	nextID atomic.Uint64
	// number is the first field of the node's pids (SetNumber).
	number atomic.Uint32

	// maxSockets caps the open sockets of the node (0: no cap); open
	// counts them.
	maxSockets atomic.Int64
	open       atomic.Int64

	// sched, if set, runs the node's goroutines (wait.go); tracker is
	// sched as a WakeTracker, nil if it is not one, resolved once by
	// SetScheduler rather than on every wait and wake.
	sched   Scheduler
	tracker WakeTracker
}

// SetMaxSockets caps how many sockets the node may have open at once;
// connect, listen and accept beyond it fail with emfile, as a process
// out of file descriptors does, instead of exhausting memory. 0 removes
// the cap. A socket closed with output still queued counts until the
// queue has gone out and its endpoint is closed, as a closed Erlang port
// counts until its queue drains.
func (n *Node) SetMaxSockets(max int) { n.maxSockets.Store(int64(max)) }

// OpenSockets returns how many sockets of the node are open, closed ones
// still sending their queued output included.
func (n *Node) OpenSockets() int { return int(n.open.Load()) }

// reserveSocket counts a socket about to be made, or returns Emfile. The
// count only grows while it is under the cap, so OpenSockets never reports
// more than the cap, not even while a refused reservation is undone.
func (n *Node) reserveSocket() error {
	for {
		cur := n.open.Load()
		if max := n.maxSockets.Load(); max > 0 && cur >= max {
			return Emfile
		}
		if n.open.CompareAndSwap(cur, cur+1) {
			return nil
		}
	}
}

// NewNode returns the gen_tcp side of st.
func NewNode(st *stack.Stack) *Node {
	return &Node{st: st}
}

// Stack returns the stack the node's sockets live on.
func (n *Node) Stack() *stack.Stack { return n.st }

// SetDefaults sets the options every later connect and listen starts from,
// as application:set_env(kernel, inet_default_connect_options, ...) does:
// the caller's options override them, any active in them is ignored, and a
// backlog in the listen defaults makes every listen fail with einval. Each
// option is validated; nothing changes if one is bad.
func (n *Node) SetDefaults(connect, listen []Option) error {
	for _, o := range connect {
		if o.Name != "active" {
			if err := check(opConnect, o); err != nil {
				return err
			}
		}
	}
	for _, o := range listen {
		if o.Name != "active" && o.Name != "backlog" {
			if err := check(opListen, o); err != nil {
				return err
			}
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.connectDefault = append([]Option(nil), connect...)
	n.listenDefault = append([]Option(nil), listen...)
	return nil
}

func (n *Node) defaults(op operation) []Option {
	n.mu.Lock()
	defer n.mu.Unlock()
	if op == opListen {
		return n.listenDefault
	}
	return n.connectDefault
}

// Message is anything in a process's mailbox: the socket messages below,
// or whatever another goroutine sent with Process.Send.
type Message any

// TCP is {tcp,Socket,Data}: data received by an active socket.
type TCP struct {
	Socket *Socket // the socket that received the data
	Data   Data    // the packet
}

// PortData is {Socket,{data,Data}}: the data message of a socket with
// {deliver,port}.
type PortData struct {
	Socket *Socket // the socket that received the data
	Data   Data    // the packet
}

// TCPClosed is {tcp_closed,Socket}: the peer closed an active socket.
type TCPClosed struct {
	Socket *Socket // the socket whose peer closed
}

// TCPError is {tcp_error,Socket,Reason}.
type TCPError struct {
	Socket *Socket // the socket that failed
	Reason Reason  // why, e.g. Econnreset or Etimedout
}

// TCPPassive is {tcp_passive,Socket}: an {active,N} count reached zero.
type TCPPassive struct {
	Socket *Socket // the socket that is now {active,false}
}

// Process is a Go stand-in for an Erlang process: an identity that owns
// sockets and a mailbox that receives their messages. The goroutine that
// uses a Process acts as that process; a Process must not be used by two
// goroutines as if they were one.
//
// When a process exits (Exit, or the function given to Spawn returns), the
// sockets it owns are closed and their peers see it, as in OTP.
type Process struct {
	node *Node
	*proc
}

// proc is a process's identity and mailbox, shared by every view On
// gives.
type proc struct {
	id   uint64
	node uint32 // the number of the node it was made on (SetNumber)

	mu      sync.Mutex
	queue   []Message
	arrived signal // wakes whoever waits for a message
	exited  bool
	done    chan struct{}
	owned   map[*Socket]struct{}

	chanOnce sync.Once
	ch       chan Message
}

// NewProcess returns a new process on the node. Call Exit when done with
// it.
func (n *Node) NewProcess() *Process {
	return &Process{node: n, proc: &proc{
		id:    n.nextID.Add(1),
		node:  n.number.Load(),
		done:  make(chan struct{}),
		owned: map[*Socket]struct{}{},

		arrived: n.newSignal(), // tells a WakeTracker of each wake (wait.go)
	}}
}

// On returns the same process acting on node n: the identity and mailbox
// are shared, and Connect and Listen use n's stack and defaults. It lets
// one process own sockets on several stacks, as a test that plays both
// ends of a connection does.
func (p *Process) On(n *Node) *Process { return &Process{node: n, proc: p.proc} }

// Is reports whether p and q are the same process (q may be a view from
// On).
func (p *Process) Is(q *Process) bool { return p != nil && q != nil && p.proc == q.proc }

// Spawn runs f as a new process on its own goroutine; the process exits
// when f returns (or panics; the panic is not recovered). Under a
// Scheduler the goroutine is the scheduler's to run (package sim records
// a panic as a failure of the run).
func (n *Node) Spawn(f func(p *Process)) *Process {
	p := n.NewProcess()
	run := func() {
		defer p.Exit()
		f(p)
	}
	if n.sched != nil {
		n.sched.Go(p.String(), p, run)
	} else {
		go run()
	}
	return p
}

// SetNumber sets the node's number, the first field of the pids of the
// processes made on it from now on, <Number.ID.0>, as an Erlang pid
// carries its node's: 0 unless set. A program with several nodes numbers
// them so that pids differ from node to node (cmd/usertcp numbers its
// stacks in config order).
func (n *Node) SetNumber(k uint32) { n.number.Store(k) }

// String returns a pid-like name, <Number.ID.0>: the number of the node
// the process was made on (SetNumber) and its ID there.
func (p *proc) String() string {
	return "<" + strconv.FormatUint(uint64(p.node), 10) + "." + strconv.FormatUint(p.id, 10) + ".0>"
}

// Node returns the node the process runs on.
func (p *Process) Node() *Node { return p.node }

// Done is closed when the process has exited.
func (p *proc) Done() <-chan struct{} { return p.done }

// Alive reports whether the process has not exited.
func (p *proc) Alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.exited
}

// Exit ends the process: every socket it owns is closed, as when an Erlang
// process exits and its ports close. Exit is idempotent.
func (p *proc) Exit() {
	p.mu.Lock()
	if p.exited {
		p.mu.Unlock()
		return
	}
	p.exited = true
	owned := make([]*Socket, 0, len(p.owned))
	for s := range p.owned {
		owned = append(owned, s)
	}
	p.owned = nil
	close(p.done)
	p.arrived.woke(p.done) // a WakeTracker hears of it as of a message (wait.go)
	p.mu.Unlock()
	for _, s := range owned {
		s.closeByOwnerExit()
	}
}

// Send puts m in the process's mailbox. Messages to an exited process are
// dropped, as in Erlang.
func (p *proc) Send(m Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return
	}
	p.queue = append(p.queue, m)
	p.arrived.wake()
}

// ErrExited is returned by Receive on a process that has exited and has
// no message left.
var ErrExited = errors.New("gentcp: process exited")

// Receive takes the oldest message, waiting up to timeout on the stack's
// clock (Infinity waits forever, 0 polls). It returns Timeout if none came.
func (p *Process) Receive(timeout time.Duration) (Message, error) {
	return p.ReceiveContext(context.Background(), timeout)
}

// ReceiveContext is Receive that also stops when ctx is done.
func (p *Process) ReceiveContext(ctx context.Context, timeout time.Duration) (Message, error) {
	var w *waitCtx // started only when the mailbox is empty
	defer func() {
		if w != nil {
			w.stop()
		}
	}()
	for {
		p.mu.Lock()
		if len(p.queue) > 0 {
			m := p.queue[0]
			p.queue[0] = nil
			p.queue = p.queue[1:]
			p.mu.Unlock()
			return m, nil
		}
		arrived := p.arrived.wait()
		exited := p.exited
		p.mu.Unlock()
		if exited {
			return nil, ErrExited
		}
		if w == nil {
			w = p.node.startWait(ctx, timeout)
		}
		if err := w.block(arrived, p.done); err != nil {
			return nil, err
		}
	}
}

// Sleep waits d on the stack's clock, as timer:sleep(Time): messages stay
// in the mailbox. It returns early if the process exits.
func (p *Process) Sleep(d time.Duration) {
	w := p.node.startWait(context.Background(), d)
	defer w.stop()
	_ = w.block(p.done)
}

// Mailbox returns a channel that yields the process's messages in order,
// for use in select. A goroutine feeds it from the first call. A message
// is taken out of the mailbox only when the channel delivers it, so
// ControllingProcess still moves socket messages that nobody has
// received. When the process exits the channel yields what is still in
// the mailbox and then closes, so that for m := range p.Mailbox() ends;
// until those last messages are taken (or Flush removes them) the feeding
// goroutine stays.
//
// Under a Scheduler (a simulation) Mailbox panics: a scheduler cannot see
// a goroutine wait on a raw channel. Use Receive there.
func (p *Process) Mailbox() <-chan Message {
	if p.node.sched != nil {
		panic("gentcp: Mailbox cannot be used under a Scheduler; use Receive")
	}
	p.chanOnce.Do(func() {
		p.ch = make(chan Message)
		go p.feed()
	})
	return p.ch
}

// feed offers the mailbox's head on p.ch until the process has exited and
// the mailbox is empty, then closes p.ch. Before the exit it also waits
// for p.done, so that an exit with nothing queued closes the channel at
// once; after it, only a delivery or a change of the queue moves it on.
func (p *proc) feed() {
	defer close(p.ch)
	for {
		p.mu.Lock()
		exited := p.exited
		if len(p.queue) == 0 {
			if exited {
				p.mu.Unlock()
				return
			}
			arrived := p.arrived.wait()
			p.mu.Unlock()
			select {
			case <-arrived:
			case <-p.done:
			}
			continue
		}
		m := p.queue[0]
		arrived := p.arrived.wait()
		p.mu.Unlock()
		var done <-chan struct{}
		if !exited {
			done = p.done
		}
		select {
		case p.ch <- m:
			p.mu.Lock()
			// Remove m unless the queue changed under us (a move by
			// ControllingProcess): then look again.
			if len(p.queue) > 0 && sameMessage(p.queue[0], m) {
				p.queue[0] = nil
				p.queue = p.queue[1:]
			}
			p.mu.Unlock()
		case <-arrived:
			// New messages, or the queue was rearranged: offer the head
			// again.
		case <-done:
			// Exited: go on offering what is left, without waiting on
			// done any more.
		}
	}
}

func sameMessage(a, b Message) bool {
	defer func() { _ = recover() }() // uncomparable user messages
	return a == b
}

// Pending returns the messages in the mailbox without removing them, as
// process_info(Pid, messages) does.
func (p *proc) Pending() []Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Message(nil), p.queue...)
}

// Flush removes every message from the mailbox and returns them.
func (p *proc) Flush() []Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.queue
	p.queue = nil
	if len(q) > 0 {
		p.arrived.wake() // a Mailbox feed offering the old head looks again
	}
	return q
}

// take removes the messages that match from the mailbox, keeping the order
// of the rest, and returns them in order.
func (p *proc) take(match func(Message) bool) []Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Message
	keep := p.queue[:0]
	for _, m := range p.queue {
		if match(m) {
			out = append(out, m)
		} else {
			keep = append(keep, m)
		}
	}
	for i := len(keep); i < len(p.queue); i++ {
		p.queue[i] = nil
	}
	p.queue = keep
	if len(out) > 0 {
		p.arrived.wake()
	}
	return out
}

func (p *proc) adoptSocket(s *Socket) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return false
	}
	p.owned[s] = struct{}{}
	return true
}

func (p *proc) disown(s *Socket) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.owned, s)
}
