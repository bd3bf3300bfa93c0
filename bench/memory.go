package bench

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/usertcp/usertcp/gentcp"
)

// perListener is how many connections memory puts on one listen port:
// netstack picks ephemeral ports per destination from 16000 to 65535, so
// 100,000 connections need three ports.
const perListener = 40000

// MeasureMemory opens c.Conns idle established connections and returns
// the memory they hold, per connection (both ends: a connection is a pair
// of sockets in this process). It counts Go's live heap and goroutine
// stacks after a collection and, for kernel sockets, the growth of the
// kernel's slab (/proc/meminfo), where the kernel keeps its sockets.
//
// Kernel connections take two file descriptors each; if RLIMIT_NOFILE
// (raised to its hard limit first) cannot hold c.Conns, fewer are
// measured, and the conns metric says how many.
func MeasureMemory(c Case) (map[string]float64, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	n := c.Conns
	if n <= 0 {
		n = 10000
	}
	var opts []gentcp.Option
	switch {
	case c.System == Gentcp && c.Mode == ActiveTrue:
		opts = []gentcp.Option{gentcp.Active(true)}
	case c.System == Gentcp && c.Mode != "" && c.Mode != Passive:
		return nil, fmt.Errorf("bench: memory mode %q (want passive or active)", c.Mode)
	case c.System == Kernel:
		limit := raiseFileLimit()
		if fit := (int(limit) - 256) / 2; fit < n {
			if fit < 100 {
				return nil, fmt.Errorf("%w: RLIMIT_NOFILE is %d", ErrUnavailable, limit)
			}
			n = fit
		}
	case c.System == OTP:
		return nil, fmt.Errorf("%w: no memory measurement for OTP", ErrUnavailable)
	}
	sys, err := newSystem(c)
	if err != nil {
		return nil, err
	}
	defer sys.close()
	var ls []listener
	defer func() {
		for _, l := range ls {
			l.close()
		}
	}()
	for i := 0; i < (n+perListener-1)/perListener; i++ {
		l, err := sys.listen(0, opts)
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
	}

	streams := make([]stream, 0, 2*n)
	before := usedMemory(c.System == Kernel)
	defer func() {
		for _, s := range streams {
			s.close()
		}
	}()
	for i, l := range ls {
		k := min(perListener, n-i*perListener)
		streams, err = openIdle(l, k, streams)
		if err != nil {
			return nil, err
		}
	}
	after := usedMemory(c.System == Kernel)
	runtime.KeepAlive(streams)
	return map[string]float64{
		BytesPerCon: float64(after-before) / float64(n),
		IdleConns:   float64(n),
	}, nil
}

// openIdle makes k connections on l and appends both ends to out: a
// goroutine accepts while this one dials, one at a time.
func openIdle(l listener, k int, out []stream) ([]stream, error) {
	accepted := make(chan stream, 256)
	errc := make(chan error, 1)
	go func() {
		for range k {
			s, err := l.accept()
			if err != nil {
				errc <- err
				return
			}
			accepted <- s
		}
		errc <- nil
	}()
	var dialErr error
	for range k {
		c, err := l.dial()
		if err != nil {
			dialErr = err
			break
		}
		out = append(out, c)
		// Collect what was accepted so far, so the channel never fills.
	drain:
		for {
			select {
			case s := <-accepted:
				out = append(out, s)
			default:
				break drain
			}
		}
	}
	if dialErr != nil {
		l.close() // ends the accept loop
	}
	err := <-errc
	close(accepted)
	for s := range accepted {
		out = append(out, s)
	}
	if dialErr != nil {
		return out, dialErr
	}
	return out, err
}

// usedMemory is Go's live heap and stacks after a full collection, plus
// the kernel's slab when kernel is set.
func usedMemory(kernel bool) int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	used := int64(m.HeapAlloc + m.StackInuse)
	if kernel {
		used += kernelSlab()
	}
	return used
}

// kernelSlab reads Slab from /proc/meminfo, in bytes (0 if unreadable).
func kernelSlab() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "Slab:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// raiseFileLimit raises RLIMIT_NOFILE's soft limit to its hard limit (Go
// does this at start-up already; a larger hard limit needs
// CAP_SYS_RESOURCE, which is tried too) and returns the soft limit.
func raiseFileLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	want := syscall.Rlimit{Cur: 1 << 20, Max: 1 << 20}
	if want.Max > r.Max && syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
		return want.Cur
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	}
	return r.Cur
}
