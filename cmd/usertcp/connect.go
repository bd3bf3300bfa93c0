package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/usertcp/usertcp/config"
	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/internal/services"
)

// stdin is what connect sends; a variable for tests.
var stdin io.Reader = os.Stdin

func runConnect(args []string, stdout, stderr io.Writer) error {
	var lf linkFlags
	var ports servicePorts
	var from string
	var timeout time.Duration
	fs := flag.NewFlagSet("connect", flag.ContinueOnError)
	help := `Usage: usertcp connect [flags] HOST PORT

Connects a gen_tcp socket from a userspace stack to HOST:PORT, copies
standard input to it and what it receives to standard output. At the end of
standard input it shuts the socket down for writing (a half-close, like
nc -N) and keeps reading until the peer closes. HOST is an address or a name
in the stack's host table.

Over a TAP device (--tap NAME, or a tap config) the peer is the kernel side.
With the namespace of scripts/tapns.sh (its device usertcp0, kernel side
10.77.0.1, which the stack's host table calls "kernel"):

  sudo scripts/tapns.sh up
  sudo ip netns exec usertcp nc -l 10.77.0.1 7000 &
  echo hello | sudo usertcp connect --tap usertcp0 --netns usertcp kernel 7000

A device that does not exist is created with the kernel side 10.77.0.1/30;
connect refuses to create one where another device has that subnet.

Over a memlink (the default setup: stacks "server" and "client"), connect
runs serve's services (echo, discard, http) on the other stacks of this
process and connects from the last stack (--from):

  echo hello | usertcp connect server 7

Flags:
`
	lf.register(fs)
	ports.register(fs)
	fs.StringVar(&from, "from", "", "memlink: the `STACK` that connects (default: the config's last stack)")
	fs.DurationVar(&timeout, "timeout", 10*time.Second, "give up connecting after this long")
	for _, name := range []string{"echo", "discard", "http"} {
		f := fs.Lookup(name)
		f.Usage = "memlink: " + f.Usage
	}
	if err := parseFlags(fs, args, help, stdout); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usageError{errors.New("want HOST PORT")}
	}
	host := fs.Arg(0)
	port, err := strconv.Atoi(fs.Arg(1))
	if err != nil || port < 1 || port > 65535 {
		return usageError{fmt.Errorf("port %q: want 1..65535", fs.Arg(1))}
	}
	if err := ports.check(); err != nil {
		return usageError{err}
	}
	if timeout <= 0 {
		return usageError{errors.New("--timeout must be positive")}
	}
	cfg, err := lf.load()
	if err != nil {
		return err
	}
	if from == "" {
		from = cfg.Stacks[len(cfg.Stacks)-1].Name
	} else if cfg.Stack(from) == nil {
		return usageError{fmt.Errorf("--from %s: no such stack in the config", from)}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	w, closeWorld, err := lf.open(cfg)
	if err != nil {
		return err
	}
	defer closeWorld()
	if cfg.Link.Kind == config.Memlink {
		// The peers live in this process: serve on every other stack.
		for _, sc := range cfg.Stacks {
			if sc.Name == from {
				continue
			}
			svc, err := services.Start(w.nodes[sc.Name], services.Ports(ports), stderr)
			if err != nil {
				return fmt.Errorf("stack %q: %w", sc.Name, err)
			}
			defer svc.Stop()
		}
	}
	return connect(ctx, w.nodes[from], host, port, timeout, stdout)
}

// connect runs one connection: stdin to the socket, the socket to out.
func connect(ctx context.Context, node *gentcp.Node, host string, port int, timeout time.Duration, out io.Writer) error {
	p := node.NewProcess()
	defer p.Exit()
	// exit_on_close false: after the peer's FIN, or our shutdown, the
	// other direction stays open.
	s, err := p.ConnectContext(ctx, host, port, timeout, gentcp.Binary, gentcp.Active(false),
		gentcp.PacketRaw, gentcp.ExitOnClose(false), gentcp.Nodelay(true), gentcp.Buffer(64<<10))
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("%s port %d: %w", host, port, err)
	}
	// After Ctrl-C the stdin reader may stay blocked in a read; the
	// process exits then anyway.
	sendErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, rerr := stdin.Read(buf)
			if n > 0 {
				if err := s.Send(buf[:n]); err != nil {
					sendErr <- err
					return
				}
			}
			if rerr != nil {
				// End of input (or a broken one): half-close.
				s.Shutdown(gentcp.ShutdownWrite)
				if rerr == io.EOF {
					rerr = nil
				}
				sendErr <- rerr
				return
			}
		}
	}()
	for {
		d, err := s.RecvContext(ctx, 0, gentcp.Infinity)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, gentcp.Closed) {
				break
			}
			return fmt.Errorf("recv: %w", err)
		}
		if _, err := out.Write(d.Bytes); err != nil {
			return err
		}
	}
	// The peer has closed its side; as nc -N, keep sending until the end
	// of input (a peer that closed both sides makes the send fail).
	err = nil
	select {
	case err = <-sendErr:
	case <-ctx.Done():
	}
	s.Close()
	if err != nil && !errors.Is(err, gentcp.Closed) && !errors.Is(err, gentcp.Econnreset) && ctx.Err() == nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}
