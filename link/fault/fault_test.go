package fault_test

import (
	"bytes"
	"crypto/sha256"
	"math"
	"math/bits"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/usertcp/usertcp/internal/testutil/linktest"
	"github.com/usertcp/usertcp/link/fault"
)

func TestNew_InvalidConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  fault.Config
	}{
		{"negative loss", fault.Config{Loss: -0.1}},
		{"loss above one", fault.Config{Loss: 1.1}},
		{"NaN loss", fault.Config{Loss: math.NaN()}},
		{"negative duplicate", fault.Config{Duplicate: -1}},
		{"duplicate above one", fault.Config{Duplicate: 2}},
		{"infinite corrupt", fault.Config{Corrupt: math.Inf(1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fault.New(channel.New(1, linktest.MTU, ""), tc.cfg)
			require.ErrorIs(t, err, fault.ErrInvalidConfig)

			ep, err := fault.New(channel.New(1, linktest.MTU, ""), fault.Config{Seed: 7, Loss: 0.5})
			require.NoError(t, err)
			require.ErrorIs(t, ep.SetConfig(tc.cfg), fault.ErrInvalidConfig)
			assert.Equal(t, fault.Config{Seed: 7, Loss: 0.5}, ep.Config(), "SetConfig changed the config despite the error")
		})
	}
	t.Run("nil lower endpoint", func(t *testing.T) {
		_, err := fault.New(nil, fault.Config{})
		require.ErrorIs(t, err, fault.ErrInvalidConfig)
	})
	t.Run("boundaries are valid", func(t *testing.T) {
		_, err := fault.New(channel.New(1, linktest.MTU, ""), fault.Config{Loss: 1, Duplicate: 0, Corrupt: 1})
		require.NoError(t, err)
	})
}

// newFault returns a fault endpoint with cfg in front of a channel
// endpoint that holds frames frames; when the test ends it checks that no
// packet buffer is left.
func newFault(t *testing.T, frames int, cfg fault.Config) (*fault.Endpoint, *channel.Endpoint) {
	t.Helper()
	ch := channel.New(frames, linktest.MTU, "")
	ep, err := fault.New(ch, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { linktest.CheckRefs(t) })
	return ep, ch
}

func TestWritePackets_NoFaultsPassesFramesUnchanged(t *testing.T) {
	ep, ch := newFault(t, 64, fault.Config{Seed: 1})

	in := linktest.Frames(1, 50)
	n, terr := linktest.Write(ep, in...)
	require.Nil(t, terr)
	assert.Equal(t, len(in), n)
	assert.Equal(t, in, linktest.Drain(ch))

	var size uint64
	for _, f := range in {
		size += uint64(len(f))
	}
	assert.Equal(t, fault.Counters{Frames: 50, Bytes: size}, ep.Counters())
}

func TestWritePackets_LossDropsSilently(t *testing.T) {
	ep, ch := newFault(t, 64, fault.Config{Seed: 1, Loss: 1})

	n, terr := linktest.Write(ep, linktest.Frames(2, 10)...)
	require.Nil(t, terr)
	assert.Equal(t, 10, n, "dropped frames must count as written")
	assert.Empty(t, linktest.Drain(ch))
	assert.Equal(t, fault.Counters{Frames: 10, Dropped: 10}, ep.Counters())
}

func TestWritePackets_LossRateMatchesProbability(t *testing.T) {
	ep, ch := newFault(t, 10000, fault.Config{Seed: 3, Loss: 0.25})
	tiny := make([][]byte, 100)
	for i := range tiny {
		tiny[i] = []byte{byte(i)}
	}
	for i := 0; i < 100; i++ {
		_, terr := linktest.Write(ep, tiny...)
		require.Nil(t, terr)
	}
	got := len(linktest.Drain(ch))
	t.Logf("seed 3: %d of 10000 frames survived", got)
	assert.InDelta(t, 7500, got, 300)
}

