package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// MinLatency is the least one-way latency of a simulated link; smaller
// values (zero included) are raised to it. With no latency the clock
// would not move between a segment and its ACK, every RTT sample would be
// zero, and retransmissions would run away (netstack-notes, finding 6).
const MinLatency = time.Microsecond

// DefaultLimit is the virtual time after which Run gives up when
// Options.Limit is zero.
const DefaultLimit = 24 * time.Hour

// DefaultStallTimeout is how much wall time a process may run without
// blocking in gentcp when Options.StallTimeout is zero.
const DefaultStallTimeout = 30 * time.Second

// Errors Run can wrap; test with errors.Is.
var (
	// ErrDeadlock: processes are blocked and nothing (no frame, no timer)
	// can wake them.
	ErrDeadlock = errors.New("sim: deadlock")
	// ErrTimeLimit: Options.Limit of virtual time passed first.
	ErrTimeLimit = errors.New("sim: virtual time limit reached")
	// ErrStall: a process kept running for Options.StallTimeout of wall
	// time without blocking in gentcp. The simulation cannot recover its
	// goroutines.
	ErrStall = errors.New("sim: stalled")
	// ErrLeak: goroutines were still blocked after the stacks closed.
	ErrLeak = errors.New("sim: goroutines left after teardown")
	// ErrNotScheduled is the error of a gentcp call that would block
	// outside a simulated process: in an At event, the setup function, or
	// a goroutine started with go. Block only in processes started with
	// Sim.Go or Node.Spawn. Run reports such calls too.
	ErrNotScheduled = errors.New("sim: a gentcp call would block outside a simulated process")
)

// Options describes a simulation: hosts on one in-memory network. The
// zero value is two hosts, "a" (10.0.0.1/24) and "b" (10.0.0.2/24), on
// a clean link with MinLatency, seed 0.
type Options struct {
	// Seed determines every random choice: the network's faults and
	// delays, and each stack's ports, sequence numbers and hash seeds.
	Seed uint64

	// Hosts are the hosts of the network, in order; Sim.A and Sim.B are
	// the first two. Without Hosts there are two, A and B.
	Hosts []Host

	// A and B describe the two hosts when Hosts is empty (a memlink
	// link, memlink.New, with the seeds two-host runs always had). Set
	// either Hosts or A and B.
	A, B Host

	// Link is the network, with the impairments of every ordered pair of
	// hosts (Partition, SetFaults, SetDelay and the others change them
	// per pair). The simulation sets Seed (from Options.Seed), Clock and
	// LockStep, and raises Latency to at least MinLatency; Pcap, if set,
	// captures on the virtual clock (timestamps from Epoch): with A and
	// B, as end A sees the link; with Hosts, every frame entering the
	// network.
	Link memlink.Options

	// Limit is the virtual time after which Run stops with ErrTimeLimit;
	// zero means DefaultLimit.
	Limit time.Duration

	// StallTimeout is how much wall time a process may run without
	// blocking in gentcp before Run fails with ErrStall; zero means
	// DefaultStallTimeout.
	StallTimeout time.Duration
}

// Sim is one simulation run: hosts on an in-memory network, one virtual
// clock and a scheduler that runs one thing at a time — a process until
// it blocks in a gentcp call, one frame delivery, or one timer. When
// nothing can run, the clock jumps to the next timer.
//
// Build it with New, start processes with Go, Daemon or Node.Spawn,
// schedule network events and crashes with At, then call Run once.
// Methods other than Run may be called from processes and events; none
// is safe to call from another goroutine while Run runs.
type Sim struct {
	opts   Options
	clock  *Clock
	net    *memlink.Network
	hosts  []*host
	byName map[string]*host
	nodes  map[*gentcp.Node]*host // the nodes of every boot
	// byPort finds the host of a frame's port.
	byPort map[string]*host
	table  map[string][]netip.Addr // every host's name and addresses
	sched  *scheduler
	links  linkState

	mu      sync.Mutex
	misused int // calls that failed with ErrNotScheduled; guarded by mu
	phase   phase
	// dirty lists the hosts a step may have given netstack work: the
	// barrier before the next step settles them, and only them.
	dirty     []*host
	failures  []error
	trace     hash.Hash
	frames    []Frame
	journal   *journal
	steps     int
	wallStart time.Time
}

