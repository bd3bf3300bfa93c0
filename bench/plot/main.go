// Command plot draws the figures of BENCHMARKS.md from the JSON of
// `usertcp bench --json`: bulk throughput against the memlink MTU (gentcp
// and gonet, with the kernel's and OTP's loopback figures as lines), and
// the round-trip distributions of gentcp, gonet, the kernel and OTP.
//
// It is a module of its own, so the plotting library stays out of usertcp's
// dependencies; bench/plots.sh runs the measurements and then this.
//
//	go run . -mtu mtu.json -rtt rtt.json -out ../../docs/bench
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// report is the part of `usertcp bench --json` the plots read.
type report struct {
	Machine struct {
		Cores  int    `json:"cores"`
		CPU    string `json:"cpu"`
		Kernel string `json:"kernel"`
		Go     string `json:"go"`
		OTP    string `json:"otp"`
	} `json:"machine"`
	Settings struct {
		Command string `json:"command"`
		Runs    int    `json:"runs"`
	} `json:"settings"`
	Results []result `json:"results"`
}

type result struct {
	Name        string          `json:"name"`
	Measurement string          `json:"measurement"`
	System      string          `json:"system"`
	Mode        string          `json:"mode"`
	MTU         int             `json:"mtu"`
	Conns       int             `json:"conns"`
	Dir         string          `json:"dir"`
	Metrics     map[string]stat `json:"metrics"`
	Quantiles   []float64       `json:"quantiles"`
	Skipped     string          `json:"skipped"`
}

type stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func main() {
	mtuFile := flag.String("mtu", "", "JSON of a bulk run over several MTUs")
	rttFile := flag.String("rtt", "", "JSON of an rtt run with --samples")
	out := flag.String("out", ".", "directory for the PNG and SVG files")
	flag.Parse()
	if *mtuFile == "" && *rttFile == "" {
		log.Fatal("plot: give -mtu and/or -rtt")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	if *mtuFile != "" {
		p, err := throughputPlot(load(*mtuFile))
		if err != nil {
			log.Fatal(err)
		}
		save(p, *out, "throughput-vs-mtu")
	}
	if *rttFile != "" {
		p, err := rttPlot(load(*rttFile))
		if err != nil {
			log.Fatal(err)
		}
		save(p, *out, "rtt-distribution")
	}
}

func load(path string) report {
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		log.Fatalf("%s: %v", path, err)
	}
	return r
}

func save(p *plot.Plot, dir, name string) {
	for _, ext := range []string{".png", ".svg"} {
		path := filepath.Join(dir, name+ext)
		if err := p.Save(20*vg.Centimeter, 12*vg.Centimeter, path); err != nil {
			log.Fatal(err)
		}
		fmt.Println("wrote", path)
	}
}

func machine(r report) string {
	s := fmt.Sprintf("%d cores, %s, %s", r.Machine.Cores, r.Machine.Kernel, r.Machine.Go)
	if r.Machine.OTP != "" {
		s += ", OTP " + r.Machine.OTP
	}
	return s
}

// errPoints is a series with min-max bars.
type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

