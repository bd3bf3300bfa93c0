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

// Port returns the local port, as inet:port/1. Einval on a closed socket.
func (s *Socket) Port() (int, error) {
	a, err := s.Sockname()
	if err != nil {
		return 0, err
	}
	return int(a.Port()), nil
}

// Sockname returns the local address and port, as inet:sockname/1.
func (s *Socket) Sockname() (netip.AddrPort, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return netip.AddrPort{}, Einval
	}
	fa, terr := s.ep.GetLocalAddress()
	if terr != nil {
		return netip.AddrPort{}, reasonOf(terr)
	}
	return addrPort(fa, s.o.ip), nil
}

// Peername returns the peer's address and port, as inet:peername/1.
// Enotconn on a listen socket, Einval on a closed one.
func (s *Socket) Peername() (netip.AddrPort, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return netip.AddrPort{}, Einval
	}
	if s.listen {
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
	Name  string
	Value int
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
// delivered packets, not endpoint reads). avg and dvi are running mean and
// mean deviation, as inet_drv keeps them.
func (st *stats) received(n int) {
	st.recvCnt++
	st.recvOct += n
	st.recvMax = max(st.recvMax, n)
	delta := float64(n) - st.recvAvg
	st.recvAvg += delta / float64(st.recvCnt)
	st.recvDvi += (math.Abs(delta) - st.recvDvi) / float64(st.recvCnt)
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
			v = int(s.stats.recvDvi)
		case "send_oct":
			v = s.stats.sendOct
		case "send_cnt":
			v = s.stats.sendCnt
		case "send_max":
			v = s.stats.sendMax
		case "send_avg":
			v = int(s.stats.sendAvg)
		case "send_pend":
			v = s.sqLen
		default:
			return nil, Einval
		}
		out = append(out, Stat{k, v})
	}
	return out, nil
}
