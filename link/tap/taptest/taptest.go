// Package taptest provides network namespaces with a TAP device for tests:
// the kernel side of the device is a host in the namespace, and the test's
// userspace stack opens the device from outside (tap.Options.Netns).
//
// NewNamespace runs scripts/tapns.sh, so tests use the same setup as the
// README's demo, and removes the namespace when the test ends. Tests that
// need it call Require first: without root, /dev/net/tun or iproute2 it
// skips the test and says why, unless the environment variable CI is set,
// where it fails the test instead (CI runs as root and must run them).
package taptest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/usertcp/usertcp/link/tap"
)

// The addresses scripts/tapns.sh gives the kernel side, and the ones it
// leaves to usertcp, with their prefix lengths.
var (
	Kernel4 = netip.MustParseAddr("10.77.0.1")
	User4   = netip.MustParseAddr("10.77.0.2")
	Kernel6 = netip.MustParseAddr("fd77:75::1")
	User6   = netip.MustParseAddr("fd77:75::2")
)

// The prefix lengths of the two subnets.
const (
	Bits4 = 30
	Bits6 = 64
)

// UserPrefixes are the usertcp side's addresses with prefix lengths, as a
// stack NIC takes them.
func UserPrefixes() []netip.Prefix {
	return []netip.Prefix{netip.PrefixFrom(User4, Bits4), netip.PrefixFrom(User6, Bits6)}
}

// KernelPrefixes are the kernel side's addresses with prefix lengths, as
// tap.Options.KernelAddresses takes them.
func KernelPrefixes() []netip.Prefix {
	return []netip.Prefix{netip.PrefixFrom(Kernel4, Bits4), netip.PrefixFrom(Kernel6, Bits6)}
}

// NamePrefix starts the name of every namespace NewNamespace makes, so
// that a check for leftovers can find them.
const NamePrefix = "usertcp-t"

// Unavailable says why TAP tests cannot run here, or returns "".
func Unavailable() string {
	if os.Geteuid() != 0 {
		return "TAP tests need root (CAP_NET_ADMIN and CAP_SYS_ADMIN for namespaces and TAP devices): run them as root, e.g. sudo make integration"
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return "TAP tests need /dev/net/tun: load the TUN/TAP driver (modprobe tun)"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "TAP tests need ip: apt-get install iproute2"
	}
	if _, err := Script(); err != nil {
		return err.Error()
	}
	return ""
}

// Require skips the test, saying why, if TAP tests cannot run here; when
// the environment variable CI is set it fails the test instead.
func Require(tb testing.TB) {
	tb.Helper()
	if why := Unavailable(); why != "" {
		skipOrFail(tb, why)
	}
}

// RequireCommand is Require for a command the test runs; pkg is the
// Debian package that has it.
func RequireCommand(tb testing.TB, name, pkg string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		skipOrFail(tb, fmt.Sprintf("%s is not installed: apt-get install %s", name, pkg))
	}
	return path
}

func skipOrFail(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv("CI") != "" {
		tb.Fatalf("CI is set, so this test must run, but: %s", why)
	}
	tb.Skip(why)
}

// Script returns the path of scripts/tapns.sh, found by walking up from
// the working directory to the module root.
func Script() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "scripts", "tapns.sh")
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("scripts/tapns.sh not found in %s", dir)
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("scripts/tapns.sh not found: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Namespace is a network namespace holding the kernel side of a TAP
// device.
type Namespace struct {
	// Name is the namespace's name (ip netns list shows it).
	Name string
	// Tap is the persistent TAP device in it, whose kernel side has
	// Kernel4 and Kernel6.
	Tap string
	// MTU is the kernel side's MTU.
	MTU int
}

var seq atomic.Int32

// OwnPrefix starts the name of every namespace NewNamespace makes in this
// process, so that a check for leftovers ignores other test processes
// running at the same time.
func OwnPrefix() string { return fmt.Sprintf("%s%d-", NamePrefix, os.Getpid()) }

// NewNamespace makes a namespace with a persistent TAP device whose kernel
// side has MTU mtu (0: 1500), and removes both when the test ends. It
// calls Require first.
func NewNamespace(tb testing.TB, mtu int) *Namespace {
	tb.Helper()
	Require(tb)
	if mtu == 0 {
		mtu = 1500
	}
	n := &Namespace{
		Name: fmt.Sprintf("%s%d", OwnPrefix(), seq.Add(1)),
		Tap:  "utap0",
		MTU:  mtu,
	}
	tb.Cleanup(func() {
		if out, err := n.script("down"); err != nil {
			tb.Errorf("tapns.sh down: %v\n%s", err, out)
		}
	})
	if out, err := n.script("up", "-m", fmt.Sprint(mtu)); err != nil {
		tb.Fatalf("tapns.sh up: %v\n%s", err, out)
	}
	return n
}

func (n *Namespace) script(cmd string, args ...string) ([]byte, error) {
	path, err := Script()
	if err != nil {
		return nil, err
	}
	args = append([]string{cmd, "-n", n.Name, "-t", n.Tap}, args...)
	return exec.Command(path, args...).CombinedOutput()
}

// Options returns tap.Options that open the namespace's device.
func (n *Namespace) Options() tap.Options {
	return tap.Options{Name: n.Tap, Netns: n.Name}
}

// Command returns a command that runs name in the namespace (ip netns
// exec).
func (n *Namespace) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// IP runs ip -n NAME args... and returns its output.
func (n *Namespace) IP(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"-n", n.Name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip -n %s %s: %v: %s", n.Name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// DialContext connects a kernel socket in the namespace to address.
func (n *Namespace) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := tap.InNetns(n.Name, func() error {
		var err error
		var d net.Dialer
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// Listen opens a kernel listening socket in the namespace.
func (n *Namespace) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := tap.InNetns(n.Name, func() error {
		var err error
		l, err = net.Listen(network, address)
		return err
	})
	return l, err
}

// Namespaces lists the network namespaces whose names start with prefix.
func Namespaces(prefix string) ([]string, error) {
	entries, err := os.ReadDir("/run/netns")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// TapDevices lists the TAP devices of the caller's network namespace.
func TapDevices() ([]string, error) {
	out, err := exec.Command("ip", "-o", "link", "show", "type", "tun").Output()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			names = append(names, strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":"))
		}
	}
	sort.Strings(names)
	return names, nil
}
