package tap_test

import (
	"strings"
	"testing"

	"github.com/usertcp/usertcp/bench"
	"github.com/usertcp/usertcp/link/tap/taptest"
)

// The TAP benchmarks: the usertcp side against the Linux kernel in a
// network namespace, over one TAP device, at Ethernet's MTU and the
// largest a TAP device takes. gentcp runs with Send/Recv, RecvAppend and
// its net.Conn adapter, gonet on the same link/tap, and gonet on gVisor's
// own fdbased link over the same device (one readv or writev per frame)
// as the baseline. The workloads are package bench's, which
// `usertcp bench --tap` runs too.
//
//	sudo go test -run '^$' -bench TAP ./integration/tap/

var tapBenchMTUs = []int{1500, 65520}

// tapCases returns base on TAP for every system and MTU.
func tapCases(base bench.Case, gentcpModes ...string) []bench.Case {
	var out []bench.Case
	for _, mtu := range tapBenchMTUs {
		base.Link, base.MTU = bench.TAP, mtu
		for _, m := range gentcpModes {
			c := base
			c.System, c.Mode = bench.Gentcp, m
			out = append(out, c)
		}
		for _, sys := range []string{bench.Gonet, bench.Fdbased} {
			c := base
			c.System = sys
			out = append(out, c)
		}
	}
	return out
}

func runTAP(b *testing.B, cases []bench.Case) {
	taptest.Require(b)
	for _, c := range cases {
		b.Run(strings.TrimPrefix(c.Name(), c.Measurement+"/"), func(b *testing.B) { bench.RunB(b, c) })
	}
}

// BenchmarkTAPBulk is one-way throughput between the usertcp side and the
// kernel, one connection, 64 KiB writes and reads; up is usertcp to the
// kernel.
func BenchmarkTAPBulk(b *testing.B) {
	var cases []bench.Case
	for _, dir := range []string{bench.Up, bench.Down} {
		cases = append(cases, tapCases(bench.Case{Measurement: bench.Bulk, Conns: 1, Dir: dir}, "", bench.Append, bench.NetConn)...)
	}
	runTAP(b, cases)
}

// BenchmarkTAPRoundTrip is a 1-byte ping-pong from the usertcp side to a
// kernel echo: ns/op is the mean round trip, p50-ns and p99-ns its
// percentiles.
func BenchmarkTAPRoundTrip(b *testing.B) {
	runTAP(b, tapCases(bench.Case{Measurement: bench.RoundTrip}, ""))
}
