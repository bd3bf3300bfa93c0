package memlink_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
)

// TestGentcp_FiveEchoServers: five stacks in one process, each a gen_tcp
// echo server ({packet,4}) and a client of the four others, all at once,
// in real time: every reply comes back, by name on IPv4 and by address
// on IPv6, Ethernet and bare IP, with a little loss and latency.
func TestGentcp_FiveEchoServers(t *testing.T) {
	for _, ethernet := range []bool{false, true} {
		for _, v6 := range []bool{false, true} {
			t.Run(fmt.Sprintf("Ethernet=%v/IPv6=%v", ethernet, v6), func(t *testing.T) {
				defer goleak.VerifyNone(t)
				n, hosts := newHosts(t, memlink.Options{Ethernet: ethernet, Loss: 0.01, Latency: 200 * time.Microsecond, Seed: 5}, five...)
				nodes := make([]*gentcp.Node, len(hosts))
				var servers []*gentcp.Process
				family := gentcp.Inet
				if v6 {
					family = gentcp.Inet6
				}
				for i, h := range hosts {
					nodes[i] = gentcp.NewNode(h.st)
					sp := nodes[i].NewProcess()
					servers = append(servers, sp)
					l, err := sp.Listen(7, family, gentcp.Binary, gentcp.Packet(4), gentcp.Active(false))
					require.NoError(t, err)
					for range len(hosts) - 1 {
						nodes[i].Spawn(func(p *gentcp.Process) {
							s, err := p.Accept(l, 30*time.Second)
							if err != nil {
								return
							}
							for {
								d, err := s.Recv(0, 30*time.Second)
								if err != nil {
									return // closed: the client is done
								}
								if s.Send(d.Bytes) != nil {
									return
								}
							}
						})
					}
				}
				errs := make(chan error, len(hosts)*len(hosts))
				var wg sync.WaitGroup
				for i, from := range hosts {
					for _, to := range hosts {
						if to == from {
							continue
						}
						wg.Add(1)
						go func() {
							defer wg.Done()
							cp := nodes[i].NewProcess()
							defer cp.Exit()
							target := to.name
							if v6 {
								target = to.a6.String()
							}
							c, err := cp.Connect(target, 7, 10*time.Second, family, gentcp.Binary, gentcp.Packet(4), gentcp.Active(false))
							if err != nil {
								errs <- fmt.Errorf("%s→%s: connect: %w", from.name, to.name, err)
								return
							}
							defer c.Close()
							for k := range 20 {
								msg := bytes.Repeat([]byte(fmt.Sprintf("%s→%s %d;", from.name, to.name, k)), 1+k*50)
								if err := c.Send(msg); err != nil {
									errs <- fmt.Errorf("%s→%s: send %d: %w", from.name, to.name, k, err)
									return
								}
								d, err := c.Recv(0, 10*time.Second)
								if err != nil {
									errs <- fmt.Errorf("%s→%s: recv %d: %w", from.name, to.name, k, err)
									return
								}
								if !bytes.Equal(d.Bytes, msg) {
									errs <- fmt.Errorf("%s→%s: reply %d differs", from.name, to.name, k)
									return
								}
							}
						}()
					}
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Error(err)
				}
				for _, sp := range servers {
					sp.Exit()
				}
				c := n.Counters("", "")
				t.Logf("%d frames sent, %d dropped", c.Frames, c.Dropped)
				assert.Zero(t, c.Unroutable)
				closeHosts(hosts)
			})
		}
	}
}

// TestBackpressure_ManySendersOneReceiver: four stacks send bulk into one
// port whose queue holds 4 frames: nothing is lost, every frame written is
// delivered, every transfer arrives intact.
func TestBackpressure_ManySendersOneReceiver(t *testing.T) {
	defer goleak.VerifyNone(t)
	n, hosts := newHosts(t, memlink.Options{QueueFrames: 4, ChecksumOffload: true, NoGSO: true}, five...)
	sink := hosts[0]
	t.Run("transfers", func(t *testing.T) {
		for _, h := range hosts[1:] {
			t.Run(h.name, func(t *testing.T) {
				t.Parallel()
				sent, got := transferBetween(t, h.st, sink.st, sink.a4, 2<<20, nil)
				assert.Equal(t, sent, got)
			})
		}
	})
	var c memlink.Counters
	assert.Eventually(t, func() bool {
		c = n.Counters("", "")
		return c.Frames == c.Delivered
	}, 5*time.Second, time.Millisecond, "every frame written was delivered")
	assert.Equal(t, c.Frames, c.Delivered)
	assert.Zero(t, c.Dropped)
	assert.Greater(t, n.Counters("", "n1").Delivered, uint64(4*2<<20/1500), "the transfers crossed in MTU-sized frames")
	closeHosts(hosts)
}
