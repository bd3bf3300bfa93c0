package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"demo", "move TCP traffic between two userspace stacks on an in-memory link and report", runDemo},
		{"serve", "serve echo, discard and HTTP to the kernel over a TAP device", runServe},
		{"connect", "connect to HOST PORT like nc: stdin to the socket, the socket to stdout", runConnect},
		{"bench", "measure gentcp against gonet, kernel loopback and OTP gen_tcp; print ratios", runBench},
		{"version", "print the version", runVersion},
	}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit status: 0 on
// success, 2 for a usage error, 1 for a failure.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(args[1:], stdout, stderr)
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.As(err, new(usageError)):
				fmt.Fprintf(stderr, "usertcp %s: %v\n", c.name, err)
				return 2
			default:
				fmt.Fprintf(stderr, "usertcp %s: %v\n", c.name, err)
				return 1
			}
		}
	}
	fmt.Fprintf(stderr, "usertcp: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usertcp runs TCP/IP in user space (gVisor netstack) and speaks Erlang's gen_tcp on it.")
	fmt.Fprintln(w, "\nUsage: usertcp COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'usertcp COMMAND --help' for a command's flags.")
}

// usageError is a bad command line.
type usageError struct{ error }

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "usertcp", version)
	return nil
}
