package sim

import (
	"bytes"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usertcp/usertcp/gentcp"
)

// task is one goroutine under the scheduler: a process (Spawn) or one of
// gentcp's internal goroutines (an active socket's reader, a send queue's
// drain).
type task struct {
	name string
	proc *gentcp.Process // nil for internal goroutines
	host int             // index of the host whose node started it
	// daemon: a process the run does not wait for (Sim.Daemon, a host's
	// start function, or spawned by a daemon).
	daemon bool
	resume chan int      // driver → task: run; the index of the channel that woke it
	goid   atomic.Uint64 // set by the task when it first runs

	// Owned by the driver while the task is parked, by the task while it
	// runs; the hand-over through resume and yield orders the accesses.
	started bool
	waits   []<-chan struct{}

	// Guarded by scheduler.mu.
	seq       uint64 // creation order
	queued    bool   // in scheduler.ready
	parked    bool   // in scheduler.waiting under each of waits
	untracked bool   // waits includes a channel no Woke reports
	finished  bool
}

// verifyPicks turns scheduler.verify on for the simulations made from now
// on (the package's tests do).
var verifyPicks bool

// abortTask, sent to a task that never ran, ends it without running it.
const abortTask = -2

// scheduler runs tasks one at a time: the driver (Sim.Run) picks a
// runnable task, hands it the turn and waits until it parks in Wait or
// returns. A parked task is runnable when one of the channels it waits on
// is ready; the driver finds out by polling them, in task creation order,
// so the choice never depends on the Go scheduler.
//
// It polls only the tasks that may be runnable (ready): the ones not yet
// started, the ones that parked since the last pick, the ones whose
// channels gentcp reported ready since (Woke, through the index waiting)
// and the ones waiting on a channel gentcp cannot report (untracked, a
// context's). Any other parked task was polled not ready and nothing
// made its channels ready since, so the first runnable task of ready in
// creation order is the first of all tasks: the choice a poll of every
// task would make, at a cost of O(woken tasks) a step.
type scheduler struct {
	mu      sync.Mutex
	tasks   []*task // live tasks in creation order
	current *task   // the task that has the turn, nil while the driver has it
	nextSeq uint64
	nAwait  int // live tasks that are processes the run waits for

	ready     taskHeap                    // tasks that may be runnable, by creation order
	waiting   map[<-chan struct{}][]*task // parked tasks by the channels they wait on
	untracked []*task                     // parked tasks with an untracked channel

	// verify makes pick check that no task before the one it picks is
	// runnable (every task is polled, as without the index): the tests
	// run with it. onMissed records a task it finds.
	verify   bool
	onMissed func(t *task)

	yield chan struct{} // task → driver: parked or finished
	// abandoned is closed when the driver gives up (a stall): tasks then
	// run unscheduled, their waits fail, so that they can end.
	abandoned chan struct{}
	stall     time.Duration
	timer     *time.Timer

	// onPanic records a task's panic; it runs on the task's goroutine
	// while the driver waits.
	onPanic func(t *task, v any, site string, stack []byte)
	// onMisuse records a Wait from a goroutine that is not the running
	// task.
	onMisuse func()

	// mode says what the processes spawned now are: Sim.Go, Sim.Daemon
	// and a host's start function set it around their Spawn.
	mode spawnMode
}

// spawnMode says whether a new process is a daemon.
type spawnMode int

const (
	// inherit: a daemon if the running task is one (a server's handlers
	// belong to the server), else awaited.
	inherit spawnMode = iota
	awaitedMode
	daemonMode
)

func newScheduler(stall time.Duration) *scheduler {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &scheduler{yield: make(chan struct{}), abandoned: make(chan struct{}), stall: stall, timer: t,
		waiting: map[<-chan struct{}][]*task{}, verify: verifyPicks}
}

// spawn registers f as a new task of host; it starts when the driver
// picks it.
func (s *scheduler) spawn(host int, name string, p *gentcp.Process, f func()) {
	t := &task{name: name, proc: p, host: host, resume: make(chan int)}
	s.mu.Lock()
	switch s.mode {
	case inherit:
		t.daemon = p != nil && s.current != nil && s.current.daemon
	case daemonMode:
		t.daemon = p != nil
	}
	if p != nil && !t.daemon {
		s.nAwait++
	}
	t.seq = s.nextSeq
	s.nextSeq++
	s.tasks = append(s.tasks, t)
	s.queue(t)
	s.mu.Unlock()
	go s.body(t, f)
}

func (s *scheduler) body(t *task, f func()) {
	select {
	case i := <-t.resume:
		if i == abortTask {
			s.finish(t)
			return
		}
	case <-s.abandoned:
		s.finish(t)
		return
	}
	t.goid.Store(goid())
	defer func() {
		if v := recover(); v != nil {
			s.onPanic(t, v, panicSite(), debug.Stack())
		}
		s.finish(t)
	}()
	f()
}

