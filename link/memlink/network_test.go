package memlink_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/usertcp/usertcp/internal/testutil"
	"github.com/usertcp/usertcp/link/fault"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// host is a stack on a network port, with one address of each family.
type host struct {
	name   string
	st     *stack.Stack
	port   *memlink.Port
	a4, a6 netip.Addr
}

// addr is the host's address of the family.
func (h *host) addr(v6 bool) netip.Addr {
	if v6 {
		return h.a6
	}
	return h.a4
}

// newHosts builds a network and one stack per name on it, the i-th (from
// 1) at 10.0.0.i and fd00:75::i, each resolving every other by name. The
// stacks close when the test ends, and the network with them.
func newHosts(t *testing.T, opts memlink.Options, names ...string) (*memlink.Network, []*host) {
	t.Helper()
	n, err := memlink.NewNetwork(opts)
	require.NoError(t, err)
	hosts := make([]*host, len(names))
	table := map[string][]netip.Addr{}
	for i, name := range names {
		h := &host{name: name,
			a4: netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}),
			a6: netip.AddrFrom16([16]byte{0: 0xfd, 2: 0, 3: 0x75, 15: byte(i + 1)}),
		}
		h.port, err = n.AddPort(name, h.a4, h.a6)
		require.NoError(t, err)
		hosts[i] = h
		table[name] = []netip.Addr{h.a4, h.a6}
	}
	for _, h := range hosts {
		h.st, err = stack.New(stack.Options{
			NICs: []stack.NIC{{Name: "eth0", Link: h.port, Addresses: []netip.Prefix{
				netip.PrefixFrom(h.a4, 24), netip.PrefixFrom(h.a6, 64)}}},
			Hosts: table,
			TCP:   stack.TCPOptions{TimeWait: time.Second, MinRTO: 10 * time.Millisecond, MaxRTO: 500 * time.Millisecond},
			Clock: opts.Clock,
		})
		require.NoError(t, err)
	}
	t.Cleanup(func() { closeHosts(hosts) })
	return n, hosts
}

func closeHosts(hosts []*host) {
	for _, h := range hosts {
		if h.st != nil {
			h.st.Close()
		}
	}
}

// TestNetwork_TCPAmongStacks: four stacks on one network, every ordered
// pair running a TCP transfer at the same time, bare IP and Ethernet,
// IPv4 and IPv6: every transfer arrives intact, every frame reached the
// port it was for (nothing unroutable, the pair counters add up).
func TestNetwork_TCPAmongStacks(t *testing.T) {
	for _, ethernet := range []bool{false, true} {
		for _, v6 := range []bool{false, true} {
			t.Run(fmt.Sprintf("Ethernet=%v/IPv6=%v", ethernet, v6), func(t *testing.T) {
				defer goleak.VerifyNone(t)
				n, hosts := newHosts(t, memlink.Options{Ethernet: ethernet, ChecksumOffload: true, Seed: 1}, "n1", "n2", "n3", "n4")
				t.Run("transfers", func(t *testing.T) {
					for _, from := range hosts {
						for _, to := range hosts {
							if from == to {
								continue
							}
							t.Run(from.name+"→"+to.name, func(t *testing.T) {
								t.Parallel()
								sent, got := transferBetween(t, from.st, to.st, to.addr(v6), 256<<10, nil)
								assert.Equal(t, sent, got)
							})
						}
					}
				})
				total := n.Counters("", "")
				assert.Zero(t, total.Unroutable)
				assert.Zero(t, total.Dropped)
				// The stacks still send after the transfers (last ACKs,
				// neighbour discovery), so compare a total and a sum of the
				// pairs read while nothing moved between them.
				pairSum := func() (sum uint64) {
					for _, from := range hosts {
						for _, to := range hosts {
							if from != to {
								c := n.Counters(from.name, to.name)
								assert.NotZero(t, c.Delivered, "%s→%s carried nothing", from.name, to.name)
								sum += c.Frames
							}
						}
					}
					return sum
				}
				var before, sum, after uint64
				assert.Eventually(t, func() bool {
					before = n.Counters("", "").Frames
					sum = pairSum()
					after = n.Counters("", "").Frames
					return before == after && sum == before
				}, 5*time.Second, 10*time.Millisecond, "the pairs never added up to the network")
				t.Logf("network %d frames, pairs %d", after, sum)
				closeHosts(hosts)
			})
		}
	}
}

