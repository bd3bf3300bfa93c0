package kv_test

import (
	"testing"

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