type phase int

const (
	phaseSetup phase = iota
	phaseRunning
	phaseTearingDown
	phaseDone
)

// New builds the hosts and the network, and starts each host's Start
// process. Nothing runs until Run.
func New(opts Options) (*Sim, error) {
	s := &Sim{opts: opts, clock: NewClock(), trace: sha256.New(),
		byName: map[string]*host{}, nodes: map[*gentcp.Node]*host{}, byPort: map[string]*host{},
		table: map[string][]netip.Addr{}}
	if s.opts.Limit <= 0 {
		s.opts.Limit = DefaultLimit
	}
	if s.opts.StallTimeout <= 0 {
		s.opts.StallTimeout = DefaultStallTimeout
	}
	s.sched = newScheduler(s.opts.StallTimeout)
	s.sched.onPanic = s.taskPanicked
	s.sched.onMissed = func(t *task) {
		s.failures = append(s.failures, fmt.Errorf("sim: the scheduler missed a wake-up of %s at %v", t.name, s.Now()))
	}
	s.sched.onMisuse = func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.misused++
	}
	lo := opts.Link
	lo.Seed = opts.Seed
	lo.Clock = s.clock
	lo.LockStep = true
	lo.Latency = max(lo.Latency, MinLatency)
	s.links = newLinkState(lo)
	s.journal = newJournal(s, max(len(opts.Hosts), 2))

	specs := opts.Hosts
	twoHosts := len(specs) == 0
	if twoHosts {
		specs = []Host{opts.A, opts.B}
		for i, d := range []struct{ name, addr string }{{"a", "10.0.0.1/24"}, {"b", "10.0.0.2/24"}} {
			if specs[i].Name == "" {
				specs[i].Name = d.name
			}
			if len(specs[i].Addresses) == 0 {
				specs[i].Addresses = []netip.Prefix{netip.MustParsePrefix(d.addr)}
			}
		}
	} else {
		if !isZero(opts.A) || !isZero(opts.B) {
			return nil, errors.New("sim: set Options.Hosts or Options.A and B, not both")
		}
		specs = slices.Clone(specs)
		for i := range specs {
			if specs[i].Name == "" {
				specs[i].Name = fmt.Sprintf("n%d", i+1)
			}
			if len(specs[i].Addresses) == 0 {
				specs[i].Addresses = []netip.Prefix{defaultAddress(i)}
			}
		}
	}
	for i, sp := range specs {
		if _, dup := s.byName[sp.Name]; dup {
			return nil, fmt.Errorf("sim: two hosts are named %q", sp.Name)
		}
		h := &host{index: i, name: sp.Name, spec: sp, portName: sp.Name}
		if twoHosts {
			h.portName = []string{"a", "b"}[i]
		}
		s.hosts = append(s.hosts, h)
		s.byName[h.name] = h
		s.byPort[h.portName] = h
		s.table[h.name] = h.addrs()
	}

	if twoHosts {
		a, b, err := memlink.New(lo)
		if err != nil {
			return nil, fmt.Errorf("sim: %w", err)
		}
		s.hosts[0].port, s.hosts[1].port = a, b
		s.net = a.Network()
	} else {
		n, err := memlink.NewNetwork(lo)
		if err != nil {
			return nil, fmt.Errorf("sim: %w", err)
		}
		s.net = n
	}
	s.net.Observe(s.journal.sent)
	for _, h := range s.hosts {
		if err := s.boot(h); err != nil {
			s.closeStacks()
			return nil, err
		}
	}
	return s, nil
}

// isZero reports whether h is the zero Host.
func isZero(h Host) bool {
	return h.Name == "" && len(h.Addresses) == 0 && h.TCP == (stack.TCPOptions{}) && h.Start == nil
}

