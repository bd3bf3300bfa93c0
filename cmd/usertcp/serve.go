package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/usertcp/usertcp/config"
	"github.com/usertcp/usertcp/internal/services"
)

// servicePorts are the ports of serve's services (package services), set
// by flags; 0 turns one off.
type servicePorts services.Ports

func (p *servicePorts) register(fs *flag.FlagSet) {
	fs.IntVar(&p.Echo, "echo", 7, "`PORT` of the echo service (RFC 862) on gen_tcp; 0: off")
	fs.IntVar(&p.Discard, "discard", 9, "`PORT` of the discard service (RFC 863) on gen_tcp; 0: off")
	fs.IntVar(&p.HTTP, "http", 80, "`PORT` of the HTTP server (Go's net/http on gentcp's net.Listener); 0: off")
}

func (p *servicePorts) check() error {
	seen := map[int]string{}
	for _, s := range []struct {
		name string
		port int
	}{{"echo", p.Echo}, {"discard", p.Discard}, {"http", p.HTTP}} {
		if s.port < 0 || s.port > 65535 {
			return fmt.Errorf("--%s %d: want 0..65535", s.name, s.port)
		}
		if s.port == 0 {
			continue
		}
		if other, ok := seen[s.port]; ok {
			return fmt.Errorf("--%s and --%s are both port %d", other, s.name, s.port)
		}
		seen[s.port] = s.name
	}
	return nil
}

func runServe(args []string, stdout, stderr io.Writer) error {
	var lf linkFlags
	var ports servicePorts
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	help := `Usage: usertcp serve --tap NAME [flags]

Runs services on a userspace stack attached to a TAP device, for the kernel
and real programs on its other side to use: echo and discard on gen_tcp, and
an HTTP server (Go's net/http over gentcp's net.Listener). Each listens on
IPv4 and IPv6. Ctrl-C (SIGINT) or SIGTERM stops them, closes the stack and
removes the device if serve created it.

The device is created if it does not exist; its kernel side then gets
10.77.0.1/30 and fd77:75::1/64, and the stack 10.77.0.2 and fd77:75::2.
scripts/tapns.sh makes one inside a network namespace instead:

  sudo scripts/tapns.sh up
  sudo usertcp serve --tap usertcp0 --netns usertcp &
  sudo ip netns exec usertcp curl http://10.77.0.2/

HTTP paths: / (a greeting), /bytes/N (N bytes of a fixed pattern),
POST /sha256 (the SHA-256 of the body).

Flags:
`
	lf.register(fs)
	ports.register(fs)
	if err := parseFlags(fs, args, help, stdout); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if err := ports.check(); err != nil {
		return usageError{err}
	}
	cfg, err := lf.load()
	if err != nil {
		return err
	}
	if cfg.Link.Kind != config.Tap {
		return usageError{errors.New("serve needs a TAP link: --tap NAME, or a config with [link] kind = \"tap\" (on a memlink, 'usertcp connect' runs the services in its own process)")}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	w, closeWorld, err := lf.open(cfg)
	if err != nil {
		return err
	}
	name := cfg.Stacks[0].Name
	node := w.nodes[name]
	svc, err := services.Start(node, services.Ports(ports), stderr)
	if err != nil {
		closeWorld()
		return err
	}
	fmt.Fprintf(stdout, "usertcp serve: stack %q on %s\n", name, describeTap(w.tap))
	var addrs []string
	for _, a := range w.stacks[name].Addresses() {
		if !a.Addr().IsLoopback() {
			addrs = append(addrs, a.String())
		}
	}
	fmt.Fprintf(stdout, "  addresses  %s\n", strings.Join(addrs, " "))
	for _, l := range svc.Describe() {
		fmt.Fprintf(stdout, "  %s\n", l)
	}
	fmt.Fprintln(stdout, "ready; Ctrl-C stops")
	<-ctx.Done()
	fmt.Fprintln(stdout, "usertcp serve: stopping")
	if err := svc.Stop(); err != nil {
		fmt.Fprintf(stderr, "usertcp serve: %v\n", err)
	}
	closeWorld()
	msg := "usertcp serve: stopped after " + plural(svc.Served(), "connection")
	if w.tap.Created() {
		msg += "; TAP " + w.tap.Name() + " removed"
	}
	fmt.Fprintln(stdout, msg)
	return nil
}
