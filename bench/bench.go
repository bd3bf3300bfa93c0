package bench

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/link/tap"
	"github.com/usertcp/usertcp/stack"
)

// The measurements.
const (
	Bulk        = "bulk"
	RoundTrip   = "rtt"
	ConnRate    = "connrate"
	IdleMemory  = "memory"
	MessageRate = "msgrate"
	LinkBulk    = "link"
)

// Measurements lists every measurement in the order reports show them.
var Measurements = []string{Bulk, RoundTrip, ConnRate, MessageRate, IdleMemory, LinkBulk}

// The systems.
const (
	Gentcp  = "gentcp"
	Gonet   = "gonet"
	Kernel  = "kernel"
	OTP     = "otp"
	Memlink = "memlink" // link only: gonet over memlink
	Pipe    = "pipe"    // link only: gonet over gVisor's pipe link
)

// Modes of msgrate and memory for gentcp (and OTP's msgrate).
const (
	Passive    = "passive"
	ActiveOnce = "once"
	ActiveTrue = "active"
	// NetConn is gentcp's bulk through its net.Conn adapter: reads go into
	// the caller's reused buffer, where Recv returns a fresh binary each
	// time (Erlang's semantics, which costs an allocation per read).
	NetConn = "conn"
	// Append is gentcp's bulk through Socket.RecvAppend: Send/Recv's
	// semantics, but each read appends to one reused buffer.
	Append = "append"
	// Release is gentcp's bulk through Recv, each Data released when it
	// has been read (Data.Release), so its array is read into again.
	Release = "release"
)

// Bulk directions.
const (
	Up   = "up"   // the connecting side sends
	Down = "down" // the accepting side sends
)

// Chunk is the size of every bulk write and read.
const Chunk = 64 << 10

// MessageSize is msgrate's payload; each message is 4 bytes longer on the
// wire ({packet,4}).
const MessageSize = 64

// The metrics, named as go test's ReportMetric units.
const (
	BytesPerSec = "B/s"
	P50         = "p50-ns"
	P99         = "p99-ns"
	Mean        = "mean-ns"
	ConnsPerSec = "conn/s"
	BytesPerCon = "B/conn"
	MsgsPerSec  = "msg/s"
	IdleConns   = "conns" // memory: how many idle connections were measured
)

// Case is one measurement of one system in one configuration.
type Case struct {
	Measurement string `json:"measurement"` // one of Measurements (Bulk, RoundTrip, ...)
	System      string `json:"system"`      // Gentcp, Gonet, Kernel, OTP, Memlink or Pipe
	// MTU of the memlink (or pipe); 0 for kernel and OTP.
	MTU int `json:"mtu,omitempty"`
	// Conns is bulk's parallel connections, memory's idle connections.
	Conns int `json:"conns,omitempty"`
	// Dir is bulk's direction: Up or Down.
	Dir string `json:"dir,omitempty"`
	// Mode is gentcp's receive mode for msgrate (Passive, ActiveOnce), its
	// mode for memory (Passive, ActiveTrue) and for bulk ("" for
	// Send/Recv, Release, Append, NetConn); OTP's for msgrate.
	Mode string `json:"mode,omitempty"`
	// Link is "" for the memlink (and the kernel's loopback), TAP for a
	// stack on a TAP device with the kernel on the other side.
	Link string `json:"link,omitempty"`
	// Stacks, if not nil, replaces the settings of the two memlink stacks
	// of a Gentcp or Gonet case, for a benchmark that measures the
	// settings themselves (stack's BenchmarkTCPSettings). It is in
	// neither Name nor the results: such a benchmark names its cases.
	Stacks *Stacks `json:"-"`
}

// Stacks are the settings of a case's two stacks and the memlink between
// them. Without them a case runs on tcpOptions and a clean memlink with
// checksum offload.
type Stacks struct {
	// TCP is both stacks' TCP settings.
	TCP stack.TCPOptions
	// Link is the memlink's options (latency, loss, a seed, ...); its MTU
	// is the case's.
	Link memlink.Options
}

// Name is the case as a benchmark name, e.g.
// "bulk/conns=8/dir=up/gentcp/mtu=1500".
func (c Case) Name() string {
	parts := []string{c.Measurement}
	if c.Conns > 0 {
		parts = append(parts, fmt.Sprintf("conns=%d", c.Conns))
	}
	if c.Dir != "" {
		parts = append(parts, "dir="+c.Dir)
	}
	sys := c.System
	if c.Mode != "" {
		sys += "-" + c.Mode
	}
	parts = append(parts, sys)
	if c.Link != "" {
		parts = append(parts, "link="+c.Link)
	}
	if c.MTU > 0 {
		parts = append(parts, fmt.Sprintf("mtu=%d", c.MTU))
	}
	return strings.Join(parts, "/")
}

// onMemlink reports whether the system runs on the two memlink stacks.
func (c Case) onMemlink() bool {
	if c.Link != "" {
		return false
	}
	switch c.System {
	case Gentcp, Gonet, Memlink, Pipe:
		return true
	}
	return false
}

// ErrUnavailable says a system cannot run here (no escript, too few file
// descriptors); the error names what is missing.
var ErrUnavailable = errors.New("bench: unavailable")

// runner does the operations of one case: run may be called repeatedly.
type runner interface {
	run(n int) error
	close() error
}

