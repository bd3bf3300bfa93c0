package gentcp_test

import (
	"strings"
	"testing"

	"github.com/usertcp/usertcp/bench"
)

// The benchmarks of gen_tcp on usertcp against its baselines, each in one
// run so the ratios hold on a noisy machine: gVisor's gonet on the same
// memlink and stack settings, Go's net over kernel loopback, and real OTP
// gen_tcp over kernel loopback when escript is installed. The workloads
// live in package bench, which `usertcp bench` runs too; BENCHMARKS.md
// has the figures and the commands.
//
//	go test -run '^$' -bench . ./gentcp/
//	go test -run '^$' -bench IdleMemory -benchtime 1x ./gentcp/

// benchMTUs are the memlink configurations: Ethernet's MTU and the
// largest a TAP device takes.
var benchMTUs = []int{1500, 65520}

// benchSystems returns the cases of one measurement: gentcp and gonet at
// every MTU, then kernel and OTP once. mode applies to gentcp (and OTP).
func benchSystems(c bench.Case, modes ...string) []bench.Case {
	if len(modes) == 0 {
		modes = []string{""}
	}
	var out []bench.Case
	for _, mtu := range benchMTUs {
		for _, mode := range modes {
			g := c
			g.System, g.MTU, g.Mode = bench.Gentcp, mtu, mode
			out = append(out, g)
		}
		g := c
		g.System, g.MTU = bench.Gonet, mtu
		out = append(out, g)
	}
	k := c
	k.System = bench.Kernel
	out = append(out, k)
	for _, mode := range modes {
		o := c
		o.System, o.Mode = bench.OTP, mode
		out = append(out, o)
	}
	return out
}

// subName is the case's name without the measurement, which the
// benchmark's own name says.
func subName(c bench.Case) string { return strings.TrimPrefix(c.Name(), c.Measurement+"/") }

// BenchmarkBulk is one-way throughput with 64 KiB writes and reads, over 1
// and 8 connections, in both directions; an op is one 64 KiB chunk.
// gentcp runs three times: with Send/Recv (a fresh binary per Recv, as in
// Erlang), with Send/RecvAppend (gentcp-append: Recv's semantics into the
// caller's reused buffer) and through its net.Conn adapter (gentcp-conn:
// Read into the caller's buffer, as gonet and the kernel read).
func BenchmarkBulk(b *testing.B) {
	for _, conns := range []int{1, 8} {
		for _, dir := range []string{bench.Up, bench.Down} {
			for _, c := range benchSystems(bench.Case{Measurement: bench.Bulk, Conns: conns, Dir: dir}, "", bench.Append, bench.NetConn) {
				if c.System == bench.OTP && c.Mode != "" {
					continue
				}
				b.Run(subName(c), func(b *testing.B) { bench.RunB(b, c) })
			}
		}
	}
}

// BenchmarkRoundTrip is a 1-byte ping-pong: ns/op is the mean round trip,
// p50-ns and p99-ns its percentiles.
func BenchmarkRoundTrip(b *testing.B) {
	for _, c := range benchSystems(bench.Case{Measurement: bench.RoundTrip}) {
		b.Run(subName(c), func(b *testing.B) { bench.RunB(b, c) })
	}
}

// BenchmarkConnRate is connect, accept and close on both ends, one
// connection at a time; conn/s is the rate.
func BenchmarkConnRate(b *testing.B) {
	for _, c := range benchSystems(bench.Case{Measurement: bench.ConnRate}) {
		b.Run(subName(c), func(b *testing.B) { bench.RunB(b, c) })
	}
}

// BenchmarkMessageRate is a one-way stream of 64-byte {packet,4}
// messages: gentcp receiving in {active,once} and passive mode, OTP
// likewise, gonet and the kernel reading frames with bufio.
func BenchmarkMessageRate(b *testing.B) {
	for _, c := range benchSystems(bench.Case{Measurement: bench.MessageRate}, bench.ActiveOnce, bench.Passive) {
		if c.System != bench.Gentcp && c.System != bench.OTP {
			c.Mode = ""
		}
		b.Run(subName(c), func(b *testing.B) { bench.RunB(b, c) })
	}
}

// BenchmarkIdleMemory is the memory of idle established connections
// (both ends of each) at 10,000 and 100,000 connections: B/conn. Each
// iteration builds them all, so run it with -benchtime 1x. Kernel sockets
// need two file descriptors a connection; the conns metric says how many
// RLIMIT_NOFILE allowed.
func BenchmarkIdleMemory(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		for _, c := range []bench.Case{
			{System: bench.Gentcp, Mode: bench.Passive},
			{System: bench.Gentcp, Mode: bench.ActiveTrue},
			{System: bench.Gonet},
			{System: bench.Kernel},
		} {
			c.Measurement, c.Conns = bench.IdleMemory, n
			if c.System == bench.Kernel && n > 10000 {
				// Two file descriptors a connection: RLIMIT_NOFILE (20,000
				// here, and no CAP_SYS_RESOURCE to raise it) caps the
				// kernel at about 9,900 connections, measured above.
				continue
			}
			if c.System != bench.Kernel {
				c.MTU = benchMTUs[0] // idle connections hold no frames: the MTU does not matter
			}
			b.Run(subName(c), func(b *testing.B) {
				var m map[string]float64
				for range b.N {
					var err error
					if m, err = bench.MeasureMemory(c); err != nil {
						b.Fatal(err)
					}
				}
				if int(m[bench.IdleConns]) != n {
					b.Logf("measured %d connections, not %d: RLIMIT_NOFILE", int(m[bench.IdleConns]), n)
				}
				for k, v := range m {
					b.ReportMetric(v, k)
				}
			})
		}
	}
}
