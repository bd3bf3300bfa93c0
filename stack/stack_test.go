package stack_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/usertcp/usertcp/stack"
)

func nic(name, addr string) stack.NIC {
	return stack.NIC{Name: name, Link: channel.New(16, 1500, ""), Addresses: []netip.Prefix{netip.MustParsePrefix(addr)}}
}

func TestNewAppliesTCPOptions(t *testing.T) {
	defer goleak.VerifyNone(t)
	st, err := stack.New(stack.Options{
		NICs: []stack.NIC{nic("eth0", "10.1.0.1/24")},
		TCP: stack.TCPOptions{
			CongestionControl: "cubic",
			MinRTO:            10 * time.Millisecond,
			TimeWait:          2 * time.Second,
			ReceiveBuffer:     stack.BufferRange{Max: 8 << 20},
		},
	})
	require.NoError(t, err)
	defer st.Close()
	ns := st.Netstack()
	var cc tcpip.CongestionControlOption
	require.Nil(t, ns.TransportProtocolOption(tcp.ProtocolNumber, &cc))
	assert.Equal(t, tcpip.CongestionControlOption("cubic"), cc)
	var rto tcpip.TCPMinRTOOption
	require.Nil(t, ns.TransportProtocolOption(tcp.ProtocolNumber, &rto))
	assert.Equal(t, tcpip.TCPMinRTOOption(10*time.Millisecond), rto)
	var tw tcpip.TCPTimeWaitTimeoutOption
	require.Nil(t, ns.TransportProtocolOption(tcp.ProtocolNumber, &tw))
	assert.Equal(t, tcpip.TCPTimeWaitTimeoutOption(2*time.Second), tw)
	var sack tcpip.TCPSACKEnabled
	require.Nil(t, ns.TransportProtocolOption(tcp.ProtocolNumber, &sack))
	assert.True(t, bool(sack), "SACK is on by default")
	var rec tcpip.TCPRecovery
	require.Nil(t, ns.TransportProtocolOption(tcp.ProtocolNumber, &rec))
	assert.Zero(t, rec, "RACK is off by default (stack.TCPOptions.RACK says why)")
	var rb tcpip.TCPReceiveBufferSizeRangeOption
	require.Nil(t, ns.TransportProtocolOption(tcp.ProtocolNumber, &rb))
	assert.Equal(t, 8<<20, rb.Max)
	assert.NotZero(t, rb.Min, "unset fields keep netstack's default")

	withRACK, err := stack.New(stack.Options{NICs: []stack.NIC{nic("eth0", "10.1.0.1/24")}, TCP: stack.TCPOptions{RACK: true}})
	require.NoError(t, err)
	defer withRACK.Close()
	require.Nil(t, withRACK.Netstack().TransportProtocolOption(tcp.ProtocolNumber, &rec))
	assert.Equal(t, tcpip.TCPRACKLossDetection, rec, "RACK: true turns it on")
}

// TestAddressesAreInNICOrder: netstack keeps NICs in a map, so Addresses
// sorts them; every call on a stack of several NICs gives the same list,
// loopback first, then the NICs as configured, each NIC's addresses sorted.
func TestAddressesAreInNICOrder(t *testing.T) {
	defer goleak.VerifyNone(t)
	var nics []stack.NIC
	var want []netip.Prefix
	for i := range 8 {
		n := nic(fmt.Sprintf("eth%d", i), fmt.Sprintf("10.%d.0.9/24", 20-i))
		n.Addresses = append(n.Addresses, netip.MustParsePrefix(fmt.Sprintf("10.%d.0.1/24", 20-i)))
		want = append(want, n.Addresses[1], n.Addresses[0])
		nics = append(nics, n)
	}
	st, err := stack.New(stack.Options{NICs: nics})
	require.NoError(t, err)
	defer st.Close()
	got := st.Addresses()
	require.Greater(t, len(got), len(want))
	loopback := got[:len(got)-len(want)]
	for _, p := range loopback {
		assert.True(t, p.Addr().IsLoopback(), "loopback's addresses come first: %v", got)
	}
	assert.Equal(t, want, got[len(loopback):])
	for range 20 {
		require.Equal(t, got, st.Addresses(), "every call gives the same order")
	}
}

