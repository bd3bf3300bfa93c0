// Command kvpicture draws the timeline of examples/kv's losing seed (the
// naive primary acknowledges writes its backup never got) into the
// directory given, in two windows of the run, each as an SVG and as
// text: the writes (kv-losing-seed-write: from the start until the new
// primary acknowledges its first put, with the replication frames lost,
// the partition and the failover) and the reads (kv-losing-seed-read:
// from the last put acknowledged until the last read that misses an
// acknowledged key). docs/timeline.sh runs it for the README.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/usertcp/usertcp/examples/kv"
	"github.com/usertcp/usertcp/sim"
	"github.com/usertcp/usertcp/sim/timeline"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kvpicture OUTDIR")
		os.Exit(2)
	}
	if err := draw(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "kvpicture:", err)
		os.Exit(1)
	}
}

func draw(dir string) error {
	res, r, err := kv.Run(kv.LosingSeed, kv.Naive)
	if err != nil {
		return err
	}
	write, read, err := windows(res, r)
	if err != nil {
		return err
	}
	for name, opts := range map[string]timeline.Options{"kv-losing-seed-write": write, "kv-losing-seed-read": read} {
		for _, ext := range []string{".svg", ".txt"} {
			if err := timeline.WriteFile(filepath.Join(dir, name+ext), res, opts); err != nil {
				return err
			}
		}
	}
	return nil
}

// windows finds the two windows of the run from the client's report and
// notes: the writes end with the first put acknowledged after the last
// one that was lost; the reads start with the last put acknowledged and
// end with the last note of a missing key.
func windows(res *sim.Result, r *kv.Report) (write, read timeline.Options, err error) {
	if len(r.Lost) == 0 {
		return write, read, errors.New("the seed lost no write")
	}
	lost := r.AckedAt[r.Lost[len(r.Lost)-1]]
	var after, last time.Duration
	for _, at := range r.AckedAt {
		if at > lost && (after == 0 || at < after) {
			after = at
		}
		last = max(last, at)
	}
	var missed []time.Duration
	for _, e := range res.Events {
		if e.Kind == sim.EventNote && e.Host == r.Leader && strings.HasPrefix(e.Text, "lacks ") {
			missed = append(missed, e.At)
		}
	}
	if after == 0 || len(missed) == 0 {
		return write, read, errors.New("no put acknowledged after the lost ones, or no read noted a missing key")
	}
	return timeline.Options{To: after}, timeline.Options{From: last, To: slices.Max(missed)}, nil
}
