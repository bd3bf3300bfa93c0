package main

import (
	"flag"
	"fmt"

	"github.com/usertcp/usertcp/config"
)

// impairFlags are the link-fault flags every command that builds a link
// shares, and --rack, which suits some of those links; an absent flag
// leaves the config's value alone.
type impairFlags struct {
	seed                              optInt
	loss, duplicate, corrupt, reorder optFloat
	latency, jitter                   optDuration
	jitterReorders                    bool
	rate                              string
	rack                              bool
}

func (f *impairFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.seed, "seed", "seed for the link's random faults (default: the config's)")
	fs.Var(&f.loss, "loss", "probability a frame is lost, 0..1")
	fs.Var(&f.duplicate, "duplicate", "probability a frame is duplicated, 0..1")
	fs.Var(&f.corrupt, "corrupt", "probability a frame gets one bit flipped, 0..1")
	fs.Var(&f.reorder, "reorder", "probability a frame is held back and overtaken, 0..1")
	fs.Var(&f.latency, "latency", "one-way latency, e.g. 5ms")
	fs.Var(&f.jitter, "jitter", "extra random latency up to this, e.g. 1ms; frames keep their order, as behind a queue")
	fs.BoolVar(&f.jitterReorders, "jitter-reorders", false, "draw each frame's --jitter independently, as netem does, so that frames overtake one another")
	fs.StringVar(&f.rate, "rate", "", "bandwidth cap, e.g. 100Mbit or 10MB (bytes/s)")
	fs.BoolVar(&f.rack, "rack", false, "turn on netstack's RACK-TLP loss detection in every stack: faster with much --jitter or --reorder, but a burst of lost small segments can stall a connection (off by default; see stack.TCPOptions.RACK)")
}

// apply writes the given flags into the config: the link's faults, and
// RACK into every stack.
func (f *impairFlags) apply(cfg *config.Config) error {
	if f.rack {
		on := true
		for i := range cfg.Stacks {
			cfg.Stacks[i].TCP.RACK = &on
		}
	}
	l := &cfg.Link
	if f.seed.set {
		l.Seed = f.seed.v
	}
	for _, p := range []struct {
		name string
		v    optFloat
		dst  *float64
	}{{"loss", f.loss, &l.Loss}, {"duplicate", f.duplicate, &l.Duplicate}, {"corrupt", f.corrupt, &l.Corrupt}, {"reorder", f.reorder, &l.Reorder}} {
		if !p.v.set {
			continue
		}
		if !(p.v.v >= 0 && p.v.v <= 1) {
			return fmt.Errorf("-%s %v: want a probability in 0..1", p.name, p.v.v)
		}
		*p.dst = p.v.v
	}
	if f.latency.set {
		l.Latency = f.latency.v
	}
	if f.jitter.set {
		l.Jitter = f.jitter.v
	}
	if f.jitterReorders {
		l.JitterReorders = true
	}
	if f.rate != "" {
		r, err := config.ParseRate(f.rate)
		if err != nil {
			return fmt.Errorf("-rate: %w", err)
		}
		l.Rate = r
	}
	return nil
}

// applyMTU sets the link's MTU from --mtu (0: the config's), checked by
// the rule and with the message a config file's link.mtu gets.
func applyMTU(cfg *config.Config, mtu int) error {
	if mtu == 0 {
		return nil
	}
	if err := config.CheckMTU(mtu, cfg.Link.Kind, cfg.Stacks); err != nil {
		return fmt.Errorf("--mtu: %w", err)
	}
	cfg.Link.MTU = mtu
	return nil
}