func TestAddressesRoutesAndHosts(t *testing.T) {
	defer goleak.VerifyNone(t)
	st, err := stack.New(stack.Options{
		NICs:   []stack.NIC{nic("eth0", "10.1.0.1/24"), nic("eth1", "fd00:1::1/64")},
		Routes: []stack.Route{{Dest: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.1.0.254"), NIC: "eth0"}},
		Hosts:  map[string][]netip.Addr{"Peer": {netip.MustParseAddr("10.1.0.2")}},
	})
	require.NoError(t, err)
	defer st.Close()
	assert.Contains(t, st.Addresses(), netip.MustParsePrefix("10.1.0.1/24"))
	assert.Contains(t, st.Addresses(), netip.MustParsePrefix("fd00:1::1/64"))
	assert.Contains(t, st.Addresses(), netip.MustParsePrefix("127.0.0.1/8"))
	routes := st.Netstack().GetRouteTable()
	var sawDefault bool
	for _, r := range routes {
		if r.Destination.Prefix() == 0 && r.Gateway == tcpip.AddrFrom4([4]byte{10, 1, 0, 254}) {
			sawDefault = true
		}
	}
	assert.True(t, sawDefault, "default route via the gateway: %v", routes)
	addrs, err := st.LookupHost("peer")
	require.NoError(t, err)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.1.0.2")}, addrs, "names are case-insensitive")
	addrs, err = st.LookupHost("localhost")
	require.NoError(t, err)
	assert.Equal(t, netip.MustParseAddr("127.0.0.1"), addrs[0])
	addrs, err = st.LookupHost("::1")
	require.NoError(t, err)
	assert.Equal(t, netip.MustParseAddr("::1"), addrs[0])
	_, err = st.LookupHost("nowhere")
	assert.ErrorIs(t, err, stack.ErrUnknownHost)
}

func TestBadOptions(t *testing.T) {
	defer goleak.VerifyNone(t)
	cases := map[string]stack.Options{
		"unknown congestion control": {TCP: stack.TCPOptions{CongestionControl: "vegas"}},
		"NIC without a name":         {NICs: []stack.NIC{{Link: channel.New(1, 1500, "")}}},
		"NIC without a link":         {NICs: []stack.NIC{{Name: "eth0"}}},
		"duplicate NIC name":         {NICs: []stack.NIC{nic("eth0", "10.0.0.1/24"), nic("eth0", "10.0.1.1/24")}},
		"route to unknown NIC":       {NICs: []stack.NIC{nic("eth0", "10.0.0.1/24")}, Routes: []stack.Route{{Dest: netip.MustParsePrefix("0.0.0.0/0"), NIC: "eth9"}}},
		"route gateway of other family": {NICs: []stack.NIC{nic("eth0", "10.0.0.1/24")},
			Routes: []stack.Route{{Dest: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("fd00::1")}}},
		"ambiguous route NIC": {NICs: []stack.NIC{nic("eth0", "10.0.0.1/24"), nic("eth1", "10.0.1.1/24")},
			Routes: []stack.Route{{Dest: netip.MustParsePrefix("0.0.0.0/0")}}},
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			st, err := stack.New(o)
			assert.Error(t, err)
			assert.Nil(t, st)
		})
	}
}

// TestCloseStopsEverything: a stack with TCP processors and timers leaves
// no goroutine behind after Close, and Close is idempotent.
func TestCloseStopsEverything(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, procs := range []int{0, 1, 4} {
		st, err := stack.New(stack.Options{NICs: []stack.NIC{nic("eth0", "10.1.0.1/24")}, TCP: stack.TCPOptions{Processors: procs}})
		require.NoError(t, err)
		st.Close()
		st.Close()
	}
}
