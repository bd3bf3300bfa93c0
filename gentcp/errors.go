package gentcp

import (
	"context"
	"errors"
	"os"
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// Reason is the reason a gen_tcp call failed, named after the Erlang atom
// OTP returns in {error, Reason}. Reasons are comparable, so both
//
//	errors.Is(err, gentcp.Closed)
//	errors.Is(err, syscall.ECONNREFUSED)
//
// work; Timeout also matches os.ErrDeadlineExceeded and
// context.DeadlineExceeded, as net's timeout errors do.
type Reason string

// The reasons gen_tcp calls return. Each call's documentation lists which
// of them it can return.
const (
	// Closed: the socket is closed (by its owner, or by exit_on_close after
	// the peer closed), or the first report of a peer close or reset.
	Closed Reason = "closed"
	// Timeout: a connect, accept or recv timeout expired, or a send waited
	// longer than send_timeout.
	Timeout Reason = "timeout"
	// NotOwner: controlling_process called by a process that does not own
	// the socket.
	NotOwner Reason = "not_owner"
	// BadArg: a bad argument, such as an unknown or ill-typed option. OTP
	// raises it as an exit; gentcp returns it (see ErrBadArg).
	BadArg Reason = "badarg"
	// FunctionClause: an argument outside the function's domain, such as a
	// port above 65535 or a negative recv length. OTP raises it.
	FunctionClause Reason = "function_clause"
	// SystemLimit: a per-stack limit was reached.
	SystemLimit Reason = "system_limit"
	// Nxdomain: connect was given a name the stack's host table does not
	// have (inet's resolver error).
	Nxdomain Reason = "nxdomain"

	// POSIX reasons.
	Econnrefused  Reason = "econnrefused"
	Econnreset    Reason = "econnreset"
	Econnaborted  Reason = "econnaborted"
	Enotconn      Reason = "enotconn"
	Einval        Reason = "einval"
	Ealready      Reason = "ealready"
	Emsgsize      Reason = "emsgsize"
	Enomem        Reason = "enomem"
	Eaddrinuse    Reason = "eaddrinuse"
	Eaddrnotavail Reason = "eaddrnotavail"
	Enetunreach   Reason = "enetunreach"
	Ehostunreach  Reason = "ehostunreach"
	Etimedout     Reason = "etimedout"
	Epipe         Reason = "epipe"
	Enobufs       Reason = "enobufs"
	Eafnosupport  Reason = "eafnosupport"
	Eisconn       Reason = "eisconn"
	Eopnotsupp    Reason = "eopnotsupp"
	Emfile        Reason = "emfile"
	Eperm         Reason = "eperm"
	Ehostdown     Reason = "ehostdown"
	Enoent        Reason = "enoent"
	Ebusy         Reason = "ebusy"
	Eagain        Reason = "eagain"
	Enxio         Reason = "enxio"
	Ebadf         Reason = "ebadf"
)

// Error returns the Erlang atom.
func (r Reason) Error() string { return string(r) }

// String returns the Erlang atom.
func (r Reason) String() string { return string(r) }

// errnos maps the POSIX reasons to the errno they name.
var errnos = map[Reason]syscall.Errno{
	Econnrefused:  syscall.ECONNREFUSED,
	Econnreset:    syscall.ECONNRESET,
	Econnaborted:  syscall.ECONNABORTED,
	Enotconn:      syscall.ENOTCONN,
	Einval:        syscall.EINVAL,
	Ealready:      syscall.EALREADY,
	Emsgsize:      syscall.EMSGSIZE,
	Enomem:        syscall.ENOMEM,
	Eaddrinuse:    syscall.EADDRINUSE,
	Eaddrnotavail: syscall.EADDRNOTAVAIL,
	Enetunreach:   syscall.ENETUNREACH,
	Ehostunreach:  syscall.EHOSTUNREACH,
	Etimedout:     syscall.ETIMEDOUT,
	Epipe:         syscall.EPIPE,
	Enobufs:       syscall.ENOBUFS,
	Eafnosupport:  syscall.EAFNOSUPPORT,
	Eisconn:       syscall.EISCONN,
	Eopnotsupp:    syscall.EOPNOTSUPP,
	Emfile:        syscall.EMFILE,
	Eperm:         syscall.EPERM,
	Ehostdown:     syscall.EHOSTDOWN,
	Enoent:        syscall.ENOENT,
	Ebusy:         syscall.EBUSY,
	Eagain:        syscall.EAGAIN,
	Enxio:         syscall.ENXIO,
	Ebadf:         syscall.EBADF,
	Timeout:       syscall.ETIMEDOUT,
}

// Is answers errors.Is for the errno a POSIX reason names, for
// os.ErrDeadlineExceeded and context.DeadlineExceeded (Timeout), for
// net.ErrClosed-style checks via ErrClosed (Closed), and for ErrBadArg
// (BadArg).
func (r Reason) Is(target error) bool {
	switch target {
	case os.ErrDeadlineExceeded, context.DeadlineExceeded:
		return r == Timeout
	case ErrBadArg:
		return r == BadArg
	}
	if e, ok := target.(syscall.Errno); ok {
		return errnos[r] == e
	}
	return false
}

// Timeout reports whether r is Timeout, for callers that test net.Error.
func (r Reason) Timeout() bool { return r == Timeout }

// Errno returns the errno a POSIX reason names, or 0.
func (r Reason) Errno() syscall.Errno { return errnos[r] }

// ErrBadArg is matched (errors.Is) by every error caused by a bad argument:
// an unknown option, an ill-typed value, a malformed option term. OTP
// raises badarg for these in connect and listen, and returns einval from
// setopts; both match ErrBadArg here, and the OptionError says which.
var ErrBadArg = errors.New("badarg")

// OptionError is a bad option: its Erlang form, what is wrong with it, and
// the Reason OTP gives (BadArg when creating a socket, Einval from setopts
// and getopts).
type OptionError struct {
	Option string // the option (or argument) in Erlang syntax, e.g. {packet,5}
	Msg    string // what is wrong with it; may be empty
	Reason Reason // BadArg or Einval
}

// Error names the option, what is wrong with it and the Reason.
func (e *OptionError) Error() string {
	if e.Msg == "" {
		return "gentcp: bad option " + e.Option + ": " + string(e.Reason)
	}
	return "gentcp: bad option " + e.Option + ": " + e.Msg + " (" + string(e.Reason) + ")"
}

// Unwrap returns the Reason.
func (e *OptionError) Unwrap() error { return e.Reason }

// Is matches ErrBadArg whatever the Reason, since the cause is always a bad
// argument.
func (e *OptionError) Is(target error) bool { return target == ErrBadArg }

// reasonOf translates a netstack error into the Reason OTP reports for the
// same condition on Linux. It is the only place gentcp looks at netstack
// errors, and it switches on types, never on strings.
func reasonOf(err tcpip.Error) Reason {
	switch err.(type) {
	case nil:
		return ""
	case *tcpip.ErrConnectionRefused:
		return Econnrefused
	case *tcpip.ErrConnectionReset:
		return Econnreset
	case *tcpip.ErrConnectionAborted, *tcpip.ErrAborted:
		return Econnaborted
	case *tcpip.ErrNotConnected, *tcpip.ErrClosedForReceive, *tcpip.ErrClosedForSend:
		return Enotconn
	case *tcpip.ErrInvalidEndpointState, *tcpip.ErrInvalidOptionValue, *tcpip.ErrBadBuffer,
		*tcpip.ErrUnknownProtocolOption, *tcpip.ErrMissingRequiredFields:
		return Einval
	case *tcpip.ErrAlreadyConnecting, *tcpip.ErrConnectStarted:
		return Ealready
	case *tcpip.ErrAlreadyConnected:
		return Eisconn
	case *tcpip.ErrMessageTooLong:
		return Emsgsize
	case *tcpip.ErrPortInUse, *tcpip.ErrAlreadyBound:
		return Eaddrinuse
	case *tcpip.ErrBadLocalAddress, *tcpip.ErrNoPortAvailable:
		return Eaddrnotavail
	case *tcpip.ErrNetworkUnreachable, *tcpip.ErrNoNet:
		return Enetunreach
	case *tcpip.ErrHostUnreachable:
		return Ehostunreach
	case *tcpip.ErrHostDown:
		return Ehostdown
	case *tcpip.ErrTimeout:
		return Etimedout
	case *tcpip.ErrNoBufferSpace, *tcpip.ErrQueueSizeNotSupported:
		return Enobufs
	case *tcpip.ErrAddressFamilyNotSupported, *tcpip.ErrUnknownProtocol:
		return Eafnosupport
	case *tcpip.ErrNotSupported, *tcpip.ErrBroadcastDisabled, *tcpip.ErrMulticastInputCannotBeOutput:
		return Eopnotsupp
	case *tcpip.ErrNotPermitted:
		return Eperm
	case *tcpip.ErrWouldBlock:
		return Eagain
	case *tcpip.ErrEndpointBusy:
		return Ebusy
	case *tcpip.ErrDuplicateAddress, *tcpip.ErrBadAddress, *tcpip.ErrDestinationRequired:
		return Eaddrnotavail
	case *tcpip.ErrInvalidNICID, *tcpip.ErrUnknownNICID, *tcpip.ErrUnknownDevice, *tcpip.ErrDuplicateNICID:
		return Enxio
	case *tcpip.ErrNoSuchFile:
		return Enoent
	case *tcpip.ErrInvalidPortRange, *tcpip.ErrMalformedHeader:
		return Einval
	default:
		// A netstack error added after this table was written: report it
		// as einval rather than inventing a reason.
		return Einval
	}
}
