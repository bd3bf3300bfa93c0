package bench

import (
	"bufio"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/usertcp/usertcp/gentcp"
)

//go:embed otp/bench.escript
var escript []byte

// EscriptPath returns the path of escript, or ErrUnavailable saying how
// to install it.
func EscriptPath() (string, error) {
	p, err := exec.LookPath("escript")
	if err != nil {
		return "", fmt.Errorf("%w: escript not found (apt-get install erlang-base)", ErrUnavailable)
	}
	return p, nil
}

// OTPRelease returns the installed OTP release ("25"), or "".
func OTPRelease() string {
	erl, err := exec.LookPath("erl")
	if err != nil {
		return ""
	}
	out, err := exec.Command(erl, "-noshell", "-eval", `io:put_chars(erlang:system_info(otp_release)), halt().`).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// otpRunner drives otp/bench.escript over its standard input and output.
type otpRunner struct {
	cmd     *exec.Cmd
	dir     string
	in      io.WriteCloser
	out     *bufio.Reader
	stderr  lockedBuffer
	rtt     bool
	samples []time.Duration
}

func startOTP(c Case) (runner, error) {
	path, err := EscriptPath()
	if err != nil {
		return nil, err
	}
	switch c.Measurement {
	case Bulk, RoundTrip, ConnRate, MessageRate:
	default:
		return nil, fmt.Errorf("%w: no %s measurement for OTP", ErrUnavailable, c.Measurement)
	}
	dir, err := os.MkdirTemp("", "usertcp-bench-")
	if err != nil {
		return nil, err
	}
	script := dir + "/bench.escript"
	if err := os.WriteFile(script, escript, 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	mode, d := c.Mode, c.Dir
	if mode == "" {
		mode = "none"
	}
	if d == "" {
		d = Up
	}
	r := &otpRunner{dir: dir, rtt: c.Measurement == RoundTrip}
	// OTP's sockets get the options gentcp's get in the same case, written
	// as the Erlang list a user would write.
	sockOpts := append(slices.Clone(gentcpBase), workloadOptions(c.Measurement)...)
	r.cmd = exec.Command(path, script, c.Measurement, strconv.Itoa(max(c.Conns, 1)), d, mode,
		erlangList(sockOpts), erlangList(listenOptions))
	r.cmd.Stderr = &r.stderr
	if r.in, err = r.cmd.StdinPipe(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	r.out = bufio.NewReaderSize(stdout, 1<<20)
	if err := r.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if line, err := r.line(); err != nil || line != "ready" {
		r.close()
		return nil, r.fail(line, err)
	}
	return r, nil
}

// erlangList writes opts in Erlang syntax: [binary,{packet,4}].
func erlangList(opts []gentcp.Option) string {
	s := make([]string, len(opts))
	for i, o := range opts {
		s[i] = o.String()
	}
	return "[" + strings.Join(s, ",") + "]"
}

func (r *otpRunner) line() (string, error) {
	s, err := r.out.ReadString('\n')
	return strings.TrimSuffix(s, "\n"), err
}

func (r *otpRunner) fail(line string, err error) error {
	msg := strings.TrimSpace(line + " " + r.stderr.String())
	if err != nil && msg == "" {
		return fmt.Errorf("escript: %w", err)
	}
	return fmt.Errorf("escript: %s", msg)
}

func (r *otpRunner) run(n int) error {
	if _, err := fmt.Fprintf(r.in, "run %d\n", n); err != nil {
		return r.fail("", err)
	}
	line, err := r.line()
	if err != nil || !strings.HasPrefix(line, "ok") {
		return r.fail(line, err)
	}
	if r.rtt {
		for f := range strings.FieldsSeq(line[2:]) {
			ns, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return r.fail(line, err)
			}
			r.samples = append(r.samples, time.Duration(ns))
		}
	}
	return nil
}

func (r *otpRunner) takeSamples() []time.Duration {
	s := r.samples
	r.samples = nil
	return s
}

// close asks the script to quit and waits for it; after 10 s it is
// killed.
func (r *otpRunner) close() error {
	defer os.RemoveAll(r.dir)
	io.WriteString(r.in, "quit\n")
	r.in.Close()
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return r.fail("", err)
		}
		return err
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-done
		return errors.New("escript: did not quit; killed")
	}
}

// lockedBuffer collects the script's standard error, which exec copies in
// a goroutine of its own while run may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
