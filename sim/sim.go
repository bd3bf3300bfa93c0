package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/delay"
	"github.com/usertcp/usertcp/link/fault"
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

// Options describes a simulation: two stacks, A and B, joined by one
// memlink. The zero value is stacks "a" (10.0.0.1/24) and "b"
// (10.0.0.2/24) on a clean link with MinLatency, seed 0.
type Options struct {
	// Seed determines every random choice: the link's faults and delays,
	// and each stack's ports, sequence numbers and hash seeds.
	Seed uint64

	// A and B describe the stacks.
	A, B Host

	// Link is the link between them, with its impairments. The
	// simulation sets Seed (from Options.Seed), Clock and LockStep, and
	// raises Latency to at least MinLatency; Pcap, if set, captures on
	// the virtual clock (timestamps from Epoch).
	Link memlink.Options

	// Limit is the virtual time after which Run stops with ErrTimeLimit;
	// zero means DefaultLimit.
	Limit time.Duration

	// StallTimeout is how much wall time a process may run without
	// blocking in gentcp before Run fails with ErrStall; zero means
	// DefaultStallTimeout.
	StallTimeout time.Duration
}

// Dir names directions of the link.
type Dir int

// The directions: the frames A sends to B, those B sends to A, or both.
const (
	AtoB Dir = 1 << iota
	BtoA
	Both = AtoB | BtoA
)

// String returns "a→b", "b→a" or "both".
func (d Dir) String() string {
	switch d {
	case AtoB:
		return "a→b"
	case BtoA:
		return "b→a"
	case Both:
		return "both"
	}
	return fmt.Sprintf("Dir(%d)", int(d))
}

