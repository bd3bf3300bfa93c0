package stack_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/usertcp/usertcp/bench"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// BenchmarkTCPSettings measures what TCPOptions' throughput knobs do to
// bulk TCP between two stacks on a memlink: netstack's defaults, receive
// and send buffers up to 8 MiB (what package bench gives both gentcp and
// gonet), CUBIC instead of Reno, and receive-buffer autotuning off, each
// on a clean link and on one with 1 ms latency and 0.1 % loss, at
// Ethernet's MTU and the largest. gonet moves the bytes, so only the
// settings differ; an op is a 64 KiB write. The loop is package bench's
// bulk (one connection, B to A), given these stack settings.
//
//	go test -run '^$' -bench TCPSettings -count 3 ./stack/
func BenchmarkTCPSettings(b *testing.B) {
	settings := []struct {
		name string
		tcp  stack.TCPOptions
	}{
		{"defaults", stack.TCPOptions{}},
		{"buffers=8MiB", stack.TCPOptions{SendBuffer: stack.BufferRange{Max: 8 << 20}, ReceiveBuffer: stack.BufferRange{Max: 8 << 20}}},
		{"cubic", stack.TCPOptions{CongestionControl: "cubic"}},
		{"no-autotuning", stack.TCPOptions{NoModerateReceiveBuffer: true}},
	}
	links := []struct {
		name string
		opts memlink.Options
	}{
		{"clean", memlink.Options{ChecksumOffload: true}},
		{"lossy", memlink.Options{ChecksumOffload: true, Latency: time.Millisecond, Loss: 0.001, Seed: 1}},
	}
	for _, l := range links {
		for _, mtu := range []int{1500, 65520} {
			for _, s := range settings {
				b.Run(fmt.Sprintf("link=%s/mtu=%d/%s", l.name, mtu, s.name), func(b *testing.B) {
					bench.RunB(b, bench.Case{Measurement: bench.Bulk, System: bench.Gonet, MTU: mtu,
						Conns: 1, Dir: bench.Up, Stacks: &bench.Stacks{TCP: s.tcp, Link: l.opts}})
				})
			}
		}
	}
}
