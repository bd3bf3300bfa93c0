// Package fault injects per-frame faults (loss, duplication, single-bit
// corruption, partitions) into the outbound path of any stack.LinkEndpoint.
//
// An Endpoint wraps a lower endpoint and is itself a stack.LinkEndpoint, so
// it stacks with the other wrappers under link/ (delay, pcap) in any order:
//
//	ep, err := fault.New(lower, fault.Config{Seed: 1, Loss: 0.05})
//	if err != nil { ... }
//	s.CreateNIC(1, ep) // s is a *stack.Stack
//
// Only frames written through the Endpoint (the WritePackets path) are
// impaired; frames the lower endpoint delivers upwards pass untouched. So
// wrapping end A of a wire impairs the A→B direction only; wrap both ends to
// impair both directions.
//
// Every decision comes from a PCG generator seeded with Config.Seed, and each
// frame consumes the same number of draws whatever the configuration is, so
// the same seed and the same sequence of frames give the same decisions, and
// changing Loss at run time does not change which frames get corrupted. Tests
// that use fault should log their seed so a failure can be replayed.
//
// A dropped frame is still reported to the caller as written, because a real
// wire loses frames silently; the sender learns about it only from the
// transport's own timers and acknowledgements.
//
// Corruption flips one bit of a private copy of the frame. For a receiving
// stack to notice, its checksums must actually be computed and verified: the
// lower endpoint must not report stack.CapabilityTXChecksumOffload (the
// sending stack would leave checksums unset) nor
// stack.CapabilityRXChecksumOffload (the receiving stack would trust the
// frame). fault passes the lower endpoint's capabilities through unchanged,
// so turn offload off on the lower endpoint (for example leave
// channel.Endpoint.LinkEPCapabilities at zero) when testing corruption.
package fault
