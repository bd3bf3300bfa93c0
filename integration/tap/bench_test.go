package tap_test

import (
	"strings"
	"testing"

	"github.com/usertcp/usertcp/bench"
	"github.com/usertcp/usertcp/link/tap/taptest"
)

// The TAP benchmarks: the usertcp side against the Linux kernel in a
// network namespace, over one TAP device, at Ethernet's MTU and the
// largest a TAP device takes. gentcp runs with each of its read paths
// (Recv, Recv with Release, RecvAppend, its net.Conn adapter), gonet on
// the same link/tap, and gonet on gVisor's own fdbased link over the same
// device (one readv or writev per frame) as the baseline. The cases are
// package bench's plan and the loops its workloads, the same that
// `usertcp bench --tap` runs.
//
//	sudo go test -run '^$' -bench TAP ./integration/tap/

var tapBenchMTUs = []int{1500, 65520}

// tapCases returns the TAP cases of bench's plan for measurement m.
func tapCases(m string) []bench.Case {
	p := bench.Plan{Measurements: []string{m}, Systems: []string{bench.Gentcp, bench.Gonet}, TAPMTUs: tapBenchMTUs}
	var out []bench.Case
	for _, c := range p.Cases() {
		if c.Link == bench.TAP {
			out = append(out, c)
		}
	}
	return out
}

func runTAP(b *testing.B, cases []bench.Case) {
	taptest.Require(b)
	if len(cases) == 0 {
		b.Fatal("bench's plan has no TAP cases")
	}
	for _, c := range cases {
		b.Run(strings.TrimPrefix(c.Name(), c.Measurement+"/"), func(b *testing.B) { bench.RunB(b, c) })
	}
}

// BenchmarkTAPBulk is one-way throughput between the usertcp side and the
// kernel, one connection, 64 KiB writes and reads; up is usertcp to the
// kernel.
func BenchmarkTAPBulk(b *testing.B) { runTAP(b, tapCases(bench.Bulk)) }

// BenchmarkTAPRoundTrip is a 1-byte ping-pong from the usertcp side to a
// kernel echo: ns/op is the mean round trip, p50-ns and p99-ns its
// percentiles.
func BenchmarkTAPRoundTrip(b *testing.B) { runTAP(b, tapCases(bench.RoundTrip)) }
