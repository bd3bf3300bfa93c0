package gentcp_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/usertcp/usertcp/gentcp"
)

// Issue 18's bugs: what an outside probe broke through the public API.
// Each test names the behaviour it checks; the expected values are real
// OTP 25's on Linux where OTP has one.

// TestTinyBuffersKeepTCPMoving: {sndbuf,1} and {recbuf,1..3}, given at
// creation or by setopts, are raised to Linux's minimums (getopts then
// reports 4608 and 2304, as OTP on Linux does), so 100 KiB still moves and
// both ends close; 1 byte moved in 5 s before, then send and close hung.
func TestTinyBuffersKeepTCPMoving(t *testing.T) {
	const total = 100 << 10
	for _, tc := range []struct {
		name      string
		sender    []gentcp.Option
		receiver  []gentcp.Option
		bySetopts bool
	}{
		{name: "sndbuf 1", sender: []gentcp.Option{gentcp.Sndbuf(1)}},
		{name: "recbuf 1", receiver: []gentcp.Option{gentcp.Recbuf(1)}},
		{name: "recbuf 2", receiver: []gentcp.Option{gentcp.Recbuf(2)}},
		{name: "recbuf 3", receiver: []gentcp.Option{gentcp.Recbuf(3)}},
		{name: "both 1", sender: []gentcp.Option{gentcp.Sndbuf(1), gentcp.Recbuf(1)}, receiver: []gentcp.Option{gentcp.Sndbuf(1), gentcp.Recbuf(1)}},
		{name: "both 1 by setopts", sender: []gentcp.Option{gentcp.Sndbuf(1), gentcp.Recbuf(1)}, receiver: []gentcp.Option{gentcp.Sndbuf(1), gentcp.Recbuf(1)}, bySetopts: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			copts, lopts := append([]gentcp.Option(nil), passive...), append([]gentcp.Option(nil), passive...)
			if !tc.bySetopts {
				copts = append(copts, tc.sender...)
				lopts = append(lopts, tc.receiver...)
			}
			c, a := e.connected(copts, lopts...)
			if tc.bySetopts {
				require.NoError(t, c.Setopts(tc.sender...))
				require.NoError(t, a.Setopts(tc.receiver...))
			}
			for _, s := range []*gentcp.Socket{c, a} {
				got, err := s.Getopts("sndbuf", "recbuf")
				require.NoError(t, err)
				assert.GreaterOrEqual(t, got[0].Value, 4608, "sndbuf below Linux's minimum")
				assert.GreaterOrEqual(t, got[1].Value, 2304, "recbuf below Linux's minimum")
			}
			sent := start(func() result {
				chunk := make([]byte, 1024)
				for range total / len(chunk) {
					if err := c.Send(chunk); err != nil {
						return result{err: err}
					}
				}
				return result{}
			})
			got := 0
			for got < total {
				d, err := a.Recv(0, hang)
				require.NoError(t, err, "after %d of %d bytes", got, total)
				got += len(d.Bytes)
			}
			require.NoError(t, await(t, "the sends", sent).err)
			closed := start(func() result { return result{err: a.Close()} })
			await(t, "the receiver's Close", closed)
			await(t, "the sender's Close", start(func() result { return result{err: c.Close()} }))
		})
	}
}

// TestTinyBufferGetopts: getopts after {sndbuf,1} and {recbuf,1} reports
// what Linux does, 4608 and 2304 (real erl on a kernel socket, at creation
// and after setopts); sizes above the minimums read back as set.
func TestTinyBufferGetopts(t *testing.T) {
	e := newEnv(t)
	c, a := e.connected(append([]gentcp.Option{gentcp.Sndbuf(1), gentcp.Recbuf(1)}, passive...), passive...)
	got, err := c.Getopts("sndbuf", "recbuf", "buffer")
	require.NoError(t, err)
	assert.Equal(t, []gentcp.Option{{Name: "sndbuf", Value: 4608}, {Name: "recbuf", Value: 2304}, {Name: "buffer", Value: 1460}}, got)
	for _, n := range []int{1, 2, 3, 1000, 2303, 2304, 4607, 4608, 10000} {
		require.NoError(t, a.Setopts(gentcp.Sndbuf(n), gentcp.Recbuf(n)))
		got, err := a.Getopts("sndbuf", "recbuf")
		require.NoError(t, err)
		assert.Equal(t, []gentcp.Option{{Name: "sndbuf", Value: max(n, 4608)}, {Name: "recbuf", Value: max(n, 2304)}}, got, fmt.Sprintf("after setopts %d", n))
	}
	c.Close()
	a.Close()
}