// Sim is one simulation run: two stacks, the link between them, one
// virtual clock and a scheduler that runs one thing at a time — a process
// until it blocks in a gentcp call, one frame delivery, or one timer. When
// nothing can run, the clock jumps to the next timer.
//
// Build it with New, start processes with Go (or Node.Spawn on A or B),
// schedule network events with At, then call Run once. Methods other than
// Run may be called from processes and events; none is safe to call from
// another goroutine while Run runs.
type Sim struct {
	opts  Options
	clock *Clock
	ends  [2]*memlink.End
	hosts []*host
	sched *scheduler

	// The impairments in force per direction, for SetLoss and SetLatency.
	faults [2]fault.Config
	delays [2]delay.Config

	mu      sync.Mutex
	misused int // calls that failed with ErrNotScheduled; guarded by mu
	phase   phase
	// dirty lists the hosts a step may have given netstack work: the
	// barrier before the next step settles them, and only them.
	dirty     []*host
	failures  []error
	trace     hash.Hash
	frames    []Frame
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

// New builds the stacks and the link. Nothing runs until Run.
func New(opts Options) (*Sim, error) {
	s := &Sim{opts: opts, clock: NewClock(), trace: sha256.New()}
	if s.opts.Limit <= 0 {
		s.opts.Limit = DefaultLimit
	}
	if s.opts.StallTimeout <= 0 {
		s.opts.StallTimeout = DefaultStallTimeout
	}
	s.sched = newScheduler(s.opts.StallTimeout)
	s.sched.onPanic = s.taskPanicked
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
	a, b, err := memlink.New(lo)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	s.ends = [2]*memlink.End{a, b}
	for i := range s.faults {
		s.faults[i] = fault.Config{Loss: lo.Loss, Duplicate: lo.Duplicate, Corrupt: lo.Corrupt}
		s.delays[i] = delay.Config{Latency: lo.Latency, Jitter: lo.Jitter, JitterReorders: lo.JitterReorders, Reorder: lo.Reorder, Rate: lo.Rate}
	}
	specs := []Host{opts.A, opts.B}
	defaults := []struct{ name, addr string }{{"a", "10.0.0.1/24"}, {"b", "10.0.0.2/24"}}
	table := map[string][]netip.Addr{}
	for i := range specs {
		if specs[i].Name == "" {
			specs[i].Name = defaults[i].name
		}
		if len(specs[i].Addresses) == 0 {
			specs[i].Addresses = []netip.Prefix{netip.MustParsePrefix(defaults[i].addr)}
		}
		for _, p := range specs[i].Addresses {
			table[specs[i].Name] = append(table[specs[i].Name], p.Addr())
		}
	}
	if specs[0].Name == specs[1].Name {
		a.Close()
		b.Close()
		return nil, fmt.Errorf("sim: both stacks are named %q", specs[0].Name)
	}
	for i, sp := range specs {
		h := &host{index: i, name: sp.Name, spec: sp, link: s.ends[i]}
		s.hosts = append(s.hosts, h)
		if err := s.boot(h, table); err != nil {
			for _, h := range s.hosts[:i] {
				h.stack.Close()
			}
			a.Close()
			b.Close()
			return nil, err
		}
	}
	return s, nil
}

// splitmix derives independent seeds from one (SplitMix64).
func splitmix(seed, i uint64) uint64 {
	z := seed + (i+1)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// A returns the gen_tcp node of stack A.
func (s *Sim) A() *gentcp.Node { return s.hosts[0].node }

// B returns the gen_tcp node of stack B.
func (s *Sim) B() *gentcp.Node { return s.hosts[1].node }

// Stacks returns stacks A and B.
func (s *Sim) Stacks() (a, b *stack.Stack) { return s.hosts[0].stack, s.hosts[1].stack }

// Link returns the two ends of the link, for their counters.
func (s *Sim) Link() (a, b *memlink.End) { return s.ends[0], s.ends[1] }

// Clock returns the virtual clock every stack, timeout and capture reads.
func (s *Sim) Clock() *Clock { return s.clock }

// Now returns the virtual time since the start.
func (s *Sim) Now() time.Duration { return s.clock.Elapsed() }

// Seed returns the simulation's seed.
func (s *Sim) Seed() uint64 { return s.opts.Seed }

// Go starts f as a new process on node n, as n.Spawn does, and records
// a non-nil error it returns as a failure of the run. Run waits for it
// to return.
func (s *Sim) Go(n *gentcp.Node, f func(p *gentcp.Process) error) *gentcp.Process {
	return s.spawn(n, awaitedMode, f)
}

// Daemon starts f as a new process on node n, as Go does, but the run
// does not wait for it: a server that accepts forever. Run ends when
// every process started with Go has returned, and then stops the
// daemons (they exit: their sockets close). The processes a daemon
// spawns with Node.Spawn are daemons too (a server's handlers), and so
// are those a host's start function spawns; Node.Spawn from anywhere
// else starts a process the run waits for, as Go does. An error a daemon
// returns while the run goes on is a failure of the run.
func (s *Sim) Daemon(n *gentcp.Node, f func(p *gentcp.Process) error) *gentcp.Process {
	return s.spawn(n, daemonMode, f)
}

func (s *Sim) spawn(n *gentcp.Node, mode spawnMode, f func(p *gentcp.Process) error) *gentcp.Process {
	h := s.hostOf(n)
	prev := s.sched.setMode(mode)
	defer s.sched.setMode(prev)
	return n.Spawn(func(p *gentcp.Process) {
		if err := f(p); err != nil {
			s.fail(&ProcessError{Process: h.name + " " + p.String(), At: s.Now(), Err: err})
		}
	})
}

// hostOf returns the host whose node n is.
func (s *Sim) hostOf(n *gentcp.Node) *host {
	for _, h := range s.hosts {
		if h.node == n {
			return h
		}
	}
	panic("sim: the node is not one of this simulation's")
}

// ProcessError is a process that returned an error or panicked.
type ProcessError struct {
	Process string        // node and pid, e.g. "b <0.3.0>"
	At      time.Duration // virtual time of the failure
	Err     error
	// Stack is the stack trace of a panic (not part of Error, which is
	// the same in every run of a seed).
	Stack []byte
}

func (e *ProcessError) Error() string {
	return fmt.Sprintf("process %s failed at %v: %v", e.Process, e.At, e.Err)
}

func (e *ProcessError) Unwrap() error { return e.Err }

// Fail records err as a failure of the run, as if a process had returned
// it: Run returns it. Use it from code shared with real-time runs, which
// reports failures through a callback.
func (s *Sim) Fail(err error) {
	s.fail(fmt.Errorf("failure at %v: %w", s.Now(), err))
}

func (s *Sim) fail(err error) {
	if s.phase == phaseRunning {
		s.failures = append(s.failures, err)
	}
}

func (s *Sim) taskPanicked(t *task, v any, site string, stack []byte) {
	// A panic is a failure even during teardown.
	s.failures = append(s.failures, &ProcessError{Process: t.name, At: s.Now(),
		Err: fmt.Errorf("panic at %s: %v", site, v), Stack: stack})
}

// At runs f at virtual time t (since the start; a time already past means
// as soon as possible), on the scheduler's goroutine between two steps. f
// may change the network (Partition, Hold, SetLoss, ...), start
// processes and make gentcp calls that do not block; a call that would
// block fails with ErrNotScheduled.
func (s *Sim) At(t time.Duration, f func()) {
	s.clock.AfterFunc(t-s.clock.Elapsed(), func() {
		defer func() {
			if v := recover(); v != nil {
				s.failures = append(s.failures, &ProcessError{Process: fmt.Sprintf("event at %v", t), At: s.Now(),
					Err: fmt.Errorf("panic at %s: %v", panicSite(), v), Stack: debug.Stack()})
			}
		}()
		f()
	})
}

// dirEnds returns the indexes of the ends whose direction d covers: an
// end impairs the frames it sends.
func (s *Sim) dirEnds(d Dir) []int {
	var out []int
	if d&AtoB != 0 {
		out = append(out, 0)
	}
	if d&BtoA != 0 {
		out = append(out, 1)
	}
	return out
}

// Partition drops every frame sent in direction d until Heal.
func (s *Sim) Partition(d Dir) {
	for _, i := range s.dirEnds(d) {
		s.ends[i].Partition()
	}
}

// Heal ends a Partition of direction d.
func (s *Sim) Heal(d Dir) {
	for _, i := range s.dirEnds(d) {
		s.ends[i].Heal()
	}
}

// Hold keeps the frames of direction d on the wire, in order, until
// Release: a stalled direction that loses nothing.
func (s *Sim) Hold(d Dir) {
	for _, i := range s.dirEnds(d) {
		s.ends[i].Hold()
	}
}

// Release delivers the frames Hold kept, in order, and lets later ones
// through.
func (s *Sim) Release(d Dir) {
	for _, i := range s.dirEnds(d) {
		s.ends[i].Release()
	}
}

// SetLoss sets the loss probability of direction d.
func (s *Sim) SetLoss(d Dir, p float64) error {
	for _, i := range s.dirEnds(d) {
		c := s.faults[i]
		c.Loss = p
		if err := s.SetFaults(dirOf(i), c); err != nil {
			return err
		}
	}
	return nil
}

// SetLatency sets the one-way latency of direction d (at least
// MinLatency); frames already on their way keep theirs.
func (s *Sim) SetLatency(d Dir, latency time.Duration) error {
	for _, i := range s.dirEnds(d) {
		c := s.delays[i]
		c.Latency = latency
		if err := s.SetDelay(dirOf(i), c); err != nil {
			return err
		}
	}
	return nil
}

// SetFaults replaces loss, duplication and corruption of direction d.
func (s *Sim) SetFaults(d Dir, c fault.Config) error {
	for _, i := range s.dirEnds(d) {
		if err := s.ends[i].SetFaults(c); err != nil {
			return err
		}
		s.faults[i] = c
	}
	return nil
}

// SetDelay replaces latency (at least MinLatency), jitter, reordering and
// rate of direction d.
func (s *Sim) SetDelay(d Dir, c delay.Config) error {
	c.Latency = max(c.Latency, MinLatency)
	for _, i := range s.dirEnds(d) {
		if err := s.ends[i].SetDelay(c); err != nil {
			return err
		}
		s.delays[i] = c
	}
	return nil
}

func dirOf(end int) Dir {
	if end == 0 {
		return AtoB
	}
	return BtoA
}

// Result is what a run did.
type Result struct {
	// Seed is Options.Seed.
	Seed uint64
	// Hash is the hex SHA-256 of every frame delivered, in order: its
	// virtual time, its direction and its bytes. Two runs with the same
	// hash put the same packets on the wire at the same times.
	Hash string
	// Frames are the frames delivered, in order.
	Frames []Frame
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
		if f, ok := s.ends[0].DeliverNext(); ok {
			s.steps++
			from, to := s.hosts[0], s.hosts[1]
			if f.From == "b" {
				from, to = to, from
			}
			s.touch(to)
			s.record(from, to, f.Bytes)
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
			if n := s.ends[0].Waiting(); n > 0 {
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

// closeStacks closes every running stack.
func (s *Sim) closeStacks() {
	for _, h := range s.hosts {
		if h.up {
			h.up = false
			h.stack.Close()
		}
	}
}

func (s *Sim) result() *Result {
	return &Result{
		Seed:    s.opts.Seed,
		Hash:    hex.EncodeToString(s.trace.Sum(nil)),
		Frames:  s.frames,
		Elapsed: s.Now(),
		Wall:    time.Since(s.wallStart),
		Steps:   s.steps,
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
		if !timers || len(s.sched.live(false)) == 0 {
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
