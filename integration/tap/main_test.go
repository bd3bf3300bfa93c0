// Package tap_test holds usertcp's tests across the TAP boundary: a
// userspace stack on one side of a TAP device, the Linux kernel on the
// other, in a network namespace of the test's own, and real programs
// (curl, nc, socat, erl, the usertcp command) in that namespace.
//
// The bodies in conn_test.go run over memlink too, where the peer is a
// second usertcp stack (fixture_test.go). Without root or /dev/net/tun the
// TAP tests skip and say why; with the environment variable CI set they
// fail instead. Traffic goes only to the namespace's addresses
// (10.77.0.0/30, fd77:75::/64 and the like) and loopback.
package tap_test

import (
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/usertcp/usertcp/link/tap/taptest"
)

// binDir holds the usertcp binary the CLI tests build.
var binDir string

// TestMain checks that the run leaves no network namespace or TAP device
// behind: it lists them before and after the tests, and fails the run if
// the lists differ.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "usertcp-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	canCheck := taptest.Unavailable() == ""
	var nsBefore, tapsBefore []string
	if canCheck {
		nsBefore, tapsBefore = inventory()
	}
	code := m.Run()
	os.RemoveAll(dir)
	if canCheck {
		nsAfter, tapsAfter := inventory()
		if !slices.Equal(nsBefore, nsAfter) || !slices.Equal(tapsBefore, tapsAfter) {
			fmt.Fprintf(os.Stderr, "FAIL: left behind: namespaces %q (before %q), TAP devices %q (before %q)\n",
				nsAfter, nsBefore, tapsAfter, tapsBefore)
			code = 1
		} else {
			fmt.Printf("leftovers: none (namespaces %q, TAP devices %q before and after)\n", nsAfter, tapsAfter)
		}
	}
	os.Exit(code)
}

// inventory lists this process's test namespaces (other test binaries
// may be making their own meanwhile) and the TAP devices of the
// process's own namespace.
func inventory() (namespaces, taps []string) {
	ns, err := taptest.Namespaces(taptest.OwnPrefix())
	if err != nil {
		fmt.Fprintln(os.Stderr, "list namespaces:", err)
	}
	taps, err = taptest.TapDevices()
	if err != nil {
		fmt.Fprintln(os.Stderr, "list TAP devices:", err)
	}
	return ns, taps
}
