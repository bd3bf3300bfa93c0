package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fullScan is the pick the index replaces: it polls every task in
// creation order. TestPick_MatchesFullScan compares the two.
func fullScan(s *scheduler) (*task, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tasks {
		if !t.started {
			return t, -1
		}
		if i := poll(t.waits); i >= 0 {
			s.unpark(t)
			return t, i
		}
	}
	return nil, 0
}

// randomWorld is a program of tasks that wait on, and make ready, a few
// kinds of channel, as gentcp's goroutines do: signals closed and renewed
// (a socket's changed), buffered channels sent to (a waiter entry), both
// reported to Woke, and channels closed without a report (a context's
// Done), waited on with WaitTracked or plain Wait. Its choices come from
// the seed and the indexes its waits return, so two runs of it agree as
// long as their schedulers pick alike.
type randomWorld struct {
	n       nodeScheduler
	signals []chan struct{}
	entries []chan struct{}
	foreign []chan struct{}
	closed  []bool
	spawned int
	trace   []string
	wg      sync.WaitGroup
}

func runRandomWorld(t *testing.T, seed uint64, pick func(*scheduler) (*task, int)) []string {
	s := newScheduler(time.Minute)
	s.verify = false
	s.onPanic = func(tk *task, v any, site string, stack []byte) { t.Errorf("%s panicked: %v\n%s", tk.name, v, stack) }
	s.onMisuse = func() { t.Error("misused") }
	w := &randomWorld{n: nodeScheduler{s: s, node: "n"}}
	for range 4 {
		w.signals = append(w.signals, make(chan struct{}))
		w.entries = append(w.entries, make(chan struct{}, 1))
		w.foreign = append(w.foreign, make(chan struct{}))
		w.closed = append(w.closed, false)
	}
	for range 6 {
		w.spawn(seed)
	}
	for {
		tk, idx := pick(s)
		if tk == nil {
			break
		}
		w.trace = append(w.trace, fmt.Sprintf("pick %s %d", tk.name, idx))
		if err := s.run(tk, idx); err != nil {
			t.Fatal(err)
		}
	}
	s.abandon()
	w.wg.Wait()
	return w.trace
}

func (w *randomWorld) spawn(seed uint64) {
	id := w.spawned
	w.spawned++
	w.wg.Add(1)
	w.n.Go(fmt.Sprint("task", id), nil, func() {
		defer w.wg.Done()
		w.body(id, rand.New(rand.NewPCG(seed, uint64(id))))
	})
}

func (w *randomWorld) body(id int, rng *rand.Rand) {
	for step := range 40 {
		switch a := rng.IntN(10); {
		case a < 4:
			var chs []<-chan struct{}
			var untracked <-chan struct{}
			for range 1 + rng.IntN(4) {
				j := rng.IntN(len(w.signals))
				switch rng.IntN(7) {
				case 0, 1, 2:
					chs = append(chs, w.signals[j])
				case 3, 4:
					chs = append(chs, w.entries[j])
				case 5:
					if untracked == nil {
						untracked = w.foreign[j]
						chs = append(chs, untracked)
					}
				case 6:
					chs = append(chs, nil)
				}
			}
			var i int
			var err error
			if rng.IntN(8) == 0 {
				i, err = w.n.Wait(chs...) // every channel untracked
			} else {
				i, err = w.n.WaitTracked(untracked, chs...)
			}
			if err != nil {
				return
			}
			w.trace = append(w.trace, fmt.Sprintf("task%d step %d woke by %d of %d", id, step, i, len(chs)))
		case a < 7:
			j := rng.IntN(len(w.signals))
			close(w.signals[j])
			w.n.Woke(w.signals[j])
			w.signals[j] = make(chan struct{})
		case a < 9:
			j := rng.IntN(len(w.entries))
			select {
			case w.entries[j] <- struct{}{}:
			default:
			}
			w.n.Woke(w.entries[j])
		default:
			if j := rng.IntN(len(w.foreign)); !w.closed[j] && rng.IntN(2) == 0 {
				w.closed[j] = true
				close(w.foreign[j]) // no Woke: untracked
			} else if w.spawned < 40 {
				w.spawn(rng.Uint64())
			}
		}
	}
}

// TestPick_MatchesFullScan runs random programs of tasks twice, once
// picking through the index of woken tasks and once polling every task,
// and wants the same schedule: a wake-up the index misses changes it.
func TestPick_MatchesFullScan(t *testing.T) {
	steps := 0
	for seed := range uint64(200) {
		want := runRandomWorld(t, seed, fullScan)
		got := runRandomWorld(t, seed, (*scheduler).pick)
		if !slices.Equal(got, want) {
			i := 0
			for i < len(got) && i < len(want) && got[i] == want[i] {
				i++
			}
			t.Fatalf("seed %d: schedules differ at step %d:\nindex:     %s\nfull scan: %s", seed, i,
				strings.Join(got[i:min(i+3, len(got))], "; "), strings.Join(want[i:min(i+3, len(want))], "; "))
		}
		steps += len(want)
	}
	t.Logf("%d steps compared", steps)
}

// TestPick_VerifyReportsMissedWakeup shows that the check the package's
// tests run with (scheduler.verify) catches a channel made ready without
// Woke: a task parked on it is runnable but not in ready.
func TestPick_VerifyReportsMissedWakeup(t *testing.T) {
	s := newScheduler(time.Minute)
	s.verify = true
	var missed []string
	s.onMissed = func(tk *task) { missed = append(missed, tk.name) }
	n := nodeScheduler{s: s, node: "n"}
	ch := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	n.Go("waiter", nil, func() {
		defer wg.Done()
		_, _ = n.WaitTracked(nil, ch)
	})
	n.Go("closer", nil, func() {
		defer wg.Done()
		close(ch) // without n.Woke(ch)
	})
	for {
		tk, idx := s.pick()
		if tk == nil {
			break
		}
		if err := s.run(tk, idx); err != nil {
			t.Fatal(err)
		}
	}
	s.abandon()
	wg.Wait()
	if !slices.Equal(missed, []string{"n waiter"}) {
		t.Fatalf("missed = %q, want the waiter", missed)
	}
}
