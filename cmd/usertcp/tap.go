package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"

	"github.com/usertcp/usertcp/config"
	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/tap"
	"github.com/usertcp/usertcp/stack"
)

// The TAP setup that --tap NAME gives without a config file, the same as
// scripts/tapns.sh: the kernel side is 10.77.0.1/30 and fd77:75::1/64, the
// stack "usertcp" takes 10.77.0.2/30 and fd77:75::2/64, and the stack's
// host table calls the kernel side "kernel".
var (
	tapKernel = []netip.Prefix{netip.MustParsePrefix("10.77.0.1/30"), netip.MustParsePrefix("fd77:75::1/64")}
	tapUser   = []netip.Prefix{netip.MustParsePrefix("10.77.0.2/30"), netip.MustParsePrefix("fd77:75::2/64")}
)

// tapConfig is the configuration --tap name stands for.
func tapConfig(name string) *config.Config {
	return &config.Config{
		Link: config.Link{Kind: config.Tap, Name: name, KernelAddresses: tapKernel},
		Stacks: []config.Stack{{
			Name: "usertcp", End: config.EndTap, Addresses: tapUser,
			Hosts: map[string][]netip.Addr{"kernel": {tapKernel[0].Addr(), tapKernel[1].Addr()}},
		}},
	}
}

// linkFlags are the flags serve and connect share: which link to build and
// how to impair and capture it.
type linkFlags struct {
	config, tap, netns, pcap string
	mtu                      int
	impairFlags
}

func (f *linkFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "config file (TOML); default: the embedded two-stack memlink setup, or the TAP setup with --tap")
	fs.StringVar(&f.tap, "tap", "", "use the TAP device `NAME` (created if missing: kernel side 10.77.0.1/30 and fd77:75::1/64, usertcp 10.77.0.2 and fd77:75::2)")
	fs.StringVar(&f.netns, "netns", "", "open the TAP device in network namespace `NS` (a name from ip netns, or a path); this process stays in its own")
	fs.IntVar(&f.mtu, "mtu", 0, "the stack's MTU (default: the config's; on a TAP, the device's)")
	fs.StringVar(&f.pcap, "pcap", "", "write a pcap capture of the link to `FILE`")
	f.impairFlags.register(fs)
}

// load reads the config and applies the flags to it.
func (f *linkFlags) load() (*config.Config, error) {
	cfg, err := loadConfig(f.config)
	if err != nil {
		return nil, err
	}
	if f.tap != "" {
		switch {
		case f.config == "":
			cfg = tapConfig(f.tap)
		case cfg.Link.Kind == config.Tap:
			cfg.Link.Name = f.tap
		default:
			return nil, usageError{fmt.Errorf("--tap %s: %s has a %s link; use a config with [link] kind = \"tap\", or no config", f.tap, f.config, cfg.Link.Kind)}
		}
	}
	if f.netns != "" && cfg.Link.Kind != config.Tap {
		return nil, usageError{errors.New("--netns is for TAP links (--tap NAME)")}
	}
	if err := applyMTU(cfg, f.mtu); err != nil {
		return nil, usageError{err}
	}
	if err := f.impairFlags.apply(cfg); err != nil {
		return nil, usageError{err}
	}
	return cfg, nil
}

// open builds the world the flags describe. The returned function closes
// it and the capture file.
func (f *linkFlags) open(cfg *config.Config) (*world, func(), error) {
	var pcapFile *os.File
	var pcapW io.Writer
	if f.pcap != "" {
		var err error
		if pcapFile, err = os.Create(f.pcap); err != nil {
			return nil, nil, err
		}
		pcapW = pcapFile
	}
	var w *world
	var err error
	if cfg.Link.Kind == config.Tap {
		w, err = buildTap(cfg, pcapW, f.netns)
	} else {
		w, err = build(cfg, pcapW)
	}
	if err != nil {
		if pcapFile != nil {
			pcapFile.Close()
		}
		return nil, nil, err
	}
	return w, func() {
		w.close()
		if pcapFile != nil {
			pcapFile.Close()
		}
	}, nil
}

