package sim_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/link/pcap"
	"github.com/usertcp/usertcp/sim"
)

// TestPartitionTimeouts cuts the link both ways from 1 s to 61 s. During
// the cut, a recv timeout and a connect timeout fire at the exact virtual
// times they were set for, and the data A sent at 2 s is retransmitted
// with doubling intervals until one copy crosses after the heal. Over two
// minutes of virtual time pass in well under a second of wall time.
func TestPartitionTimeouts(t *testing.T) {
	defer goleak.VerifyNone(t)
	var capture bytes.Buffer
	var (
		recvTimedOut, connectTimedOut time.Duration
		dataArrived, replyArrived     time.Duration
	)
	opts := sim.Options{Seed: 1, Link: memlink.Options{Latency: time.Millisecond, Pcap: &capture}}
	start := time.Now()
	res, err := sim.Run(opts, func(s *sim.Sim) {
		s.At(time.Second, func() { s.Partition(sim.Both) })
		s.At(61*time.Second, func() { s.Heal(sim.Both) })
		s.Go(s.A(), func(p *gentcp.Process) error {
			l, err := p.Listen(7, gentcp.Binary, gentcp.Active(false))
			if err != nil {
				return err
			}
			c, err := p.Accept(l, gentcp.Infinity)
			if err != nil {
				return err
			}
			p.Sleep(2*time.Second - s.Now())
			if err := c.Send([]byte("sent during the partition")); err != nil {
				return err
			}
			if _, err := c.Recv(0, 5*time.Second); !errors.Is(err, gentcp.Timeout) {
				return fmt.Errorf("recv during the partition: got %v, want timeout", err)
			}
			recvTimedOut = s.Now()
			d, err := c.Recv(0, gentcp.Infinity)
			if err != nil {
				return err
			}
			replyArrived = s.Now()
			if string(d.Bytes) != "reply" {
				return fmt.Errorf("got %q", d.Bytes)
			}
			return c.Close()
		})
		s.Go(s.B(), func(p *gentcp.Process) error {
			c, err := p.Connect("a", 7, time.Second, gentcp.Binary, gentcp.Active(false))
			if err != nil {
				return err
			}
			if _, err := c.Recv(0, gentcp.Infinity); err != nil {
				return err
			}
			dataArrived = s.Now()
			return c.Send([]byte("reply"))
		})
		s.Go(s.B(), func(p *gentcp.Process) error {
			p.Sleep(10 * time.Second)
			_, err := p.Connect("a", 7, 3*time.Second)
			if !errors.Is(err, gentcp.Timeout) {
				return fmt.Errorf("connect during the partition: got %v, want timeout", err)
			}
			connectTimedOut = s.Now()
			return nil
		})
	})
	wall := time.Since(start)
	require.NoError(t, err)
	t.Logf("%v of virtual time in %v of wall time (%d steps, %d frames)", res.Elapsed, wall, res.Steps, len(res.Frames))
	assert.Less(t, wall, time.Second, "wall time")

	assert.Equal(t, 7*time.Second, recvTimedOut, "recv(0, 5s) at 2 s times out at")
	assert.Equal(t, 13*time.Second, connectTimedOut, "connect(3 s) at 10 s times out at")

	// The data segment as A sent it (the capture sees A's frames before
	// the link drops them): first at 2 s, then one retransmission per
	// RTO, starting at the 200 ms minimum (the RTT is 2 ms) and doubling
	// each time (RACK's tail loss probe is off by default).
	recs, _, err := pcap.ReadFile(&capture)
	require.NoError(t, err)
	var sends []time.Duration
	for _, r := range recs {
		ip := header.IPv4(r.Data)
		if ip.SourceAddressSlice()[3] != 1 || ip.Protocol() != uint8(header.TCPProtocolNumber) {
			continue
		}
		if int(ip.TotalLength())-int(ip.HeaderLength())-int(header.TCP(ip.Payload()).DataOffset()) > 0 {
			sends = append(sends, r.Time.Sub(sim.Epoch))
		}
	}
	t.Logf("data segment sent at %v", sends)
	require.GreaterOrEqual(t, len(sends), 4)
	assert.Equal(t, 2*time.Second, sends[0])
	assert.Equal(t, 200*time.Millisecond, sends[1]-sends[0], "first RTO")
	for i := 2; i < len(sends); i++ {
		assert.Equal(t, 2*(sends[i-1]-sends[i-2]), sends[i]-sends[i-1], "interval %d doubles", i)
	}
	last := sends[len(sends)-1]
	assert.Greater(t, last, 61*time.Second, "the copy that crossed was sent after the heal")
	assert.Less(t, sends[len(sends)-2], 61*time.Second, "the copy before it was lost")
	assert.Equal(t, last+time.Millisecond, dataArrived, "data arrives one latency after the first retransmission after the heal")
	assert.Equal(t, dataArrived+time.Millisecond, replyArrived, "the reply takes one more latency")
}