func TestWritePackets_DuplicateSendsTwice(t *testing.T) {
	ep, ch := newFault(t, 64, fault.Config{Seed: 1, Duplicate: 1})

	in := linktest.Frames(4, 5)
	n, terr := linktest.Write(ep, in...)
	require.Nil(t, terr)
	assert.Equal(t, 5, n)
	var want [][]byte
	for _, f := range in {
		want = append(want, f, f)
	}
	assert.Equal(t, want, linktest.Drain(ch))
	c := ep.Counters()
	assert.Equal(t, uint64(5), c.Duplicated)
}

func TestWritePackets_CorruptFlipsOneBitOfACopy(t *testing.T) {
	ep, ch := newFault(t, 1000, fault.Config{Seed: 5, Corrupt: 1})

	in := linktest.Frames(5, 500)
	var l stack.PacketBufferList
	for _, f := range in {
		l.PushBack(linktest.NewPacket(f))
	}
	n, terr := ep.WritePackets(l)
	require.Nil(t, terr)
	require.Equal(t, len(in), n)
	for i, p := range l.AsSlice() {
		assert.Equal(t, in[i], linktest.Bytes(p), "frame %d: caller's packet was modified", i)
	}
	l.DecRef()

	out := linktest.Drain(ch)
	require.Len(t, out, len(in))
	for i := range in {
		require.Len(t, out[i], len(in[i]))
		flipped := 0
		for j := range in[i] {
			flipped += bits.OnesCount8(in[i][j] ^ out[i][j])
		}
		assert.Equal(t, 1, flipped, "frame %d: bits flipped", i)
	}
	assert.Equal(t, uint64(500), ep.Counters().Corrupted)
}

// A corrupted copy keeps the header layout and metadata of the original, so
// that lower endpoints which look at them (Ethernet, GSO) keep working.
func TestWritePackets_CorruptKeepsHeaderLayout(t *testing.T) {
	ch := channel.New(4, linktest.MTU, "")
	ep, err := fault.New(ch, fault.Config{Seed: 5, Corrupt: 1})
	require.NoError(t, err)

	payload := bytes.Repeat([]byte{0xab}, 100)
	p := stack.NewPacketBuffer(stack.PacketBufferOptions{
		ReserveHeaderBytes: header.EthernetMinimumSize + header.IPv4MinimumSize + header.TCPMinimumSize,
		Payload:            buffer.MakeWithData(payload),
	})
	copy(p.TransportHeader().Push(header.TCPMinimumSize), bytes.Repeat([]byte{3}, header.TCPMinimumSize))
	copy(p.NetworkHeader().Push(header.IPv4MinimumSize), bytes.Repeat([]byte{2}, header.IPv4MinimumSize))
	copy(p.LinkHeader().Push(header.EthernetMinimumSize), bytes.Repeat([]byte{1}, header.EthernetMinimumSize))
	p.NetworkProtocolNumber = header.IPv4ProtocolNumber
	p.TransportProtocolNumber = header.TCPProtocolNumber
	p.EgressRoute.RemoteLinkAddress = "\x02\x00\x00\x00\x00\x01"
	var l stack.PacketBufferList
	l.PushBack(p)
	_, terr := ep.WritePackets(l)
	require.Nil(t, terr)
	l.DecRef()

	got := ch.Read()
	require.NotNil(t, got)
	defer got.DecRef()
	assert.Len(t, got.LinkHeader().Slice(), header.EthernetMinimumSize)
	assert.Len(t, got.NetworkHeader().Slice(), header.IPv4MinimumSize)
	assert.Len(t, got.TransportHeader().Slice(), header.TCPMinimumSize)
	assert.Equal(t, len(payload), got.Data().Size())
	assert.Equal(t, header.IPv4ProtocolNumber, got.NetworkProtocolNumber)
	assert.Equal(t, header.TCPProtocolNumber, got.TransportProtocolNumber)
	assert.Equal(t, tcpip.LinkAddress("\x02\x00\x00\x00\x00\x01"), got.EgressRoute.RemoteLinkAddress)
}

