package kv_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/usertcp/usertcp/examples/kv"
	"github.com/usertcp/usertcp/sim"
)

// seeds is how many seeds the tests try in each mode.
const seeds = 16

// TestNaiveLosesAcknowledgedWrites: with some seeds the naive store tells
// the client a put is stored and then, after the failover, does not have
// it; LosingSeed is one of them, and it replays exactly: the same trace,
// the same keys lost.
func TestNaiveLosesAcknowledgedWrites(t *testing.T) {
	defer goleak.VerifyNone(t)
	var losing []uint64
	for seed := uint64(1); seed <= seeds; seed++ {
		_, r, err := kv.Run(seed, kv.Naive)
		require.NoError(t, err, "seed %d", seed)
		assert.Equal(t, kv.Puts, r.Acked, "seed %d: every put was acknowledged", seed)
		if len(r.Lost) > 0 {
			t.Logf("seed %d: %v", seed, r)
			losing = append(losing, seed)
		}
	}
	assert.Contains(t, losing, uint64(kv.LosingSeed))
	assert.Less(t, len(losing), seeds, "some seeds lose nothing")

	first, r1, err := kv.Run(kv.LosingSeed, kv.Naive)
	require.NoError(t, err)
	var r2 *kv.Report
	res, err := sim.Repeat(t, kv.Options(kv.LosingSeed, kv.Naive), 2, func(s *sim.Sim) {
		r2 = &kv.Report{}
		kv.Setup(r2)(s)
	})
	require.NoError(t, err)
	assert.Equal(t, first.Hash, res.Hash, "the same packets")
	assert.Equal(t, r1, r2, "the same writes lost, acknowledged at the same times")
	assert.Equal(t, "kv2", r1.Leader)
}

// TestSafeKeepsAcknowledgedWrites: the store that acknowledges a put only
// once every backup has it loses nothing with the same seeds.
func TestSafeKeepsAcknowledgedWrites(t *testing.T) {
	defer goleak.VerifyNone(t)
	for seed := uint64(1); seed <= seeds; seed++ {
		_, r, err := kv.Run(seed, kv.Safe)
		require.NoError(t, err, "seed %d", seed)
		assert.Equal(t, kv.Puts, r.Acked, "seed %d", seed)
		assert.Empty(t, r.Lost, "seed %d: %v", seed, r)
		assert.Equal(t, "kv2", r.Leader, "seed %d: kv2 took over", seed)
	}
}

// TestNotesMarkTheLoss: the client marks the run's timeline with each
// put acknowledged, on its own lane at the time it was told, and with
// each acknowledged key a read missed, on the lane of the node that
// answered the read.
func TestNotesMarkTheLoss(t *testing.T) {
	defer goleak.VerifyNone(t)
	res, r, err := kv.Run(kv.LosingSeed, kv.Naive)
	require.NoError(t, err)
	require.NotEmpty(t, r.Lost)
	notes := map[string]sim.Event{}
	for _, e := range res.Events {
		if e.Kind == sim.EventNote {
			notes[e.Host+": "+e.Text] = e
		}
	}
	var last time.Duration // the last put's acknowledgement
	for k, at := range r.AckedAt {
		last = max(last, at)
		e, ok := notes["client: put "+k+" acknowledged by "+r.AckedBy[k]]
		if assert.True(t, ok, "a note of %s's acknowledgement", k) {
			assert.Equal(t, at, e.At, "%s's note is at its acknowledgement", k)
		}
	}
	assert.Equal(t, "kv1", r.AckedBy[r.Lost[0]], "the lost writes were acknowledged by the old primary")
	for _, k := range r.Lost {
		text := fmt.Sprintf("%s: lacks %s, acknowledged by %s at %v", r.Leader, k, r.AckedBy[k], r.AckedAt[k].Round(time.Microsecond))
		e, ok := notes[text]
		if assert.True(t, ok, "a note %q", text) {
			assert.Greater(t, e.At, last, "%s is missed by a read after the last put", k)
		}
	}
	assert.Len(t, notes, kv.Puts+len(r.Lost), "no other notes")
}
