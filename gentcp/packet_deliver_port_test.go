package gentcp_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/usertcp/usertcp/gentcp"
)

// TestRecvDeliverPortPassive is gentcp's side of the documented difference
// (doc.go) that integration/otp's deliver_port_passive_recv shows on erl:
// on a passive {deliver,port} socket of every packet type, Recv (RecvHTTP
// for the HTTP types, which parse the line) returns each packet in turn,
// honours its timeout, and sends the owner nothing. OTP 25 sends the
// packet to the owner instead and leaves the recv pending until the
// socket closes.
func TestRecvDeliverPortPassive(t *testing.T) {
	cases := []struct {
		packet      gentcp.Option
		wire        string
		first, next string // the packets, as Data.String or HTTPPacket.String
	}{
		{gentcp.PacketRaw, "ab", `<<"ab">>`, ""},
		{gentcp.Packet(2), "\x00\x02ab\x00\x01c", `<<"ab">>`, `<<"c">>`},
		{gentcp.PacketLine, "ab\ncd\n", `<<"ab\n">>`, `<<"cd\n">>`},
		{gentcp.PacketASN1, "\x30\x02\x01\x02\x30\x00", `<<48,2,1,2>>`, `<<48,0>>`},
		{gentcp.PacketHTTP, "GET / HTTP/1.1\r\n\r\n", `{http_request,'GET',{abs_path,"/"},{1,1}}`, `http_eoh`},
		{gentcp.PacketHTTPHBin, "Host: h\r\n\r\n", `{http_header,14,'Host',<<"Host">>,<<"h">>}`, `http_eoh`},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.packet.Value), func(t *testing.T) {
			e := newEnv(t)
			c, a := e.connected(append(passive, tc.packet, gentcp.DeliverPort))
			recv := func(timeout time.Duration) (string, error) {
				if v, _ := tc.packet.Value.(string); len(v) >= 4 && v[:4] == "http" {
					p, err := c.RecvHTTP(timeout)
					if err != nil {
						return "", err
					}
					return p.String(), nil
				}
				d, err := c.Recv(0, timeout)
				return d.String(), err
			}
			_, err := recv(20 * time.Millisecond)
			assert.ErrorIs(t, err, gentcp.Timeout, "an empty socket's recv times out")

			require.NoError(t, a.Send([]byte(tc.wire)))
			got, err := recv(second)
			require.NoError(t, err)
			assert.Equal(t, tc.first, got)
			got, err = recv(100 * time.Millisecond)
			if tc.next == "" {
				assert.ErrorIs(t, err, gentcp.Timeout, "the recv after the last packet times out")
			} else {
				require.NoError(t, err, "a second recv is not ealready")
				assert.Equal(t, tc.next, got)
			}
			assert.Empty(t, e.cp.Pending(), "nothing goes to the owner")
		})
	}
}
