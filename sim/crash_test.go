package sim_test

import (
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
	"github.com/usertcp/usertcp/sim"
)

// silentServer accepts on port 7 forever and keeps every connection
// open without a word, reading nothing: its peers' recvs only end by
// what happens to the host.
func silentServer(p *gentcp.Process) error {
	l, err := p.Listen(7, gentcp.Binary, gentcp.Active(false))
	if err != nil {
		return err
	}
	for {
		if _, err := p.Accept(l, gentcp.Infinity); err != nil {
			return err
		}
	}
}

// crashOptions: a server n1 and a client n2, 1 ms apart.
func crashOptions(start func(p *gentcp.Process) error) sim.Options {
	return sim.Options{Seed: 5, Hosts: []sim.Host{{Start: start}, {}}, Link: memlink.Options{Latency: time.Millisecond}}
}

// framesFrom counts the frames host sent that were delivered after t.
func framesFrom(res *sim.Result, host string, t time.Duration) int {
	n := 0
	for _, f := range res.Frames {
		if f.From == host && f.At > t {
			n++
		}
	}
	return n
}

// TestCrash_PeerRecvTimesOut: the server crashes at 1 s with the
// connection open; the client's recv with a 5 s timeout, started at 2 s,
// times out at 7 s, as it would against a machine that lost power: no
// FIN, no RST, nothing from the server after the crash.
func TestCrash_PeerRecvTimesOut(t *testing.T) {
	defer goleak.VerifyNone(t)
	var recvErr error
	var at time.Duration
	var up bool
	res, err := sim.Run(crashOptions(silentServer), func(s *sim.Sim) {
		s.At(time.Second, func() {
			require.NoError(t, s.Crash("n1"))
			up = s.Up("n1")
		})
		s.Go(s.Host("n2"), func(p *gentcp.Process) error {
			c, err := p.Connect("n1", 7, time.Second, gentcp.Binary, gentcp.Active(false))
			if err != nil {
				return err
			}
			p.Sleep(2*time.Second - s.Now())
			_, recvErr = c.Recv(0, 5*time.Second)
			at = s.Now()
			return c.Close()
		})
	})
	require.NoError(t, err)
	assert.False(t, up, "Up after the crash")
	assert.ErrorIs(t, recvErr, gentcp.Timeout)
	assert.Equal(t, 7*time.Second, at)
	assert.Zero(t, framesFrom(res, "n1", time.Second), "frames from the crashed host")
}

// TestCrash_SendGivesUpAfterRetransmissions: data sent to a crashed
// host is retransmitted, the backoff doubling, until TCP gives up (its
// ETIMEDOUT) a quarter of an hour of virtual time later; then the
// connection is gone and a send fails. gentcp reports that end as closed
// (it maps a read error other than a reset to closed), where OTP would
// say etimedout.
func TestCrash_SendGivesUpAfterRetransmissions(t *testing.T) {
	defer goleak.VerifyNone(t)
	var sendErr error
	var at time.Duration
	var timeouts uint64
	res, err := sim.Run(crashOptions(silentServer), func(s *sim.Sim) {
		s.At(time.Second, func() { require.NoError(t, s.Crash("n1")) })
		s.Go(s.Host("n2"), func(p *gentcp.Process) error {
			c, err := p.Connect("n1", 7, time.Second, gentcp.Binary, gentcp.Active(false))
			if err != nil {
				return err
			}
			p.Sleep(2*time.Second - s.Now())
			// The first sends queue; the one after TCP gave up fails.
			for sendErr == nil {
				sendErr = c.Send([]byte("to nobody"))
				p.Sleep(10 * time.Second)
			}
			at = s.Now()
			timeouts = p.Node().Stack().Netstack().Stats().TCP.Timeouts.Value()
			return c.Close()
		})
	})
	require.NoError(t, err)
	t.Logf("send failed at %v (%v) after %d retransmission timeouts", at, sendErr, timeouts)
	assert.ErrorIs(t, sendErr, gentcp.Closed)
	assert.Greater(t, at, 10*time.Minute, "TCP gave up only after its retransmissions")
	assert.GreaterOrEqual(t, timeouts, uint64(10), "retransmission timeouts")
	assert.Zero(t, framesFrom(res, "n1", time.Second), "frames from the crashed host")
}