func TestPartition_DropsUntilHeal(t *testing.T) {
	ep, ch := newFault(t, 64, fault.Config{Seed: 1})

	ep.Partition()
	n, terr := linktest.Write(ep, linktest.Frames(6, 3)...)
	require.Nil(t, terr)
	assert.Equal(t, 3, n)
	assert.Empty(t, linktest.Drain(ch))

	ep.Heal()
	in := linktest.Frames(7, 3)
	_, terr = linktest.Write(ep, in...)
	require.Nil(t, terr)
	assert.Equal(t, in, linktest.Drain(ch))
	assert.Equal(t, uint64(3), ep.Counters().Dropped)
	assert.Equal(t, uint64(3), ep.Counters().Partitioned)
}

// TestPartitioned_CountsOnlyPartitionDrops: frames lost to Loss are
// Dropped but not Partitioned.
func TestPartitioned_CountsOnlyPartitionDrops(t *testing.T) {
	ep, _ := newFault(t, 64, fault.Config{Seed: 1, Loss: 1})
	_, terr := linktest.Write(ep, linktest.Frames(6, 4)...)
	require.Nil(t, terr)
	ep.Partition()
	_, terr = linktest.Write(ep, linktest.Frames(7, 2)...)
	require.Nil(t, terr)
	c := ep.Counters()
	assert.Equal(t, uint64(6), c.Dropped)
	assert.Equal(t, uint64(2), c.Partitioned)
	assert.Error(t, fault.Config{Loss: 2}.Validate())
	assert.NoError(t, fault.Config{Loss: 0.5}.Validate())
}

// run writes in through a new Endpoint, one frame per call, applying
// change (if any) before frame at, and returns what came out after each
// frame.
func run(t *testing.T, cfg fault.Config, in [][]byte, at int, change *fault.Config) ([][][]byte, fault.Counters) {
	t.Helper()
	ch := channel.New(4, linktest.MTU, "")
	ep, err := fault.New(ch, cfg)
	require.NoError(t, err)
	out := make([][][]byte, len(in))
	for i, f := range in {
		if change != nil && i == at {
			require.NoError(t, ep.SetConfig(*change))
		}
		_, terr := linktest.Write(ep, f)
		require.Nil(t, terr)
		out[i] = linktest.Drain(ch)
	}
	return out, ep.Counters()
}

func TestDeterminism_SameSeedSameDecisions(t *testing.T) {
	in := linktest.Frames(8, 2000)
	cfg := fault.Config{Seed: 42, Loss: 0.2, Duplicate: 0.2, Corrupt: 0.2}
	t.Logf("seed %d", cfg.Seed)
	out1, c1 := run(t, cfg, in, 0, nil)
	out2, c2 := run(t, cfg, in, 0, nil)
	assert.Equal(t, out1, out2)
	assert.Equal(t, c1, c2)
	assert.NotZero(t, c1.Dropped)
	assert.NotZero(t, c1.Duplicated)
	assert.NotZero(t, c1.Corrupted)

	cfg.Seed = 43
	out3, _ := run(t, cfg, in, 0, nil)
	assert.NotEqual(t, out1, out3, "a different seed should give different decisions")

	t.Run("with SetConfig midway", func(t *testing.T) {
		change := fault.Config{Seed: 999, Loss: 0.5}
		cfg := fault.Config{Seed: 42, Corrupt: 0.3}
		out1, c1 := run(t, cfg, in, 1000, &change)
		out2, c2 := run(t, cfg, in, 1000, &change)
		assert.Equal(t, out1, out2)
		assert.Equal(t, c1, c2)
	})
	linktest.CheckRefs(t)
}

// Each frame draws the same numbers whatever the configuration, so turning
// loss on does not change which of the surviving frames get corrupted.
func TestDeterminism_LossDoesNotShiftCorruption(t *testing.T) {
	in := linktest.Frames(9, 1000)
	plain, _ := run(t, fault.Config{Seed: 11, Corrupt: 0.3}, in, 0, nil)
	lossy, c := run(t, fault.Config{Seed: 11, Corrupt: 0.3, Loss: 0.5}, in, 0, nil)
	require.NotZero(t, c.Dropped)
	for i := range in {
		if len(lossy[i]) == 0 {
			continue
		}
		assert.Equal(t, plain[i], lossy[i], "frame %d", i)
	}
}

