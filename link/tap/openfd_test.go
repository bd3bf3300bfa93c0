package tap_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"

	"github.com/usertcp/usertcp/link/tap"
	"github.com/usertcp/usertcp/link/tap/taptest"
	"github.com/usertcp/usertcp/stack"
)

// TestOpenFD: OpenFD creates and configures a device as New does and
// hands back a descriptor of plain Ethernet frames: gVisor's fdbased link
// on it (which knows no virtio-net header) reaches the kernel side; closing
// the descriptor deletes the device. A device that is not a TAP is refused
// as New refuses it.
func TestOpenFD(t *testing.T) {
	leakCheck(t)
	ns := taptest.NewNamespace(t, 0)
	k4 := netip.MustParsePrefix("10.77.2.1/30")
	fd, err := tap.OpenFD(tap.Options{Name: "plain%d", Netns: ns.Name, KernelAddresses: []netip.Prefix{k4}})
	if err != nil {
		t.Fatalf("OpenFD: %v", err)
	}
	out, err := ns.IP("addr", "show", "dev", "plain0")
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	if !strings.Contains(out, k4.String()) || !strings.Contains(out, ",UP") {
		t.Errorf("ip addr show plain0 lacks %v or UP:\n%s", k4, out)
	}
	ep, err := fdbased.New(&fdbased.Options{FDs: []int{fd}, MTU: 1500, EthernetHeader: true,
		Address: tcpip.LinkAddress("\x02\x75\x00\x00\x00\x42")})
	if err != nil {
		unix.Close(fd)
		t.Fatalf("fdbased.New: %v", err)
	}
	st, err := stack.New(stack.Options{NICs: []stack.NIC{{Name: "eth0", Link: ep,
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.77.2.2/30")}}}})
	if err != nil {
		unix.Close(fd)
		t.Fatalf("stack.New: %v", err)
	}
	ping(t, st, k4.Addr())
	st.Close()
	ep.Wait() // fdbased's readers are gone; the descriptor stays the caller's
	if err := unix.Close(fd); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := ns.IP("link", "show", "dev", "plain0"); err == nil {
		t.Errorf("plain0 still exists after its descriptor closed")
	}

	if _, err := tap.OpenFD(tap.Options{Name: "lo", Netns: ns.Name}); !errors.Is(err, tap.ErrNotTAP) {
		t.Errorf("OpenFD(lo) = %v, want ErrNotTAP", err)
	}
	// Settings New refuses before touching the kernel, OpenFD refuses too.
	for _, o := range []tap.Options{
		{Name: "a-name-of-16-byte", Netns: ns.Name},
		{Name: "plain%d", Netns: ns.Name, KernelMTU: 10},
	} {
		if fd, err := tap.OpenFD(o); err == nil {
			unix.Close(fd)
			t.Errorf("OpenFD(%+v) = nil error, want a refusal", o)
		}
	}
}
