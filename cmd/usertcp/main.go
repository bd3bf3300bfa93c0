package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
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
		{"version", "print the versions a bug report needs (also: usertcp --version)", runVersion},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit status: 0 on
// success, 2 for a usage error, 1 for a failure. Help goes to stdout, so
// that it can be paged; errors go to stderr, a usage error as one line
// and a pointer to --help.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	case "-version", "--version":
		args = append([]string{"version"}, args[1:]...)
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
				fmt.Fprintf(stderr, "usertcp %s: %v\nRun 'usertcp %s --help' for usage.\n", c.name, err, c.name)
				return 2
			default:
				fmt.Fprintf(stderr, "usertcp %s: %v\n", c.name, err)
				return 1
			}
		}
	}
	fmt.Fprintf(stderr, "usertcp: unknown command %q\nRun 'usertcp --help' for usage.\n", args[0])
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

// usageError is a bad command line: run prints it with a pointer to
// --help and exits 2.
type usageError struct{ error }

// parseFlags parses args with fs, the one place every command does. The
// flag package prints nothing: --help prints help (the command's text,
// then its flags) to stdout and returns flag.ErrHelp; any other failure
// comes back as a usageError for run to print in one line.
func parseFlags(fs *flag.FlagSet, args []string, help string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, help)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return err
	case err != nil:
		return usageError{err}
	}
	return nil
}

// noArgs refuses positional arguments left after the flags.
func noArgs(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// optFloat, optInt and optDuration are flags that remember whether they
// were given, so an absent flag leaves the config's value alone. Their
// errors are what the flag package prints after `invalid value "x" for
// flag -name: `.
type optFloat struct {
	v   float64
	set bool
}

func (o *optFloat) String() string {
	if !o.set {
		return ""
	}
	return strconv.FormatFloat(o.v, 'g', -1, 64)
}

func (o *optFloat) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return errors.New("want a number")
	}
	o.v, o.set = v, true
	return nil
}

type optInt struct {
	v   int64
	set bool
}

func (o *optInt) String() string {
	if !o.set {
		return ""
	}
	return strconv.FormatInt(o.v, 10)
}

func (o *optInt) Set(s string) error {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return errors.New("want an integer")
	}
	o.v, o.set = v, true
	return nil
}

type optDuration struct {
	v   time.Duration
	set bool
}

func (o *optDuration) String() string {
	if !o.set {
		return ""
	}
	return o.v.String()
}

func (o *optDuration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("want a duration such as 5ms or 1s")
	}
	if v < 0 {
		return errors.New("must not be negative")
	}
	o.v, o.set = v, true
	return nil
}
