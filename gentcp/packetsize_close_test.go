package gentcp_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/usertcp/usertcp/gentcp"
)

// TestActiveOversizeHeader_PeerClose: an oversize {packet,2} header that
// came in the same read as a delivered packet is reported when the peer's
// close or reset arrives, as OTP 25 does ({tcp,S,<<"ok">>}, then
// {tcp_error,S,emsgsize} and {tcp_closed,S}): the end of stream counts as
// an arrival. (The reader used to spin on the end of stream holding the
// socket's lock, waiting for bytes to judge the header by.)
func TestActiveOversizeHeader_PeerClose(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []gentcp.Option // the peer's, before its close
	}{
		{"peer closes", nil},
		{"peer resets", []gentcp.Option{gentcp.LingerOpt(true, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			c, a := e.connected(passive, gentcp.Binary, gentcp.Active(false), gentcp.Packet(2), gentcp.PacketSize(10))
			require.NoError(t, c.Send([]byte{0, 2, 'o', 'k', 0, 11}))
			time.Sleep(100 * time.Millisecond) // both in a's buffer before it turns active
			require.NoError(t, a.Setopts(gentcp.Active(true)))
			m, err := e.sp.Receive(second)
			require.NoError(t, err)
			require.IsType(t, gentcp.TCP{}, m)
			assert.Equal(t, "ok", string(m.(gentcp.TCP).Data.Bytes))
			if tc.opts != nil {
				require.NoError(t, c.Setopts(tc.opts...))
			}
			require.NoError(t, c.Close())
			m, err = e.sp.Receive(second)
			require.NoError(t, err)
			assert.Equal(t, gentcp.TCPError{Socket: a, Reason: gentcp.Emsgsize}, m)
			m, err = e.sp.Receive(second)
			require.NoError(t, err)
			assert.Equal(t, gentcp.TCPClosed{Socket: a}, m)
		})
	}
}
