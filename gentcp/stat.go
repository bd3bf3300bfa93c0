// stat.go owns what a socket tells about itself: inet:port,
// inet:sockname and inet:peername, and inet:getstat's counters.
//
// Locks: the name calls and Getstat hold s.mu; the counters are updated by
// send and recv under it.

package gentcp

import (
	"math"
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// Port returns the local port, as inet:port/1. Einval on a closed socket,
// Ebadf once the socket closed itself underneath (see Sockname).
func (s *Socket) Port() (int, error) {
	a, err := s.Sockname()
	if err != nil {
		return 0, err
	}
	return int(a.Port()), nil
}

// Sockname returns the local address and port, as inet:sockname/1.
// Einval on a closed socket. Ebadf once the socket closed itself
// underneath while the handle stays open: after a failed send, a passive
// recv that reported the peer's close with exit_on_close, a packet above
// packet_size, send_timeout_close. OTP's driver has closed the descriptor
// then, and the handle answers only getopts, setopts and getstat.
func (s *Socket) Sockname() (netip.AddrPort, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return netip.AddrPort{}, Einval
	}
	if s.epClosed {
		return netip.AddrPort{}, Ebadf
	}
	fa, terr := s.ep.GetLocalAddress()
	if terr != nil {
		return netip.AddrPort{}, reasonOf(terr)
	}
	return addrPort(fa, s.o.ip), nil
}

// Peername returns the peer's address and port, as inet:peername/1.
// Enotconn on a listen socket and once the socket closed itself
// underneath (see Sockname), Einval on a closed one.
func (s *Socket) Peername() (netip.AddrPort, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return netip.AddrPort{}, Einval
	}
	if s.listen || s.epClosed {
		return netip.AddrPort{}, Enotconn
	}
	fa, terr := s.ep.GetRemoteAddress()
	if terr != nil {
		return netip.AddrPort{}, reasonOf(terr)
	}
	return addrPort(fa, netip.Addr{}), nil
}

func addrPort(fa tcpip.FullAddress, fallback netip.Addr) netip.AddrPort {
	a, ok := netip.AddrFromSlice(fa.Addr.AsSlice())
	if !ok {
		a = fallback
		if !a.IsValid() {
			a = netip.IPv4Unspecified()
		}
	}
	return netip.AddrPortFrom(a.Unmap(), fa.Port)
}

func (s *Socket) isIPv6() bool {
	fa, err := s.ep.GetLocalAddress()
	return err == nil && fa.Addr.Len() == 16
}

// Stat is one getstat counter.
type Stat struct {
	Name  string // the counter's name, one of StatNames (recv_oct, ...)
	Value int    // the counter's value
}

// StatNames are getstat's counters in OTP's order.
var StatNames = []string{"recv_oct", "recv_cnt", "recv_max", "recv_avg", "recv_dvi",
	"send_oct", "send_cnt", "send_max", "send_avg", "send_pend"}

type stats struct {
	recvOct, recvCnt, recvMax int
	recvAvg, recvDvi          float64
	sendOct, sendCnt, sendMax int
	sendAvg                   float64
}

// received counts one delivered packet of n bytes (§11: recv_cnt counts
// delivered packets, not endpoint reads). avg is the running mean; dvi is
// inet_drv's running deviation, the signed difference from the new mean
// averaged the same way (dvi += ((n - avg) - dvi) / cnt), which getstat
// reports as its absolute value (getstat_dvi: 7 and 5 bytes give 0).
func (st *stats) received(n int) {
	st.recvCnt++
	st.recvOct += n
	st.recvMax = max(st.recvMax, n)
	st.recvAvg += (float64(n) - st.recvAvg) / float64(st.recvCnt)
	st.recvDvi += ((float64(n) - st.recvAvg) - st.recvDvi) / float64(st.recvCnt)
}

// sent counts one send call of n bytes, headers included.
func (st *stats) sent(n int) {
	st.sendCnt++
	st.sendOct += n
	st.sendMax = max(st.sendMax, n)
	st.sendAvg += (float64(n) - st.sendAvg) / float64(st.sendCnt)
}

// Getstat returns counters, as inet:getstat(Socket, Keys); no keys means
// all of StatNames. An unknown key or a closed socket gives Einval.
func (s *Socket) Getstat(keys ...string) ([]Stat, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, Einval
	}
	if len(keys) == 0 {
		keys = StatNames
	}
	out := make([]Stat, 0, len(keys))
	for _, k := range keys {
		var v int
		switch k {
		case "recv_oct":
			v = s.stats.recvOct
		case "recv_cnt":
			v = s.stats.recvCnt
		case "recv_max":
			v = s.stats.recvMax
		case "recv_avg":
			v = int(s.stats.recvAvg)
		case "recv_dvi":
			v = int(math.Abs(s.stats.recvDvi))
		case "send_oct":
			v = s.stats.sendOct
		case "send_cnt":
			v = s.stats.sendCnt
		case "send_max":
			v = s.stats.sendMax
		case "send_avg":
			v = int(s.stats.sendAvg)
		case "send_pend":
			v = s.pendingLocked()
		default:
			return nil, Einval
		}
		out = append(out, Stat{k, v})
	}
	return out, nil
}