// TestNetwork_AddPortErrors: names and addresses are unique among open
// ports; a closed port frees both, and a network that is closed takes no
// port.
func TestNetwork_AddPortErrors(t *testing.T) {
	defer goleak.VerifyNone(t)
	n, err := memlink.NewNetwork(memlink.Options{})
	require.NoError(t, err)
	a4 := netip.MustParseAddr("10.0.0.1")
	p, err := n.AddPort("x", a4)
	require.NoError(t, err)
	_, err = n.AddPort("x")
	assert.ErrorIs(t, err, memlink.ErrPortExists)
	_, err = n.AddPort("y", a4)
	assert.ErrorIs(t, err, memlink.ErrAddressTaken)
	_, err = n.AddPort("y", netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.2"))
	assert.ErrorIs(t, err, memlink.ErrAddressTaken)
	_, err = n.AddPort("y", netip.Addr{})
	assert.ErrorIs(t, err, memlink.ErrAddressTaken)
	_, err = n.AddPort("")
	assert.Error(t, err)
	y, err := n.AddPort("y", netip.MustParseAddr("10.0.0.2"))
	require.NoError(t, err)
	assert.NotEqual(t, p.LinkAddress(), y.LinkAddress(), "every port has its own MAC")
	assert.Equal(t, []string{"x", "y"}, n.Ports())

	mac := p.LinkAddress()
	p.Close()
	p.Wait()
	assert.Nil(t, n.Port("x"))
	again, err := n.AddPort("x", a4)
	require.NoError(t, err, "a closed port frees its name and addresses")
	assert.Equal(t, mac, again.LinkAddress(), "a port under the same name keeps the MAC")

	require.ErrorIs(t, n.SetFaults("x", "nobody", fault.Config{}), memlink.ErrUnknownPort)
	n.Close()
	_, err = n.AddPort("z")
	assert.ErrorIs(t, err, memlink.ErrNetworkClosed)
}

// TestNetwork_Unroutable: on a bare IP network of three ports a frame to
// an address no port owns is dropped and counted at its sender; on two
// ports it goes to the other one, as on a cable.
func TestNetwork_Unroutable(t *testing.T) {
	defer goleak.VerifyNone(t)
	n, hosts := newHosts(t, memlink.Options{}, "n1", "n2", "n3")
	_, err := testutil.Ping(hosts[0].st, netip.MustParseAddr("10.0.0.99"), 100*time.Millisecond)
	assert.Error(t, err, "a ping to nobody was answered")
	assert.Equal(t, uint64(1), n.Counters("n1", "").Unroutable)
	assert.Zero(t, n.Counters("n1", "").Frames, "an unroutable frame reached a pair")
	for _, h := range hosts[1:] {
		_, err := testutil.Ping(hosts[0].st, h.a4, 5*time.Second)
		require.NoError(t, err, "ping %s", h.name)
		_, err = testutil.Ping(hosts[0].st, h.a6, 5*time.Second)
		require.NoError(t, err, "ping %s", h.name)
	}
	assert.Equal(t, uint64(1), n.Counters("", "").Unroutable)
	closeHosts(hosts)
}

// TestNetwork_RoutesFollowPorts: ports added out of order are listed (and
// broadcast to) by name; a closed port leaves the table, its address
// reaches nobody, and the others keep theirs.
func TestNetwork_RoutesFollowPorts(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := newRawNet(t, memlink.Options{}, "n3", "n1", "n4", "n2")
	defer r.n.Close()
	assert.Equal(t, []string{"n1", "n2", "n3", "n4"}, r.n.Ports())
	r.ports["n4"].Close()
	r.ports["n4"].Wait()
	assert.Equal(t, []string{"n1", "n2", "n3"}, r.n.Ports())
	r.send(t, "n1", "n4", "to the closed port")
	r.send(t, "n1", "n3", "to n3")
	r.send(t, "n1", "255.255.255.255", "to all")
	require.Eventually(t, func() bool { return len(r.got("n3")) == 2 && len(r.got("n2")) == 1 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []string{"to all", "to n3"}, r.got("n3"))
	assert.Equal(t, []string{"to all"}, r.got("n2"))
	assert.Equal(t, uint64(1), r.n.Counters("n1", "").Unroutable)
	assert.Empty(t, r.got("n4"))
}
