// Package sim runs gentcp programs in a deterministic simulation: any
// number of hosts (Options.Hosts; two, A and B, by default), each a real
// netstack stack, on one in-memory memlink network, one virtual clock,
// and a scheduler that runs one thing at a time. The same seed gives the same packets, the
// same results and the same timing on every run, at any GOMAXPROCS, and
// hours of virtual time pass in milliseconds.
//
//	res, err := sim.Run(sim.Options{Seed: 42, Link: memlink.Options{Loss: 0.05}}, func(s *sim.Sim) {
//		s.At(10*time.Second, func() { s.Partition(sim.Both) })
//		s.At(70*time.Second, func() { s.Heal(sim.Both) })
//		s.Go(s.A(), server) // func(p *gentcp.Process) error
//		s.Go(s.B(), client)
//	})
//	// res.Hash: SHA-256 over every frame delivered (time, direction, bytes)
//
// Processes are ordinary gentcp code: blocking calls with timeouts,
// several processes, mailboxes. Code written against *gentcp.Node and
// *gentcp.Process runs unchanged on real stacks; Node.Spawn works in both
// worlds. Inside the simulation:
//
//   - Every timeout, deadline and TCP timer runs on one Clock; pcap
//     timestamps read it too (Epoch plus the virtual time).
//   - Each stack's SecureRNG (ports, initial sequence numbers, hash seeds)
//     and RandSource are seeded from Options.Seed, and so are the link's
//     faults and delays.
//   - The link is a memlink in lock-step mode: frames wait on one queue in
//     the order they reached the wire and are delivered by the scheduler,
//     one per step. Its latency is at least MinLatency.
//   - The scheduler's step is one of: a process (or gentcp's reader or
//     drain goroutine) running until it blocks in a gentcp call or
//     Process.Sleep; one frame delivery; one timer. Runnable goroutines go
//     first, in creation order, then frames, then timers; when nothing can
//     run, the clock jumps to the next timer. After a delivery or a timer,
//     Stack.Pause and Resume act as a barrier: they return once netstack's
//     TCP processors have handled what the step gave them.
//   - Run ends when every process started with Go (and every one such a
//     process spawned) has returned; then daemons and the other
//     processes exit, stacks close and every goroutine ends.
//
// At schedules events at virtual times (Partition and Heal of any
// selection of directions: groups with Across, one-way cuts with Path;
// Hold and Release; SetLoss, SetLatency, SetFaults, SetDelay per pair;
// Crash and Restart of a host); they run between steps. Package
// examples/kv is a complete example: a primary/backup store whose naive
// version loses acknowledged writes under a partition for some seeds
// (kv.LosingSeed), and whose safe version keeps them
// (TestCluster_IsDeterministic is the five-host determinism test). Repeat runs a scenario several times and fails a
// test with the seed and the first divergent frame if the traces differ;
// a failing seed, run again, fails the same way at the same virtual time.
//
// A Result also holds what a picture of the run needs, outside the
// hash: each frame's send time and what happened to it on the way
// (Frame.Fate, Duplicate, Corrupted, Held), the frames that never
// arrived (Undelivered) and the run's Events (network changes, crashes,
// restarts, process ends and failures, gentcp calls that returned an
// error, Note). Package sim/timeline draws it as a sequence diagram, SVG
// or text; its Repeat saves the timeline of a failing seed.
//
// # Rules
//
// A simulated process may block only in gentcp calls and Process.Sleep.
// The simulation cannot see a goroutine wait on a channel, a mutex held
// by another process, time.Sleep or a context deadline (those run on the
// wall clock); such a process stalls the run (ErrStall after
// Options.StallTimeout) or makes it nondeterministic. Process.Mailbox is
// a raw channel and panics here; use Receive. Blocking gentcp calls made
// outside a process (in an At event, the setup function, a goroutine
// started with go) fail with ErrNotScheduled. Processes started with Go
// must end; a server that accepts forever is a Daemon, which the run does
// not wait for and stops at the end (started with Go it would leave the
// run in ErrDeadlock or ErrTimeLimit).
//
// The stacks have no loopback NIC (loopback delivers in the sender's
// goroutine, which the scheduler cannot order): processes reach the other
// hosts by name ("a", "b", or n1, n2, ... and the names in Options.Hosts)
// or address.
package sim
