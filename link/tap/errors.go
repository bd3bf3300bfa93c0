package tap

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// The reasons New can fail to get a device, one sentinel each, for
// errors.Is. The error New returns is an *OpenError that matches one of
// them (or none, for rarer failures) and also the syscall.Errno behind it.
var (
	// ErrNoTun: /dev/net/tun is missing, or the kernel has no TUN/TAP
	// driver (ENOENT, ENODEV, ENXIO).
	ErrNoTun = errors.New("no TUN/TAP driver")

	// ErrPermission: the process may not open /dev/net/tun (EACCES) or
	// may not create or attach the device: that needs CAP_NET_ADMIN, unless
	// the device is persistent and owned by the caller (EPERM).
	ErrPermission = errors.New("not permitted")

	// ErrBusy: another file descriptor has the device attached (EBUSY).
	// A TAP device serves one reader at a time.
	ErrBusy = errors.New("device busy")

	// ErrNotTAP: a network device of that name exists and is not a TAP
	// device (a TUN device, an Ethernet card, a bridge, ...) (EINVAL).
	ErrNotTAP = errors.New("not a TAP device")

	// ErrNoNetns: Options.Netns names a network namespace that does not
	// exist.
	ErrNoNetns = errors.New("no such network namespace")
)

// OpenError is the error New returns when it cannot open, create or
// configure the device. Its message says what to do about it.
type OpenError struct {
	// Op is what failed: "open /dev/net/tun", "TUNSETIFF", "setns", ...
	Op string
	// Name is the device name.
	Name string
	// Netns is Options.Netns ("" for the caller's namespace).
	Netns string
	// Err is the underlying error, usually a syscall.Errno.
	Err error
	// Kind is the sentinel this error matches (ErrNoTun, ErrPermission,
	// ErrBusy, ErrNotTAP, ErrNoNetns), or nil.
	Kind error
}

// Error says which device and step failed, the errno, and what to do
// about it.
func (e *OpenError) Error() string {
	var msg string
	switch {
	case e.Name == "":
		msg = "tap: network namespace " + e.Netns
	case e.Netns == "":
		msg = "tap " + e.Name
	default:
		msg = "tap " + e.Name + " in network namespace " + e.Netns
	}
	msg += fmt.Sprintf(": %s: %v", e.Op, e.Err)
	if h := e.hint(); h != "" {
		msg += ": " + h
	}
	return msg
}

// hint tells the user what to do.
func (e *OpenError) hint() string {
	switch e.Kind {
	case ErrNoTun:
		return "the kernel's TUN/TAP driver is missing: load it (modprobe tun), or in a container pass the device in (docker run --device /dev/net/tun --cap-add NET_ADMIN)"
	case ErrPermission:
		if e.Op == opSetns || e.Op == opOpenNetns {
			return "joining a network namespace needs CAP_SYS_ADMIN as well as CAP_NET_ADMIN: run as root (sudo), or run usertcp inside the namespace (sudo ip netns exec " + e.Netns + " usertcp ...) without --netns"
		}
		return fmt.Sprintf("a TAP device needs CAP_NET_ADMIN: run as root (sudo), give the binary the capability (setcap cap_net_admin+ep ./usertcp), or have root create a persistent device you own (ip tuntap add dev %s mode tap user $USER)", e.Name)
	case ErrBusy:
		return "another process has this TAP device open (a TAP device serves one process): stop it, or choose another device name"
	case ErrNotTAP:
		return fmt.Sprintf("a network device named %q exists and is not a TAP device: choose another name, or delete it (ip link del %s)", e.Name, e.Name)
	case ErrNoNetns:
		if strings.ContainsRune(e.Netns, '/') {
			// A path names a file, which ip netns add does not make.
			return fmt.Sprintf("%s is not a network namespace file: with a slash, Netns is a path such as /proc/PID/ns/net or /run/netns/NAME; without one, a name from ip netns", e.Netns)
		}
		return fmt.Sprintf("create it first (ip netns add %s, or scripts/tapns.sh up -n %s)", e.Netns, e.Netns)
	}
	return ""
}

// Unwrap returns the underlying error, so that errors.Is also matches the
// errno (syscall.EPERM, fs.ErrPermission, ...).
func (e *OpenError) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of this error's kind.
func (e *OpenError) Is(target error) bool { return target != nil && target == e.Kind }

// kindOf maps the errno of a failed step to a sentinel. It is the one
// translation table of this package; op is the step that failed.
func kindOf(op string, err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return nil
	}
	switch op {
	case opOpenTun:
		switch errno {
		case syscall.ENOENT, syscall.ENODEV, syscall.ENXIO:
			return ErrNoTun
		case syscall.EACCES, syscall.EPERM:
			return ErrPermission
		}
	case opSetIff:
		switch errno {
		case syscall.EPERM, syscall.EACCES:
			return ErrPermission
		case syscall.EBUSY:
			return ErrBusy
		case syscall.EINVAL:
			// tun_set_iff: the name exists but is not a TAP device, or
			// has the other multi-queue flag. usertcp never asks for
			// multi-queue, so a multi-queue TAP also lands here.
			return ErrNotTAP
		}
	case opOpenNetns:
		switch errno {
		case syscall.ENOENT:
			return ErrNoNetns
		case syscall.EACCES, syscall.EPERM:
			return ErrPermission
		}
	case opSetns:
		switch errno {
		case syscall.EPERM:
			return ErrPermission
		case syscall.EINVAL:
			// Not a network namespace file.
			return ErrNoNetns
		}
	}
	if strings.HasPrefix(op, opKernel) {
		switch errno {
		case syscall.EPERM, syscall.EACCES:
			return ErrPermission
		}
	}
	return nil
}

// The steps of opening a device, as OpenError.Op names them.
const (
	opOpenTun   = "open /dev/net/tun"
	opSetIff    = "TUNSETIFF"
	opOpenNetns = "open network namespace"
	opSetns     = "setns"
	opKernel    = "configure the kernel side"
)

func openError(op, name, netns string, err error) *OpenError {
	return &OpenError{Op: op, Name: name, Netns: netns, Err: err, Kind: kindOf(op, err)}
}
