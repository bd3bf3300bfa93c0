package kv_test

import (
	"fmt"

	"github.com/usertcp/usertcp/examples/kv"
)

// The naive store loses acknowledged writes when its primary is cut off
// with LosingSeed; the same seed replays the same packets and the same
// loss; the safe store keeps every write with that seed.
func Example() {
	first, naive, err := kv.Run(kv.LosingSeed, kv.Naive)
	if err != nil {
		fmt.Println(err)
		return
	}
	again, replay, _ := kv.Run(kv.LosingSeed, kv.Naive)
	_, safe, _ := kv.Run(kv.LosingSeed, kv.Safe)
	fmt.Println("naive:", naive)
	fmt.Println("replay: same packets", first.Hash == again.Hash, "and same loss", replay.String() == naive.String())
	fmt.Println("safe:", safe)
	// Output:
	// naive: 120 puts acknowledged; kv2 lacks 15 of them: k006 (acknowledged at 18.189ms) ... k020 (50.31ms)
	// replay: same packets true and same loss true
	// safe: 120 puts acknowledged, all read back from kv2
}