// TestRestart_PeerConnectionIsReset: the server crashes at 1 s and
// restarts at 2 s; its start process runs again, so new connections
// work, but the client's connection from before the crash is unknown to
// the new stack: the client's next segment draws a RST, and its recv
// reports closed (econnreset with show_econnreset), as OTP reports a
// reset. The new boot has new initial sequence numbers.
func TestRestart_PeerConnectionIsReset(t *testing.T) {
	for _, show := range []bool{false, true} {
		t.Run(fmt.Sprintf("show_econnreset=%v", show), func(t *testing.T) {
			defer goleak.VerifyNone(t)
			boots := 0
			start := func(p *gentcp.Process) error {
				boots++
				return foreverServer(p)
			}
			var recvErr, fresh error
			res, err := sim.Run(crashOptions(start), func(s *sim.Sim) {
				s.At(time.Second, func() { require.NoError(t, s.Crash("n1")) })
				s.At(2*time.Second, func() { require.NoError(t, s.Restart("n1")) })
				s.Go(s.Host("n2"), func(p *gentcp.Process) error {
					c, err := p.Connect("n1", 7, time.Second, gentcp.Binary, gentcp.Active(false), gentcp.ShowEconnreset(show))
					if err != nil {
						return err
					}
					p.Sleep(3*time.Second - s.Now())
					if err := c.Send([]byte("hello again")); err != nil {
						return err
					}
					_, recvErr = c.Recv(0, 10*time.Second)
					c.Close()
					fresh = exchange(p, "n1", time.Second)
					return nil
				})
			})
			require.NoError(t, err)
			if show {
				assert.ErrorIs(t, recvErr, gentcp.Econnreset)
			} else {
				assert.ErrorIs(t, recvErr, gentcp.Closed)
			}
			assert.NoError(t, fresh, "a new connection to the restarted host")
			assert.Equal(t, 2, boots, "the start process ran at each boot")
			var isns []uint32
			for _, f := range res.Frames {
				tcp := header.TCP(header.IPv4(f.Head).Payload())
				if f.From == "n1" && tcp.Flags() == header.TCPFlagSyn|header.TCPFlagAck {
					isns = append(isns, tcp.SequenceNumber())
				}
			}
			require.Len(t, isns, 2, "one SYN-ACK per boot")
			assert.NotEqual(t, isns[0], isns[1], "the new boot's initial sequence number")
		})
	}
}

// TestCrash_ProcessesEnd: a crashed host's processes exit, those started
// with Go too, and the errors they return then are not failures; the run
// waits only for the processes of the living.
func TestCrash_ProcessesEnd(t *testing.T) {
	defer goleak.VerifyNone(t)
	var victim *gentcp.Process
	var recvErr error
	res, err := sim.Run(crashOptions(silentServer), func(s *sim.Sim) {
		s.At(time.Second, func() { require.NoError(t, s.Crash("n1")) })
		victim = s.Go(s.Host("n1"), func(p *gentcp.Process) error {
			c, err := p.Connect("n2", 7, time.Second, gentcp.Binary, gentcp.Active(false))
			if err == nil {
				return errors.New("n2 has no server")
			}
			_, recvErr = p.Receive(gentcp.Infinity)
			_ = c
			return recvErr
		})
		s.Go(s.Host("n2"), func(p *gentcp.Process) error {
			p.Sleep(3 * time.Second)
			return nil
		})
	})
	require.NoError(t, err)
	assert.False(t, victim.Alive())
	assert.ErrorIs(t, recvErr, gentcp.ErrExited)
	assert.Equal(t, 3*time.Second, res.Elapsed)
}
