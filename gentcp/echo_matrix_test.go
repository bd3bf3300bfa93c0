package gentcp_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/usertcp/usertcp/gentcp"
)

// The echo matrix, after OTP's gen_tcp_echo_SUITE: every packet type
// crossed with every receive mode and the boundary sizes of each type.

type echoMode struct {
	name string
	opt  gentcp.Option
}

var echoModes = []echoMode{
	{"passive", gentcp.Active(false)},
	{"active_true", gentcp.Active(true)},
	{"active_once", gentcp.ActiveOnce},
	{"active_n", gentcp.ActiveN(3)},
}

type echoPacket struct {
	name  string
	opt   gentcp.Option
	max   int  // largest payload the type carries
	raw   bool // no message boundaries
	line  bool // payloads end in '\n'
	sizes []int
}

var boundarySizes = []int{0, 1, 2, 3, 4, 7, 255, 256, 65535, 65536, 70000}

var echoPackets = []echoPacket{
	{name: "raw", opt: gentcp.PacketRaw, max: 1 << 30, raw: true},
	{name: "1", opt: gentcp.Packet(1), max: 255},
	{name: "2", opt: gentcp.Packet(2), max: 65535},
	{name: "4", opt: gentcp.Packet(4), max: 1 << 30},
	{name: "line", opt: gentcp.PacketLine, max: 1 << 30, line: true},
}

func payload(pt echoPacket, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	if pt.line && n > 0 {
		b[n-1] = '\n'
	}
	return b
}

// recvOne receives one packet (raw: exactly n bytes) in the socket's mode,
// re-arming once/N as an OTP echo loop does.
func recvOne(t *testing.T, p *gentcp.Process, s *gentcp.Socket, m echoMode, pt echoPacket, n int) []byte {
	t.Helper()
	if m.name == "passive" {
		if pt.raw {
			d, err := s.Recv(n, 5*time.Second)
			require.NoError(t, err)
			return d.Bytes
		}
		d, err := s.Recv(0, 5*time.Second)
		require.NoError(t, err)
		return d.Bytes
	}
	var got []byte
	for {
		msg, err := p.Receive(5 * time.Second)
		require.NoError(t, err, "waiting for a message")
		switch msg := msg.(type) {
		case gentcp.TCP:
			got = append(got, msg.Data.Bytes...)
			if m.name == "active_once" {
				require.NoError(t, s.Setopts(gentcp.ActiveOnce))
			}
			if !pt.raw || len(got) >= n {
				return got
			}
		case gentcp.TCPPassive:
			require.NoError(t, s.Setopts(gentcp.ActiveN(3)))
		default:
			t.Fatalf("unexpected message %#v", msg)
		}
	}
}

func TestEchoMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("the echo matrix moves ~10 MB per mode; skipped with -short")
	}
	for _, pt := range echoPackets {
		for _, m := range echoModes {
			t.Run(pt.name+"/"+m.name, func(t *testing.T) {
				e := newEnv(t)
				opts := []gentcp.Option{gentcp.Binary, pt.opt, m.opt, gentcp.Buffer(80000), gentcp.Nodelay(true)}
				l, port := e.listen(opts...)
				c, err := e.cp.Connect("10.0.0.1", port, 5*time.Second, opts...)
				require.NoError(t, err)
				a, err := e.sp.Accept(l, 5*time.Second)
				require.NoError(t, err)
				for _, n := range boundarySizes {
					if n > pt.max || (pt.raw || pt.line) && n == 0 {
						continue
					}
					want := payload(pt, n)
					require.NoError(t, c.Send(want))
					got := recvOne(t, e.sp, a, m, pt, n)
					require.Equal(t, len(want), len(got), "size %d: server got %d bytes", n, len(got))
					require.NoError(t, a.Send(got))
					back := recvOne(t, e.cp, c, m, pt, n)
					require.True(t, bytes.Equal(want, back), "size %d: echo differs", n)
				}
				require.NoError(t, c.Close())
				require.NoError(t, a.Close())
				require.NoError(t, l.Close())
			})
		}
	}
}

// TestEchoMatrixPacketSize: a payload of N bytes passes with packet_size N
// and N+1 and gives emsgsize with N-1, passive and active.
func TestEchoMatrixPacketSize(t *testing.T) {
	for _, pt := range echoPackets[1:4] {
		for _, n := range []int{7, 255, 65535, 70000} {
			if n > pt.max {
				continue
			}
			for _, limit := range []int{n - 1, n, n + 1} {
				for _, active := range []bool{false, true} {
					t.Run(fmt.Sprintf("packet_%s/size_%d/packet_size_%d/active_%v", pt.name, n, limit, active), func(t *testing.T) {
						e := newEnv(t)
						c, a := e.connected([]gentcp.Option{gentcp.Binary, gentcp.Active(false), pt.opt},
							gentcp.Binary, gentcp.Active(active), pt.opt, gentcp.PacketSize(limit))
						require.NoError(t, c.Send(payload(pt, n)))
						var err error
						if active {
							m, rerr := e.sp.Receive(5 * time.Second)
							require.NoError(t, rerr)
							switch m := m.(type) {
							case gentcp.TCP:
								assert.Len(t, m.Data.Bytes, n)
							case gentcp.TCPError:
								err = m.Reason
								m2, _ := e.sp.Receive(5 * time.Second)
								assert.IsType(t, gentcp.TCPClosed{}, m2)
							}
						} else {
							var d gentcp.Data
							d, err = a.Recv(0, 5*time.Second)
							if err == nil {
								assert.Len(t, d.Bytes, n)
							}
						}
						if limit < n {
							assert.Equal(t, gentcp.Emsgsize, err)
						} else {
							assert.NoError(t, err)
						}
					})
				}
			}
		}
	}
}