// finish removes a task that returned and gives the turn back.
func (s *scheduler) finish(t *task) {
	s.mu.Lock()
	for i, u := range s.tasks {
		if u == t {
			s.tasks = append(s.tasks[:i], s.tasks[i+1:]...)
			break
		}
	}
	s.unpark(t) // parked if it ran unscheduled after abandon
	t.finished = true
	if t.proc != nil && !t.daemon {
		s.nAwait--
	}
	s.current = nil
	s.mu.Unlock()
	select {
	case s.yield <- struct{}{}:
	case <-s.abandoned:
	}
}

// wait is gentcp.Scheduler.Wait for the running task. A goroutine that
// is not the running task (the driver in an At event, a goroutine started
// with go) cannot wait: the driver would wait for itself, and a foreign
// goroutine would run beside the task. Its call fails with
// ErrNotScheduled, which is also recorded as a failure of the run.
// tracked says that Woke reports every channel of chs but untracked.
func (s *scheduler) wait(chs []<-chan struct{}, tracked bool, untracked <-chan struct{}) (int, error) {
	if i := poll(chs); i >= 0 {
		return i, nil
	}
	s.mu.Lock()
	t := s.current
	s.mu.Unlock()
	if t == nil || t.goid.Load() != goid() {
		s.onMisuse()
		return 0, ErrNotScheduled
	}
	t.waits = chs
	s.mu.Lock()
	s.park(t, !tracked || untracked != nil)
	s.current = nil
	s.mu.Unlock()
	select {
	case s.yield <- struct{}{}:
	case <-s.abandoned:
		return 0, ErrStall
	}
	select {
	case i := <-t.resume:
		return i, nil
	case <-s.abandoned:
		return 0, ErrStall
	}
}

// poll returns the index of the first ready channel, having received from
// it, or -1.
func poll(chs []<-chan struct{}) int {
	for i, ch := range chs {
		if ch == nil {
			continue
		}
		select {
		case <-ch:
			return i
		default:
		}
	}
	return -1
}

// park indexes t, about to park on t.waits, and queues it: pick polls it
// once more, in case a channel became ready after wait polled it.
func (s *scheduler) park(t *task, untracked bool) {
	t.parked = true
	for _, ch := range t.waits {
		if ch != nil {
			s.waiting[ch] = append(s.waiting[ch], t)
		}
	}
	if untracked {
		t.untracked = true
		s.untracked = append(s.untracked, t)
	}
	s.queue(t)
}

// unpark undoes park for t, picked to run.
func (s *scheduler) unpark(t *task) {
	if !t.parked {
		return
	}
	t.parked = false
	for _, ch := range t.waits {
		if ch == nil {
			continue
		}
		ts := s.waiting[ch]
		for i, u := range ts {
			if u == t {
				ts = append(ts[:i], ts[i+1:]...)
				break
			}
		}
		if len(ts) == 0 {
			delete(s.waiting, ch)
		} else {
			s.waiting[ch] = ts
		}
	}
	if t.untracked {
		t.untracked = false
		for i, u := range s.untracked {
			if u == t {
				s.untracked = append(s.untracked[:i], s.untracked[i+1:]...)
				break
			}
		}
	}
}

// queue puts t in ready, once.
func (s *scheduler) queue(t *task) {
	if !t.queued {
		t.queued = true
		s.ready.push(t)
	}
}

// woke is gentcp.WakeTracker.Woke: the tasks parked on ch may be runnable.
func (s *scheduler) woke(ch <-chan struct{}) {
	s.mu.Lock()
	for _, t := range s.waiting[ch] {
		s.queue(t)
	}
	s.mu.Unlock()
}

// pick returns the first runnable task, in creation order, and the index
// of the channel that woke it (-1 for a task that has not started). It
// polls the tasks of ready, and those with an untracked channel.
func (s *scheduler) pick() (*task, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.untracked {
		s.queue(t)
	}
	t, idx := s.pickReady()
	if s.verify {
		s.verifyPick(t)
	}
	return t, idx
}

func (s *scheduler) pickReady() (*task, int) {
	for s.ready.len() > 0 {
		t := s.ready.pop()
		t.queued = false
		switch {
		case t.finished:
		case !t.started:
			return t, -1
		default:
			if i := poll(t.waits); i >= 0 {
				s.unpark(t)
				return t, i
			}
		}
	}
	return nil, 0
}

// verifyPick reports every task before picked (all if nil) in creation
// order that is runnable: a wake-up pick missed.
func (s *scheduler) verifyPick(picked *task) {
	for _, t := range s.tasks {
		if t == picked {
			return
		}
		if !t.started || poll(t.waits) >= 0 {
			s.onMissed(t)
		}
	}
}

// taskHeap is a binary min-heap of tasks by creation order.
type taskHeap []*task

func (h taskHeap) len() int { return len(h) }

