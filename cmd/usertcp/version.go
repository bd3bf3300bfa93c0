package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// gvisorModule is the module path of gVisor, whose version version reports.
const gvisorModule = "gvisor.dev/gvisor"

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	help := `Usage: usertcp version

Prints what a bug report needs: usertcp's version, its module version and
VCS revision (from the build information Go stamps into the binary), the
Go version it was built with and the gVisor version it runs. usertcp
--version prints the same.

`
	if err := parseFlags(fs, args, help, stdout); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	bi, _ := debug.ReadBuildInfo()
	writeVersion(stdout, bi)
	return nil
}

// writeVersion prints the version report from bi (nil: no build
// information).
func writeVersion(w io.Writer, bi *debug.BuildInfo) {
	module, revision, gvisor := "unknown (no build information)", "unknown", "unknown"
	if bi != nil {
		module = "(devel)"
		if bi.Main.Path != "" {
			module = bi.Main.Path + " " + bi.Main.Version
		}
		revision = "unknown (no VCS stamp: built by go test, go run, or with -buildvcs=false)"
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if r := settings["vcs.revision"]; r != "" {
			revision = r
			if t := settings["vcs.time"]; t != "" {
				revision += " (" + t + ")"
			}
			if settings["vcs.modified"] == "true" {
				revision += ", modified"
			}
		}
		for _, d := range bi.Deps {
			if d.Path == gvisorModule {
				gvisor = d.Version
				if d.Replace != nil {
					gvisor += " => " + d.Replace.Path + " " + d.Replace.Version
				}
			}
		}
	}
	fmt.Fprintf(w, "usertcp %s\n", version)
	fmt.Fprintf(w, "module:   %s\n", module)
	fmt.Fprintf(w, "revision: %s\n", revision)
	fmt.Fprintf(w, "go:       %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "gvisor:   %s %s\n", gvisorModule, gvisor)
}