// buildTap builds a world on a TAP link: the device (in netns, if given)
// and the one stack the config attaches to it.
func buildTap(cfg *config.Config, pcapW io.Writer, netns string) (*world, error) {
	l := cfg.Link
	if l.Ethernet != nil && !*l.Ethernet {
		return nil, errors.New("link.ethernet = false: a TAP link carries Ethernet frames (bare IP frames are for memlink)")
	}
	if len(cfg.Stacks) != 1 || cfg.Stacks[0].End != config.EndTap {
		return nil, fmt.Errorf("a tap link takes exactly one stack, with end = %q; the config has %d", config.EndTap, len(cfg.Stacks))
	}
	o := tap.Options{
		Name:            l.Name,
		Netns:           netns,
		MTU:             uint32(l.MTU),
		KernelAddresses: l.KernelAddresses,
		Seed:            uint64(l.Seed),
		Loss:            l.Loss,
		Duplicate:       l.Duplicate,
		Corrupt:         l.Corrupt,
		Reorder:         l.Reorder,
		Latency:         l.Latency,
		Jitter:          l.Jitter,
		JitterReorders:  l.JitterReorders,
		Rate:            int64(l.Rate),
		Pcap:            pcapW,
	}
	if l.ChecksumOffload != nil {
		o.ChecksumOffload = *l.ChecksumOffload
	}
	if l.Offload != nil {
		o.NoOffload = !*l.Offload
	}
	if err := checkSubnetFree(netns, l.Name, l.KernelAddresses); err != nil {
		return nil, err
	}
	ep, err := tap.New(o)
	if err != nil {
		return nil, err
	}
	sc := cfg.Stacks[0]
	st, err := stack.New(stackOptions(sc, ep, uint64(l.Seed)*16))
	if err != nil {
		ep.Close()
		return nil, fmt.Errorf("stack %q: %w", sc.Name, err)
	}
	w := &world{cfg: cfg, tap: ep, stacks: map[string]*stack.Stack{sc.Name: st}, nodes: map[string]*gentcp.Node{}}
	defaults, err := socketDefaults(cfg)
	if err == nil {
		w.nodes[sc.Name], err = defaults.node(st, 0)
	}
	if err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

// describeTap says which device the world uses and what became of it.
func describeTap(ep *tap.Endpoint) string {
	where := ""
	if ep.Netns() != "" {
		where = " in network namespace " + ep.Netns()
	}
	how := "existing device"
	if ep.Created() {
		how = "created; removed on exit"
	}
	return fmt.Sprintf("TAP %s%s (%s; MTU %d, kernel side %d)", ep.Name(), where, how, ep.MTU(), ep.KernelMTU())
}

// checkSubnetFree refuses to create TAP device name in netns with kernel
// addresses whose subnet another device there already has: the kernel
// would answer through that device, ARP for the stack would stay
// incomplete, and every connection would time out without a word. A
// device that exists keeps its addresses (tap.New leaves them alone), so
// only one to be created is checked.
func checkSubnetFree(netns, name string, kernel []netip.Prefix) error {
	if len(kernel) == 0 {
		return nil
	}
	return tap.InNetns(netns, func() error {
		if _, err := net.InterfaceByName(name); err == nil {
			return nil
		}
		ifs, err := net.Interfaces()
		if err != nil {
			return nil // tap.New will say what is wrong
		}
		for _, ifc := range ifs {
			addrs, err := ifc.Addrs()
			if err != nil {
				continue
			}
			for _, a := range addrs {
				ipn, ok := a.(*net.IPNet)
				if !ok {
					continue
				}
				ip, _ := netip.AddrFromSlice(ipn.IP)
				ones, _ := ipn.Mask.Size()
				have := netip.PrefixFrom(ip.Unmap(), ones)
				for _, k := range kernel {
					if have.Overlaps(k) {
						where := ""
						if netns != "" {
							where = " in network namespace " + netns
						}
						return fmt.Errorf("TAP %s would get %s%s, where %s already has that subnet (%s): the kernel would answer through %s and no connection would get through. "+
							"Use that device (--tap %s), or a config whose kernel_addresses and stack addresses are a subnet of their own",
							name, k, where, ifc.Name, have, ifc.Name, ifc.Name)
					}
				}
			}
		}
		return nil
	})
}
