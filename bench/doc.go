// Package bench measures usertcp against its baselines: gVisor's gonet on
// the same link and stack settings, Go's net over kernel loopback, and real
// OTP gen_tcp over kernel loopback (when escript is installed).
//
// It holds the workloads once, for two drivers: the go test benchmarks in
// the packages they measure (gentcp, link/memlink), which call Start and
// Session.Run(b.N), and `usertcp bench`, which calls Measure with a
// duration. Both compare a case with its baselines in the same run, so the
// ratios hold on a noisy machine.
//
// The measurements (Case.Measurement):
//
//	bulk      one-way throughput, 64 KiB writes, 64 KiB reads; Conns
//	          connections in parallel; Dir up (client sends) or down
//	rtt       1-byte ping-pong: p50, p99 and mean round trip
//	connrate  connect, accept, close on both ends, one at a time
//	memory    heap (and kernel slab) per idle established connection,
//	          both ends counted: a connection is a pair of sockets
//	msgrate   64-byte messages framed {packet,4}, one-way; the gentcp
//	          receiver in {active,once} (Setopts, Process.Receive) or
//	          passive (Recv) mode; Go's baselines read frames with bufio.
//	          A stream that delivers nothing for StallAfter fails the
//	          case with ErrStalled instead of hanging the run
//	link      bulk over gonet on memlink against gVisor's pipe link: the
//	          link alone, without gentcp
//
// The systems (Case.System): Gentcp (the gentcp API: Process.Connect,
// Listen, Accept, Socket.Send, Recv), Gonet, Kernel, OTP, and for link
// Memlink and Pipe. Every socket has Nagle off (gen_tcp {nodelay,true};
// netstack's and Go's default), so all systems send the same segments.
//
// The two memlink stacks use netstack's defaults with 8 MiB buffer maxima,
// checksum offload and a 1 s TIME_WAIT; gentcp and gonet share them. A
// case's Stacks replaces those settings and the memlink's options, for a
// benchmark of the settings themselves (stack's BenchmarkTCPSettings). The
// OTP side is otp/bench.escript, embedded and run through escript
// (compiled; it refuses to run interpreted); it talks to 127.0.0.1 only,
// and its sockets get the option list gentcp's sockets of the same case
// get. BENCHMARKS.md, "How the baselines are made", says what each
// baseline does.
//
// TAP cases (Case.Link = TAP, Plan.TAPMTUs, `usertcp bench --tap`) put one
// stack on a TAP device whose other side is the kernel in a network
// namespace the case makes and removes (root): the stack connects, the
// kernel accepts and echoes. They run bulk (one connection) and rtt for
// Gentcp and Gonet on link/tap with its offloads, and Fdbased, gVisor's
// gonet on gVisor's fdbased link over the same device (no virtio-net
// header, one readv or writev per frame), the baseline the TAP targets
// name. Without root they are skipped as unavailable. RunB runs any case
// as a go test benchmark.
package bench
