// Command kvpicture draws the timeline of examples/kv's losing seed (the
// naive primary acknowledges a write its backups never got) into the
// directory given, as kv-losing-seed.svg and .txt. docs/timeline.sh runs
// it for the README.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/usertcp/usertcp/examples/kv"
	"github.com/usertcp/usertcp/sim/timeline"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kvpicture OUTDIR")
		os.Exit(2)
	}
	res, _, err := kv.Run(kv.LosingSeed, kv.Naive)
	if res == nil {
		fmt.Fprintln(os.Stderr, "kvpicture:", err)
		os.Exit(1)
	}
	for _, name := range []string{"kv-losing-seed.svg", "kv-losing-seed.txt"} {
		if err := timeline.WriteFile(filepath.Join(os.Args[1], name), res, timeline.Options{}); err != nil {
			fmt.Fprintln(os.Stderr, "kvpicture:", err)
			os.Exit(1)
		}
	}
}