func (h *taskHeap) push(t *task) {
	*h = append(*h, t)
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if a[p].seq <= a[i].seq {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *taskHeap) pop() *task {
	a := *h
	t := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a[n] = nil
	a = a[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && a[l].seq < a[m].seq {
			m = l
		}
		if r := l + 1; r < n && a[r].seq < a[m].seq {
			m = r
		}
		if m == i {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
	return t
}

// errStall is returned by run when a task keeps the turn too long.
type errStall struct {
	task  string
	wall  time.Duration
	stack string
}

func (e *errStall) Error() string {
	return fmt.Sprintf("%v: %s ran for %v of wall time without blocking in gentcp: it is probably "+
		"blocked outside gentcp (a channel, a mutex, time.Sleep, Mailbox) or loops forever\n%s",
		ErrStall, e.task, e.wall, e.stack)
}

func (e *errStall) Unwrap() error { return ErrStall }

// run gives t the turn and waits until it parks or returns.
func (s *scheduler) run(t *task, idx int) error {
	s.mu.Lock()
	s.current = t
	s.mu.Unlock()
	t.started = true
	t.waits = nil
	t.resume <- idx
	s.timer.Reset(s.stall)
	select {
	case <-s.yield:
		s.timer.Stop()
		return nil
	case <-s.timer.C:
		return &errStall{task: t.name, wall: s.stall, stack: stackOf(t.goid.Load())}
	}
}

// running returns the task that has the turn, nil while the driver has
// it.
func (s *scheduler) running() *task {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

// setMode sets what the processes spawned from now on are and returns
// the previous mode.
func (s *scheduler) setMode(m spawnMode) spawnMode {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.mode
	s.mode = m
	return prev
}

// abandon gives up on the tasks after a stall.
func (s *scheduler) abandon() { close(s.abandoned) }

// abortUnstarted ends the tasks that never ran, without running them.
func (s *scheduler) abortUnstarted() {
	for {
		s.mu.Lock()
		var t *task
		for _, u := range s.tasks {
			if !u.started {
				t = u
				break
			}
		}
		s.mu.Unlock()
		if t == nil {
			return
		}
		t.started = true
		t.resume <- abortTask
		<-s.yield
	}
}

// processes returns the processes of the live tasks of host (of every
// host if host < 0), in creation order.
func (s *scheduler) processes(host int) []*gentcp.Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ps []*gentcp.Process
	for _, t := range s.tasks {
		if t.proc != nil && (host < 0 || t.host == host) {
			ps = append(ps, t.proc)
		}
	}
	return ps
}

// awaited returns how many live tasks are processes the run waits for
// (not daemons).
func (s *scheduler) awaited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nAwait
}

// count returns how many tasks are live.
func (s *scheduler) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tasks)
}

// live returns the names of the live tasks; only processes if procs.
func (s *scheduler) live(procs bool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for _, t := range s.tasks {
		if !procs || t.proc != nil {
			names = append(names, t.name)
		}
	}
	return names
}

// nodeScheduler is the gentcp.Scheduler of one node: it tags its tasks
// with the host and names the host in task names. It is the node's
// gentcp.CallObserver too, which calls tells.
type nodeScheduler struct {
	s     *scheduler
	host  int
	node  string
	calls func(call string, err error)
}

func (n nodeScheduler) Go(name string, p *gentcp.Process, f func()) {
	n.s.spawn(n.host, n.node+" "+name, p, f)
}

func (n nodeScheduler) Wait(chs ...<-chan struct{}) (int, error) { return n.s.wait(chs, false, nil) }

func (n nodeScheduler) WaitTracked(untracked <-chan struct{}, chs ...<-chan struct{}) (int, error) {
	return n.s.wait(chs, true, untracked)
}

func (n nodeScheduler) Woke(ch <-chan struct{}) { n.s.woke(ch) }

func (n nodeScheduler) CallFailed(call string, err error) { n.calls(call, err) }

var (
	_ gentcp.Scheduler    = nodeScheduler{}
	_ gentcp.CallObserver = nodeScheduler{}
	_ gentcp.WakeTracker  = nodeScheduler{}
)

// goid returns the calling goroutine's ID, from the first line of its
// stack trace ("goroutine 123 [running]:"). Only Wait calls it, to catch
// gentcp calls made from goroutines the simulation does not run.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}

// stackOf returns the stack trace of goroutine id, or every goroutine's if
// it is not found.
func stackOf(id uint64) string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	prefix := []byte("goroutine " + strconv.FormatUint(id, 10) + " [")
	for g := range bytes.SplitSeq(buf, []byte("\n\n")) {
		if bytes.HasPrefix(g, prefix) {
			return string(g)
		}
	}
	return string(buf)
}

// panicSite returns "file:line" of the function that panicked, for a
// deferred function that recovered: the first frame below the runtime's
// panic machinery. Unlike a stack trace it is the same in every run.
func panicSite() string {
	var pcs [32]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs[:])])
	inPanic := false
	for {
		f, more := frames.Next()
		if f.Function == "runtime.gopanic" {
			inPanic = true
		} else if inPanic && !strings.HasPrefix(f.Function, "runtime.") {
			return filepath.Base(f.File) + ":" + strconv.Itoa(f.Line)
		}
		if !more {
			return "?"
		}
	}
}
