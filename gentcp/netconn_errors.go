// netconn_errors.go shapes the Go adapter's errors as Go's net package
// shapes its own, so Go programs and their logs read what they expect:
// an *net.OpError with Op, Net, Source and Addr around an *os.SyscallError
// with the errno's words ("dial tcp 10.0.0.1:9999: connect: connection
// refused"), an *net.DNSError for a name that does not resolve, "i/o
// timeout" for a deadline. errors.Is and errors.As find gentcp's Reason
// as well as Go's value (syscall.ECONNREFUSED, os.ErrDeadlineExceeded).
//
// Locks: none.

package gentcp

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
)

// goError is a Reason worded as Go's net words the error it stands for:
// Error is Go's text, and errors.Is and errors.As find both.
type goError struct {
	reason Reason
	goErr  error // a syscall.Errno, or os.ErrDeadlineExceeded for Timeout
}

func (e *goError) Error() string { return e.goErr.Error() }

// Unwrap gives the Reason and Go's error, for errors.Is and errors.As.
func (e *goError) Unwrap() []error { return []error{e.reason, e.goErr} }

// Timeout answers net.Error's question (net.OpError asks it).
func (e *goError) Timeout() bool { return e.reason == Timeout || e.reason == Etimedout }

// Temporary answers the deprecated net.Error question as syscall.Errno
// and os.ErrDeadlineExceeded do.
func (e *goError) Temporary() bool { return e.Timeout() }

// errCanceled is what Go's net gives for a dial whose context was
// cancelled: "operation was canceled", matching context.Canceled.
var errCanceled = canceledError{}

type canceledError struct{}

func (canceledError) Error() string        { return "operation was canceled" }
func (canceledError) Is(target error) bool { return target == context.Canceled }

// netErr is err as Go's net puts it in an OpError's Err for a call that
// failed in syscall (connect, read, write, bind, accept): a POSIX reason
// inside an *os.SyscallError, Timeout as "i/o timeout", a cancelled
// context as "operation was canceled". Closed and Enotconn on a write are
// a broken pipe, as Linux says for a write after the connection ended.
// Anything else (an *OptionError, an *net.AddrError) is left as it is.
func netErr(syscall string, err error) error {
	if errors.Is(err, context.Canceled) {
		return errCanceled
	}
	var r Reason
	if !errors.As(err, &r) {
		return err
	}
	switch {
	case r == Timeout:
		return &goError{r, os.ErrDeadlineExceeded}
	case syscall == "write" && (r == Closed || r == Enotconn):
		return os.NewSyscallError(syscall, &goError{r, syscallEPIPE})
	}
	if errno, ok := errnos[r]; ok {
		return os.NewSyscallError(syscall, &goError{r, errno})
	}
	return err
}

// syscallEPIPE is syscall.EPIPE, named so netErr's parameter can be called
// syscall as Go's os.SyscallError calls it.
const syscallEPIPE = syscall.EPIPE

// dnsNotFound is the *net.DNSError Go gives for a name that does not
// resolve; it unwraps to Nxdomain.
func dnsNotFound(name string) *net.DNSError {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true, UnwrapErr: Nxdomain}
}

// tcpAddr is an address as an OpError holds it: a nil net.Addr (not a nil
// *net.TCPAddr, which would print "<nil>") when there is none.
func tcpAddr(a *net.TCPAddr) net.Addr {
	if a == nil {
		return nil
	}
	return a
}