// splitmix derives independent seeds from one (SplitMix64).
func splitmix(seed, i uint64) uint64 {
	z := seed + (i+1)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// A returns the gen_tcp node of the first host (A).
func (s *Sim) A() *gentcp.Node { return s.hosts[0].node }

// B returns the gen_tcp node of the second host (B).
func (s *Sim) B() *gentcp.Node { return s.hosts[1].node }

// Stacks returns the stacks of A and B.
func (s *Sim) Stacks() (a, b *stack.Stack) { return s.hosts[0].stack, s.hosts[1].stack }

// Link returns the ports of A and B, for their counters (what each
// sent); Network has every pair's.
func (s *Sim) Link() (a, b *memlink.End) { return s.hosts[0].port, s.hosts[1].port }

// Network returns the network, for its counters (Network.Counters per
// pair of port names: the hosts' names, or "a" and "b" with Options.A
// and B).
func (s *Sim) Network() *memlink.Network { return s.net }

// Clock returns the virtual clock every stack, timeout and capture reads.
func (s *Sim) Clock() *Clock { return s.clock }

// Now returns the virtual time since the start.
func (s *Sim) Now() time.Duration { return s.clock.Elapsed() }

// Seed returns the simulation's seed.
func (s *Sim) Seed() uint64 { return s.opts.Seed }

// ProcessError is a process that returned an error or panicked.
type ProcessError struct {
	Process string        // node and pid, e.g. "b <0.3.0>"
	At      time.Duration // virtual time of the failure
	Err     error         // what the process returned, or its panic as an error
	// Stack is the stack trace of a panic (not part of Error, which is
	// the same in every run of a seed).
	Stack []byte
}

// Error names the process, the virtual time and the error; it is the same
// in every run of a seed.
func (e *ProcessError) Error() string {
	return fmt.Sprintf("process %s failed at %v: %v", e.Process, e.At, e.Err)
}

// Unwrap returns Err, so that errors.Is and errors.As see the process's
// own error.
func (e *ProcessError) Unwrap() error { return e.Err }

// Fail records err as a failure of the run, as if a process had returned
// it: Run returns it. Use it from code shared with real-time runs, which
// reports failures through a callback.
func (s *Sim) Fail(err error) {
	if s.phase == phaseRunning {
		host := ""
		if t := s.sched.running(); t != nil {
			host = s.hosts[t.host].name
		}
		s.journal.event(Event{Kind: EventFail, Host: host, Text: err.Error()})
	}
	s.fail(fmt.Errorf("failure at %v: %w", s.Now(), err))
}

func (s *Sim) fail(err error) {
	if s.phase == phaseRunning {
		s.failures = append(s.failures, err)
	}
}

func (s *Sim) taskPanicked(t *task, v any, site string, stack []byte) {
	// A panic is a failure even during teardown.
	pe := &ProcessError{Process: t.name, At: s.Now(), Err: fmt.Errorf("panic at %s: %v", site, v), Stack: stack}
	s.failures = append(s.failures, pe)
	s.journal.event(Event{Kind: EventError, Host: s.hosts[t.host].name, Text: pe.Process + ": " + pe.Err.Error()})
}

// At runs f at virtual time t (since the start; a time already past means
// as soon as possible), on the scheduler's goroutine between two steps. f
// may change the network (Partition, Hold, SetLoss, ...), crash and
// restart hosts, start processes and make gentcp calls that do not
// block; a call that would block fails with ErrNotScheduled.
func (s *Sim) At(t time.Duration, f func()) {
	s.clock.AfterFunc(t-s.clock.Elapsed(), func() {
		defer func() {
			if v := recover(); v != nil {
				pe := &ProcessError{Process: fmt.Sprintf("event at %v", t), At: s.Now(),
					Err: fmt.Errorf("panic at %s: %v", panicSite(), v), Stack: debug.Stack()}
				s.failures = append(s.failures, pe)
				s.journal.event(Event{Kind: EventError, Text: pe.Process + ": " + pe.Err.Error()})
			}
		}()
		f()
	})
}

// Result is what a run did.
type Result struct {
	// Seed is Options.Seed.
	Seed uint64
	// Hash is the hex SHA-256 of every frame delivered, in order: its
	// virtual time, its direction and its bytes. Two runs with the same
	// hash put the same packets on the wire at the same times.
	Hash string
	// Hosts are the names of the hosts, in order.
	Hosts []string
	// Frames are the frames delivered, in order.
	Frames []Frame
	// Undelivered are the frames sent that never arrived, in the order
	// they were lost (Frame.At): dropped, cut, unroutable, lost with
	// their sender's crash, in flight at the end. Not in Hash.
	Undelivered []Frame
	// Events are the network events, crashes, restarts, process ends and
	// failures, failed gentcp calls and notes of the run, in order. Not
	// in Hash.
	Events []Event
	// Elapsed is the virtual time at the end of the run; Wall is the
	// wall time the run took.
	Elapsed, Wall time.Duration
	// Steps is how many things the scheduler ran: process turns, frame
	// deliveries and timers.
	Steps int
}

// Run runs the simulation until every process has returned, then closes
// the stacks. It returns an error if a process failed (ProcessError), on
// ErrDeadlock, ErrTimeLimit or ErrStall, and if goroutines were left
// (ErrLeak); the Result is valid in every case but ErrStall. Run may be
// called once.
func (s *Sim) Run() (*Result, error) {
	if s.phase != phaseSetup {
		return nil, errors.New("sim: Run called twice")
	}
	s.phase = phaseRunning
	s.wallStart = time.Now()
	var errs []error
	if err := s.loop(); err != nil {
		if errors.Is(err, ErrStall) {
			// The stuck goroutine may hold anything: let every task run
			// unscheduled, its waits failing, and close the stacks, so
			// that what can end does.
			s.phase = phaseDone
			s.sched.abandon()
			s.closeStacks()
			return nil, fmt.Errorf("sim seed %d: %w", s.opts.Seed, err)
		}
		errs = append(errs, err)
	}
	res := s.result()
	errs = append(append([]error(nil), s.failures...), errs...)
	s.mu.Lock()
	if s.misused > 0 {
		errs = append(errs, fmt.Errorf("%w (%d calls)", ErrNotScheduled, s.misused))
	}
	s.mu.Unlock()
	if err := s.teardown(); err != nil {
		errs = append(errs, err)
	}
	res.Wall = time.Since(s.wallStart)
	if len(errs) > 0 {
		return res, fmt.Errorf("sim seed %d: %w", s.opts.Seed, errors.Join(errs...))
	}
	return res, nil
}

// loop is the scheduler: each step runs one thing. A step that delivered
// a frame or fired a timer is followed by a barrier that lets netstack
// finish what the step gave it. A process's turn needs none: the calls a
// process makes run netstack in its own goroutine and give the TCP
// processors nothing to do (they are woken only by an inbound segment,
// queued by a delivery, or by a timer or UnlockUser finding segments
// queued, which the barrier after each delivery rules out:
// tcp/dispatcher.go queuePacket, connect.go timerHandler, endpoint.go
// UnlockUser). Skipping those barriers saves a fifth of the run time.
func (s *Sim) loop() error {
	for {
		s.barrier()
		if t, idx := s.sched.pick(); t != nil {
			s.steps++
			if err := s.sched.run(t, idx); err != nil {
				return err
			}
			continue
		}
		if s.sched.awaited() == 0 {
			return nil
		}
		if f, ok := s.net.DeliverNext(); ok {
			s.steps++
			to := s.byPort[f.To]
			s.touch(to)
			s.record(s.byPort[f.From], to, f)
			continue
		}
		if h, ok := s.clock.fireDue(); ok {
			s.steps++
			if h >= 0 {
				s.touch(s.hosts[h])
			}
			continue
		}
		next, ok := s.clock.Next()
		if !ok {
			held := ""
			if n := s.net.Waiting(); n > 0 {
				held = fmt.Sprintf(" (%d frames held)", n)
			}
			return fmt.Errorf("%w at %v: nothing can wake %s%s", ErrDeadlock, s.Now(),
				strings.Join(s.sched.live(true), ", "), held)
		}
		if next > s.opts.Limit {
			return fmt.Errorf("%w (%v) with %s still running", ErrTimeLimit, s.opts.Limit,
				strings.Join(s.sched.live(true), ", "))
		}
		s.clock.AdvanceTo(next)
	}
}

// touch marks h's stack as given work by this step: a frame delivered to
// it, or a timer it armed (its TCP timers hand work to its processors).
func (s *Sim) touch(h *host) {
	if !h.dirty {
		h.dirty = true
		s.dirty = append(s.dirty, h)
	}
}

// barrier returns once the TCP processors of every stack the last step
// touched have handled every segment queued to them and parked: netstack
// is quiescent, so what runs next does not race it. Stack.Pause waits for
// exactly that (tcp/dispatcher.go: a processor pauses only with an empty
// queue). A stack no step touched has nothing queued, so the barrier
// costs what the step touched, not the number of hosts.
func (s *Sim) barrier() {
	for _, h := range s.dirty {
		h.dirty = false
		if h.up {
			ns := h.stack.Netstack()
			ns.Pause()
			ns.Resume()
		}
	}
	clear(s.dirty)
	s.dirty = s.dirty[:0]
}

// settleAll makes every running stack quiescent, whatever touched it.
func (s *Sim) settleAll() {
	for _, h := range s.hosts {
		s.touch(h)
	}
	s.barrier()
}

// closeStacks closes every running stack, then the network.
func (s *Sim) closeStacks() {
	for _, h := range s.hosts {
		if h.up {
			h.up = false
			h.stack.Close()
		}
	}
	s.net.Close()
}

func (s *Sim) result() *Result {
	undelivered, events := s.journal.close(s.Now())
	return &Result{
		Seed:        s.opts.Seed,
		Hash:        hex.EncodeToString(s.trace.Sum(nil)),
		Hosts:       s.Hosts(),
		Frames:      s.frames,
		Undelivered: undelivered,
		Events:      events,
		Elapsed:     s.Now(),
		Wall:        time.Since(s.wallStart),
		Steps:       s.steps,
	}
}

// teardown ends every process and goroutine: processes that never ran are
// dropped, the others exit (their sockets close, which wakes what waits
// on them), then the stacks close (which wakes the rest).
func (s *Sim) teardown() error {
	s.phase = phaseTearingDown
	s.sched.abortUnstarted()
	for _, p := range s.sched.processes(-1) {
		p.Exit()
	}
	if err := s.settle(false); err != nil {
		return err
	}
	s.closeStacks()
	// With the stacks gone, only gentcp timeouts are left to fire.
	if err := s.settle(true); err != nil {
		return err
	}
	s.phase = phaseDone
	if left := s.sched.live(false); len(left) > 0 {
		return fmt.Errorf("%w: %s", ErrLeak, strings.Join(left, ", "))
	}
	return nil
}

// settle runs tasks until none is runnable; with timers, it also fires
// timers until none is left or the time limit passes.
func (s *Sim) settle(timers bool) error {
	s.settleAll()
	for {
		s.barrier()
		if t, idx := s.sched.pick(); t != nil {
			if err := s.sched.run(t, idx); err != nil {
				return err
			}
			continue
		}
		if !timers || s.sched.count() == 0 {
			return nil
		}
		if h, ok := s.clock.fireDue(); ok {
			if h >= 0 {
				s.touch(s.hosts[h])
			}
			continue
		}
		next, ok := s.clock.Next()
		if !ok || next > s.opts.Limit {
			return nil
		}
		s.clock.AdvanceTo(next)
	}
}

// Close releases a simulation whose Run was never called (Run cleans up
// after itself). It is idempotent.
func (s *Sim) Close() {
	if s.phase == phaseSetup {
		_ = s.teardown()
	}
}

// Run builds a simulation from opts, lets setup start its processes and
// events, runs it and cleans up: New, setup, Sim.Run.
func Run(opts Options, setup func(s *Sim)) (*Result, error) {
	s, err := New(opts)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	setup(s)
	return s.Run()
}