// Session is a case set up and ready to run: stacks built, connections
// made, helper goroutines waiting.
type Session struct {
	c       Case
	r       runner
	ops     int
	elapsed time.Duration
	samples []time.Duration
}

// Start sets a case up. Memory cases have no session: use MeasureMemory.
func Start(c Case) (*Session, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if c.Measurement == IdleMemory {
		return nil, fmt.Errorf("bench: %s has no session; use MeasureMemory", c.Name())
	}
	var r runner
	var err error
	if c.System == OTP {
		r, err = startOTP(c)
	} else {
		r, err = startGo(c)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Name(), err)
	}
	return &Session{c: c, r: r}, nil
}

func (c Case) check() error {
	if !slices.Contains(Measurements, c.Measurement) {
		return fmt.Errorf("bench: unknown measurement %q", c.Measurement)
	}
	if c.onMemlink() && (c.MTU < 576 || c.MTU > 65520) {
		return fmt.Errorf("bench: %s: MTU %d outside 576..65520", c.Name(), c.MTU)
	}
	if c.Link == TAP && (c.MTU < 576 || c.MTU > tap.MaxMTU) {
		return fmt.Errorf("bench: %s: MTU %d outside 576..%d", c.Name(), c.MTU, tap.MaxMTU)
	}
	if c.Stacks != nil && (!c.onMemlink() || (c.System != Gentcp && c.System != Gonet)) {
		return fmt.Errorf("bench: %s: stack settings apply to gentcp and gonet on a memlink only", c.Name())
	}
	if c.Link != "" && c.Link != TAP {
		return fmt.Errorf("bench: %s: unknown link %q", c.Name(), c.Link)
	}
	if c.Measurement == Bulk && c.Dir != Up && c.Dir != Down {
		return fmt.Errorf("bench: %s: direction %q (want up or down)", c.Name(), c.Dir)
	}
	return nil
}

// Run does n operations: n chunks of 64 KiB for bulk and link (spread over
// the connections), n round trips, n connections, n messages. It returns
// when the last byte has arrived.
func (s *Session) Run(n int) error {
	if n <= 0 {
		return nil
	}
	start := time.Now()
	if err := s.r.run(n); err != nil {
		return fmt.Errorf("%s: %w", s.c.Name(), err)
	}
	s.elapsed += time.Since(start)
	s.ops += n
	if sm, ok := s.r.(interface{ takeSamples() []time.Duration }); ok {
		s.samples = append(s.samples, sm.takeSamples()...)
	}
	return nil
}

// Reset forgets what Run measured so far (after a warm-up).
func (s *Session) Reset() {
	s.ops, s.elapsed, s.samples = 0, 0, nil
}

// Metrics returns the figures of what Run did since the last Reset.
func (s *Session) Metrics() map[string]float64 {
	m := map[string]float64{}
	if s.ops == 0 || s.elapsed <= 0 {
		return m
	}
	perSec := float64(s.ops) / s.elapsed.Seconds()
	switch s.c.Measurement {
	case Bulk, LinkBulk:
		m[BytesPerSec] = perSec * Chunk
	case ConnRate:
		m[ConnsPerSec] = perSec
	case MessageRate:
		m[MsgsPerSec] = perSec
	case RoundTrip:
		q := Quantiles(s.samples, 0.5, 0.99)
		m[P50], m[P99] = float64(q[0]), float64(q[1])
		m[Mean] = float64(s.elapsed.Nanoseconds()) / float64(s.ops)
	}
	return m
}

// Samples returns the round trips measured since the last Reset.
func (s *Session) Samples() []time.Duration { return s.samples }

// Close stops the session's goroutines and frees its stacks, sockets and
// processes.
func (s *Session) Close() error { return s.r.close() }

// Measure runs a case for about d after a short warm-up and returns its
// figures, with the round-trip distribution for rtt. Memory cases ignore
// d.
func Measure(c Case, d time.Duration) (map[string]float64, []time.Duration, error) {
	if c.Measurement == IdleMemory {
		m, err := MeasureMemory(c)
		return m, nil, err
	}
	s, err := Start(c)
	if err != nil {
		return nil, nil, err
	}
	m, err := s.runFor(d)
	cerr := s.Close()
	if err == nil {
		err = cerr
	}
	return m, s.samples, err
}

// runFor warms up, then runs batches of growing size until d has passed;
// each batch aims at a tenth of d, so the pauses between batches stay
// small.
func (s *Session) runFor(d time.Duration) (map[string]float64, error) {
	n := 1
	warm := time.Now()
	for time.Since(warm) < d/10 {
		if err := s.Run(n); err != nil {
			return nil, err
		}
		n *= 2
	}
	s.Reset()
	batch := d / 10
	n = max(1, n/4)
	for s.elapsed < d {
		if err := s.Run(n); err != nil {
			return nil, err
		}
		per := s.elapsed / time.Duration(s.ops)
		next := int(batch / max(per, 1))
		n = max(1, min(next, 2*n+1, 1<<24))
	}
	return s.Metrics(), nil
}

// Quantiles returns the q-quantiles of samples (nearest rank), sorting a
// copy.
func Quantiles(samples []time.Duration, qs ...float64) []time.Duration {
	out := make([]time.Duration, len(qs))
	if len(samples) == 0 {
		return out
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	for i, q := range qs {
		k := int(math.Ceil(q*float64(len(s)))) - 1
		out[i] = s[min(max(k, 0), len(s)-1)]
	}
	return out
}