// A lower endpoint that takes only part of a batch makes WritePackets report
// the caller's frames before the first one not taken.
func TestWritePackets_PartialLowerWrite(t *testing.T) {
	ep, ch := newFault(t, 3, fault.Config{Seed: 1, Duplicate: 1})

	// Three slots hold frame 0, its duplicate and frame 1; frame 1's
	// duplicate does not fit, so frames 0 only is fully written.
	n, terr := linktest.Write(ep, linktest.Frames(10, 4)...)
	require.Nil(t, terr, "channel reports a full queue as a short count")
	assert.Equal(t, 1, n)
	assert.Len(t, linktest.Drain(ch), 3)
}

func TestEndpoint_ConcurrentUse(t *testing.T) {
	defer goleak.VerifyNone(t)
	ep, ch := newFault(t, 100000, fault.Config{Seed: 1, Loss: 0.1, Duplicate: 0.1, Corrupt: 0.1})

	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				_, _ = linktest.Write(ep, linktest.Frames(uint64(g*1000+i), 5)...)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 100; i++ {
			switch i % 3 {
			case 0:
				ep.Partition()
			case 1:
				ep.Heal()
			case 2:
				_ = ep.SetConfig(fault.Config{Loss: r.Float64() / 2, Corrupt: r.Float64() / 2})
			}
			_ = ep.Counters()
		}
	}()
	wg.Wait()
	c := ep.Counters()
	assert.Equal(t, uint64(2000), c.Frames)
	linktest.Drain(ch)
}

func TestEndpoint_PassesCapabilitiesThrough(t *testing.T) {
	ch := channel.New(1, linktest.MTU, "\x02\x00\x00\x00\x00\x01")
	ch.LinkEPCapabilities = stack.CapabilityRXChecksumOffload
	ep, err := fault.New(ch, fault.Config{})
	require.NoError(t, err)
	assert.Equal(t, stack.CapabilityRXChecksumOffload, ep.Capabilities())
	assert.Equal(t, uint32(linktest.MTU), ep.MTU())
	assert.Equal(t, ch.LinkAddress(), ep.LinkAddress())
}

// TestTCP_TransferSurvivesFaults moves 1 MiB over TCP through a wire that
// loses, duplicates and corrupts frames from A to B, and checks that B gets
// every byte intact: the stacks must detect the flipped bits by checksum and
// repair everything by retransmission.
func TestTCP_TransferSurvivesFaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  fault.Config
	}{
		{"5% loss, 1% duplicate, 0.1% corrupt", fault.Config{Seed: 2024, Loss: 0.05, Duplicate: 0.01, Corrupt: 0.001}},
		{"2% corrupt", fault.Config{Seed: 7, Corrupt: 0.02}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			t.Logf("seed %d", tc.cfg.Seed)
			var ep *fault.Endpoint
			net := linktest.NewNet(t, func(lower stack.LinkEndpoint) stack.LinkEndpoint {
				var err error
				ep, err = fault.New(lower, tc.cfg)
				require.NoError(t, err)
				return ep
			})
			defer net.Close()

			data := linktest.RandomBytes(tc.cfg.Seed, 1<<20)
			got := net.Transfer(t, data)
			assert.Equal(t, sha256.Sum256(data), got, "SHA-256 of received data")

			c := ep.Counters()
			t.Logf("counters: %+v", c)
			t.Logf("B: TCP checksum errors %d, IP malformed %d",
				net.B.Stats().TCP.ChecksumErrors.Value(), net.B.Stats().IP.MalformedPacketsReceived.Value())
			if tc.cfg.Loss > 0 {
				assert.NotZero(t, c.Dropped)
			}
			if tc.cfg.Corrupt >= 0.01 {
				assert.NotZero(t, c.Corrupted)
			}
			net.Close()
			linktest.CheckRefs(t)
		})
	}
}
