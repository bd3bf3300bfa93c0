package tap_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/usertcp/usertcp/link/tap/taptest"
)

// TestScript checks scripts/tapns.sh's promises: up and down are
// idempotent, and an up that fails half-way removes what it made.
func TestScript(t *testing.T) {
	leakCheck(t)
	taptest.Require(t)
	script, err := taptest.Script()
	if err != nil {
		t.Fatal(err)
	}
	ns := taptest.OwnPrefix() + "script"
	sh := func(args ...string) (string, error) {
		out, err := exec.Command(script, args...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { sh("down", "-n", ns) })
	exists := func() bool {
		list, err := taptest.Namespaces(ns)
		if err != nil {
			t.Fatal(err)
		}
		return len(list) == 1
	}

	for i := range 2 {
		if out, err := sh("up", "-n", ns, "-m", "9000"); err != nil {
			t.Fatalf("up #%d: %v\n%s", i+1, err, out)
		}
	}
	out, err := sh("status", "-n", ns)
	if err != nil || !strings.Contains(out, "10.77.0.1/30") || !strings.Contains(out, "fd77:75::1/64") {
		t.Errorf("status after up: %v\n%s", err, out)
	}
	// As another user: one whole line that says what it needs, exit 0.
	if setpriv, err := exec.LookPath("setpriv"); err != nil {
		t.Logf("setpriv not installed (util-linux): status as a non-root user not checked")
	} else {
		out, err := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", script, "status", "-n", ns).CombinedOutput()
		if err != nil || string(out) != "namespace "+ns+": present; listing its devices and addresses needs root (sudo tapns.sh status -n "+ns+")\n" {
			t.Errorf("status as user nobody: %v\n%s", err, out)
		}
	}
	if out, err := exec.Command("ip", "-n", ns, "link", "show", "dev", "usertcp0").CombinedOutput(); err != nil || !strings.Contains(string(out), "mtu 9000") {
		t.Errorf("the device after up -m 9000: %v\n%s", err, out)
	}
	for i := range 2 {
		if out, err := sh("down", "-n", ns); err != nil {
			t.Fatalf("down #%d: %v\n%s", i+1, err, out)
		}
	}
	if exists() {
		t.Fatalf("namespace %s exists after down", ns)
	}

	// ip refuses an unknown owner after the namespace is made.
	out, err = sh("up", "-n", ns, "-u", "no-such-user-for-usertcp")
	if err == nil {
		t.Fatalf("up with an unknown user succeeded:\n%s", out)
	}
	if !strings.Contains(out, "removed what it had created") || exists() {
		t.Errorf("a failed up left namespace %s behind (exists: %v):\n%s", ns, exists(), out)
	}
}
