package tap

import (
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"testing"
)

// TestKindOf is the translation table: each failing step and errno gives
// one sentinel, and the error still matches the errno.
func TestKindOf(t *testing.T) {
	cases := []struct {
		op    string
		errno syscall.Errno
		want  error
		hint  string
	}{
		{opOpenTun, syscall.ENOENT, ErrNoTun, "modprobe tun"},
		{opOpenTun, syscall.ENODEV, ErrNoTun, "modprobe tun"},
		{opOpenTun, syscall.EACCES, ErrPermission, "CAP_NET_ADMIN"},
		{opSetIff, syscall.EPERM, ErrPermission, "setcap cap_net_admin+ep"},
		{opSetIff, syscall.EBUSY, ErrBusy, "another process"},
		{opSetIff, syscall.EINVAL, ErrNotTAP, "is not a TAP device"},
		{opOpenNetns, syscall.ENOENT, ErrNoNetns, "ip netns add"},
		{opSetns, syscall.EPERM, ErrPermission, "CAP_SYS_ADMIN as well as CAP_NET_ADMIN"},
		{opOpenNetns, syscall.EACCES, ErrPermission, "CAP_SYS_ADMIN"},
		{opKernel + ": set MTU 9000", syscall.EPERM, ErrPermission, "CAP_NET_ADMIN"},
		{opKernel + ": set MTU 99999", syscall.EINVAL, nil, ""},
		{opSetIff, syscall.ENOMEM, nil, ""},
	}
	sentinels := []error{ErrNoTun, ErrPermission, ErrBusy, ErrNotTAP, ErrNoNetns}
	for _, c := range cases {
		t.Run(c.op+" "+c.errno.Error(), func(t *testing.T) {
			err := error(openError(c.op, "utap0", "ns1", c.errno))
			for _, s := range sentinels {
				if got := errors.Is(err, s); got != (s == c.want) {
					t.Errorf("errors.Is(%v, %v) = %v, want %v", err, s, got, !got)
				}
			}
			if !errors.Is(err, c.errno) {
				t.Errorf("errors.Is(err, %v) = false, want true", c.errno)
			}
			if c.errno == syscall.EPERM && !errors.Is(err, fs.ErrPermission) {
				t.Errorf("errors.Is(err, fs.ErrPermission) = false for EPERM")
			}
			msg := err.Error()
			for _, want := range []string{"tap utap0", "network namespace ns1", c.op, c.errno.Error(), c.hint} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
		})
	}
}

// TestNetnsPathHint: a namespace given as a path that is not one gets
// advice about paths, not "ip netns add ./ns" (which would make
// /run/netns/./ns, not ./ns).
func TestNetnsPathHint(t *testing.T) {
	for _, c := range []struct {
		op    string
		errno syscall.Errno
	}{{opOpenNetns, syscall.ENOENT}, {opSetns, syscall.EINVAL}} {
		msg := openError(c.op, "", "./ns", c.errno).Error()
		if !strings.Contains(msg, "./ns is not a network namespace file") || strings.Contains(msg, "ip netns add") {
			t.Errorf("%s %v: message %q", c.op, c.errno, msg)
		}
	}
	if msg := openError(opOpenNetns, "", "ns1", syscall.ENOENT).Error(); !strings.Contains(msg, "ip netns add ns1") {
		t.Errorf("a missing named namespace: message %q lacks the way to make it", msg)
	}
}

// TestNoTunDriver points New at a clone device that does not exist, as on
// a kernel without the TUN/TAP driver. It needs no privileges.
func TestNoTunDriver(t *testing.T) {
	old := tunPath
	tunPath = "/dev/net/tun-missing-for-test"
	defer func() { tunPath = old }()
	_, err := New(Options{Name: "utap9"})
	if !errors.Is(err, ErrNoTun) {
		t.Fatalf("New = %v, want ErrNoTun", err)
	}
	if !errors.Is(err, syscall.ENOENT) {
		t.Errorf("New = %v, want it to match ENOENT too", err)
	}
	var oe *OpenError
	if !errors.As(err, &oe) || oe.Op != opOpenTun {
		t.Errorf("New = %#v, want an *OpenError for %q", err, opOpenTun)
	}
	t.Log(err)
}