// throughputPlot draws bulk B/s (1 connection, up) against the MTU.
func throughputPlot(r report) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Bulk throughput against memlink MTU (1 connection, 64 KiB writes)\n" +
		fmt.Sprintf("%s; median of %d runs, bars min-max", machine(r), r.Settings.Runs)
	p.X.Label.Text = "MTU (bytes)"
	p.Y.Label.Text = "GB/s"
	// Bottom right: the lines run across the top, and no figure is near
	// zero.
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.XOffs = -vg.Points(5)
	p.Legend.YOffs = vg.Points(5)
	series := map[string]*errPoints{}
	flat := map[string]stat{}
	var mtus []int
	for _, res := range r.Results {
		if res.Measurement != "bulk" || res.Skipped != "" || res.Conns != 1 || res.Dir != "up" {
			continue
		}
		s := res.Metrics["B/s"]
		if res.MTU == 0 {
			flat[res.System] = s
			continue
		}
		key := res.System
		if res.Mode != "" {
			key += "-" + res.Mode // gentcp-conn: through the net.Conn adapter
		}
		e := series[key]
		if e == nil {
			e = &errPoints{}
			series[key] = e
		}
		e.XYs = append(e.XYs, plotter.XY{X: float64(res.MTU), Y: s.Median / 1e9})
		e.YErrors = append(e.YErrors, struct{ Low, High float64 }{(s.Median - s.Min) / 1e9, (s.Max - s.Median) / 1e9})
		if !slices.Contains(mtus, res.MTU) {
			mtus = append(mtus, res.MTU)
		}
	}
	if len(series) == 0 {
		return nil, fmt.Errorf("plot: no bulk results with an MTU (1 connection, up)")
	}
	slices.Sort(mtus)
	i := 0
	for _, sys := range []string{"gentcp", "gentcp-conn", "gonet"} {
		e := series[sys]
		if e == nil {
			continue
		}
		l, pts, err := plotter.NewLinePoints(e.XYs)
		if err != nil {
			return nil, err
		}
		l.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
		pts.Shape = plotutil.Shape(i)
		bars, err := plotter.NewYErrorBars(e)
		if err != nil {
			return nil, err
		}
		bars.Color = plotutil.Color(i)
		p.Add(l, pts, bars)
		label := map[string]string{"gentcp": "gentcp Send/Recv", "gentcp-conn": "gentcp net.Conn adapter"}[sys]
		if label == "" {
			label = sys
		}
		p.Legend.Add(label+" on memlink", l, pts)
		i++
	}
	for _, sys := range []string{"kernel", "otp"} {
		s, ok := flat[sys]
		if !ok {
			continue
		}
		xy := plotter.XYs{{X: float64(mtus[0]), Y: s.Median / 1e9}, {X: float64(mtus[len(mtus)-1]), Y: s.Median / 1e9}}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return nil, err
		}
		l.Color = plotutil.Color(i)
		l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		p.Add(l)
		name := "Go net, kernel loopback"
		if sys == "otp" {
			name = "OTP gen_tcp, kernel loopback"
		}
		p.Legend.Add(name+" (lo, MTU 65536)", l)
		i++
	}
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	return p, nil
}

// rttPlot draws the cumulative distribution of the round trips.
func rttPlot(r report) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "1-byte round trip, cumulative distribution\n" +
		fmt.Sprintf("%s; every round trip of %d runs", machine(r), r.Settings.Runs)
	p.X.Label.Text = "round trip (µs, log scale)"
	p.Y.Label.Text = "fraction of round trips"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.XOffs = -vg.Points(5)
	p.Legend.YOffs = vg.Points(5)
	i := 0
	for _, sys := range []string{"gentcp", "gonet", "kernel", "otp"} {
		for _, res := range r.Results {
			if res.Measurement != "rtt" || res.System != sys || len(res.Quantiles) == 0 {
				continue
			}
			xy := make(plotter.XYs, 0, len(res.Quantiles))
			for j, ns := range res.Quantiles {
				xy = append(xy, plotter.XY{X: max(ns/1e3, 0.1), Y: float64(j) / float64(len(res.Quantiles)-1)})
			}
			l, err := plotter.NewLine(xy)
			if err != nil {
				return nil, err
			}
			l.Color = plotutil.Color(i)
			l.Width = vg.Points(1.5)
			p.Add(l)
			label := sys
			switch {
			case res.MTU > 0:
				label = fmt.Sprintf("%s (memlink MTU %d)", sys, res.MTU)
			case sys == "kernel":
				label = "Go net, kernel loopback"
			case sys == "otp":
				label = "OTP gen_tcp, kernel loopback"
			}
			p.Legend.Add(label, l)
			i++
		}
	}
	if i == 0 {
		return nil, fmt.Errorf("plot: no rtt quantiles (run usertcp bench with --samples)")
	}
	p.Add(plotter.NewGrid())
	p.Y.Min, p.Y.Max = 0, 1
	return p, nil
}
