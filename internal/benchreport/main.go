// Command benchreport reads the output of `make bench` (go test -bench
// lines) and prints each target of issue 16 beside the baseline it is a
// ratio of, both taken from the same run: the medians of the runs of each
// benchmark, the ratio, the target and whether it is met.
//
//	go test -bench ... | tee bench.out; go run ./internal/benchreport < bench.out
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

func main() {
	if err := report(os.Stdout, os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

// results holds every value of every benchmark: name → unit → values.
type results map[string]map[string][]float64

var gomaxprocs = regexp.MustCompile(`-\d+$`)

// parse reads benchmark lines: a name, an iteration count, then value-unit
// pairs. Anything else is ignored.
func parse(r io.Reader) (results, error) {
	res := results{}
	var failed []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && (f[0] == "FAIL" || f[0] == "panic:") || len(f) > 1 && f[0] == "---" && f[1] == "FAIL:" {
			failed = append(failed, sc.Text())
		}
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := gomaxprocs.ReplaceAllString(f[0], "")
		if res[name] == nil {
			res[name] = map[string][]float64{}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			res[name][f[i+1]] = append(res[name][f[i+1]], v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(failed) > 0 {
		return res, fmt.Errorf("the run failed: %s", strings.Join(failed, "; "))
	}
	return res, nil
}

// median of the values, and how many there are; ok is false when none.
func (r results) median(name, unit string) (m float64, n int, ok bool) {
	vs := append([]float64(nil), r[name][unit]...)
	if len(vs) == 0 {
		return 0, 0, false
	}
	sort.Float64s(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2], len(vs), true
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2, len(vs), true
}

func (r results) max(name, unit string) (float64, bool) {
	vs := r[name][unit]
	if len(vs) == 0 {
		return 0, false
	}
	m := vs[0]
	for _, v := range vs {
		m = max(m, v)
	}
	return m, true
}

// A target compares a measure with a baseline of the same run (or with a
// fixed bound when it has none).
type target struct {
	name                 string
	measure, baseline    figure
	ratio                func(m, b float64) float64
	bound                float64
	atMost               bool // met when the ratio is at most bound; else at least
	boundText, ratioText string
	// scaled, when set, is the figure of the profile count a backfill
	// ran on: a run on fewer than the target's 1,000,000 says so.
	scaled string
}

// An info is a figure the passes of issue 16 added to explain the targets
// (CPU and bytes per event or profile), printed without a verdict.
type info struct {
	name              string
	measure, baseline figure // baseline optional: then a ratio is shown
	ratioText         string
}

type figure struct {
	bench, unit, label string
	max                bool // the worst run, not the median
}

func (r results) value(f figure) (float64, string, bool) {
	if f.max {
		v, ok := r.max(f.bench, f.unit)
		return v, "max", ok
	}
	v, n, ok := r.median(f.bench, f.unit)
	return v, fmt.Sprintf("median of %d", n), ok
}

var targets = []target{
	{name: "engine: a catalogue condition vs a bare expr comparison",
		measure:  figure{bench: "BenchmarkCatalogue", unit: "ns/condition", label: "catalogue ns/condition"},
		baseline: figure{bench: "BenchmarkRawExpr", unit: "ns/op", label: "raw expr ns/comparison"},
		ratio:    func(m, b float64) float64 { return m / b }, ratioText: "%.2f×", bound: 1.3, atMost: true, boundText: "≤ 1.30×"},
	{name: "engine: allocations per catalogue pass (amounts included)",
		measure: figure{bench: "BenchmarkCatalogue", unit: "allocs/op", label: "allocs/op", max: true},
		ratio:   func(m, _ float64) float64 { return m }, ratioText: "%.0f", bound: 0, atMost: true, boundText: "0"},
	{name: "streaming: pipeline vs raw batched PostgreSQL insert",
		measure:  figure{bench: "BenchmarkPipeline", unit: "events/s", label: "pipeline events/s"},
		baseline: figure{bench: "BenchmarkRawPostgresInsert", unit: "events/s", label: "raw insert events/s"},
		ratio:    func(m, b float64) float64 { return 100 * m / b }, ratioText: "%.1f%%", bound: 20, boundText: "≥ 20%"},
	{name: "streaming: p99 event-to-commit at 1,000 events/s (worst run)",
		measure: figure{bench: "BenchmarkPipelineLatency", unit: "p99-ms", label: "p99 ms", max: true},
		ratio:   func(m, _ float64) float64 { return m }, ratioText: "%.0f ms", bound: 100, atMost: true, boundText: "< 100 ms"},
	{name: "memory: peak RSS of the benchmark process while streaming (worst run)",
		measure: figure{bench: "BenchmarkPipeline", unit: "peak-rss-MiB", label: "MiB", max: true},
		ratio:   func(m, _ float64) float64 { return m }, ratioText: "%.0f MiB", bound: 400, atMost: true, boundText: "< 400 MiB"},
	{name: "backfill: 1,000,000 profiles, 2 workers, vs reading them",
		measure:  figure{bench: "BenchmarkBackfill/baseline=read", unit: "profiles/s", label: "read profiles/s"},
		baseline: figure{bench: "BenchmarkBackfill/workers=2", unit: "profiles/s", label: "backfill profiles/s"},
		ratio:    func(m, b float64) float64 { return m / b }, ratioText: "%.2f× the read time", bound: 2, atMost: true, boundText: "≤ 2×",
		scaled: "BenchmarkBackfill/workers=2"},
	{name: "backfill: 1,000,000 profiles, 2 workers, absolute time",
		measure: figure{bench: "BenchmarkBackfill/workers=2", unit: "s/1M-profiles", label: "s per 1M profiles"},
		ratio:   func(m, _ float64) float64 { return m }, ratioText: "%.1f s", bound: 25, atMost: true, boundText: "≤ 25 s",
		scaled: "BenchmarkBackfill/workers=2"},
}

var infos = []info{
	{name: "streaming: this process's CPU per event (service and embedded broker)",
		measure: figure{bench: "BenchmarkPipeline", unit: "cpu-µs/event", label: "cpu µs/event"}},
	{name: "streaming: PostgreSQL's CPU per event, pipeline vs raw insert",
		measure:   figure{bench: "BenchmarkPipeline", unit: "pg-cpu-µs/event", label: "pipeline pg µs/event"},
		baseline:  figure{bench: "BenchmarkRawPostgresInsert", unit: "pg-cpu-µs/event", label: "raw insert pg µs/event"},
		ratioText: "%.1f×"},
	{name: "streaming: explanation bytes stored per match",
		measure: figure{bench: "BenchmarkPipeline", unit: "explanation-B/match", label: "B/match"}},
	{name: "streaming: p50 event-to-commit at 1,000 events/s",
		measure: figure{bench: "BenchmarkPipelineLatency", unit: "p50-ms", label: "p50 ms"}},
	{name: "backfill: this process's CPU per profile, 2 workers vs the read",
		measure:   figure{bench: "BenchmarkBackfill/workers=2", unit: "go-cpu-µs/profile", label: "backfill µs/profile"},
		baseline:  figure{bench: "BenchmarkBackfill/baseline=read", unit: "go-cpu-µs/profile", label: "read µs/profile"},
		ratioText: "%.1f×"},
	{name: "backfill: PostgreSQL's CPU per profile, 2 workers vs the read",
		measure:   figure{bench: "BenchmarkBackfill/workers=2", unit: "pg-cpu-µs/profile", label: "backfill pg µs/profile"},
		baseline:  figure{bench: "BenchmarkBackfill/baseline=read", unit: "pg-cpu-µs/profile", label: "read pg µs/profile"},
		ratioText: "%.1f×"},
}

func report(w io.Writer, r io.Reader) (err error) {
	res, err := parse(r)
	if res == nil {
		return err
	}
	defer func() {
		if err != nil {
			fmt.Fprintln(w, "benchreport:", err)
		}
	}()
	fmt.Fprintln(w, "issue 16 targets, each beside its baseline from this run:")
	for _, t := range targets {
		m, how, ok := res.value(t.measure)
		if !ok {
			fmt.Fprintf(w, "  %-70s not measured in this run\n", t.name)
			continue
		}
		line := fmt.Sprintf("%s %s (%s)", t.measure.label, num(m), how)
		b := 0.0
		if t.baseline.bench != "" {
			var bhow string
			if b, bhow, ok = res.value(t.baseline); !ok {
				fmt.Fprintf(w, "  %-70s baseline %s not measured in this run\n", t.name, t.baseline.bench)
				continue
			}
			line += fmt.Sprintf(", %s %s (%s)", t.baseline.label, num(b), bhow)
		}
		v := t.ratio(m, b)
		// On a shared machine two figures of one run move together, so
		// the median of the runs' own ratios is steadier than the ratio
		// of the medians; shown when the runs pair up.
		if rs, ok := res.perRun(t); ok {
			line += fmt.Sprintf(", per run "+t.ratioText+" (median of %d)", rs, len(res[t.measure.bench][t.measure.unit]))
		}
		if t.scaled != "" {
			line += res.scaledNote(t.scaled)
		}
		met := v >= t.bound
		if t.atMost {
			met = v <= t.bound
		}
		verdict := "MET"
		if !met {
			verdict = "MISSED"
		}
		fmt.Fprintf(w, "  %-70s %s: "+t.ratioText+" (target %s) %s\n", t.name, line, v, t.boundText, verdict)
	}
	fmt.Fprintln(w, "other figures from this run (no target):")
	for _, f := range infos {
		m, how, ok := res.value(f.measure)
		if !ok {
			fmt.Fprintf(w, "  %-70s not measured in this run\n", f.name)
			continue
		}
		line := fmt.Sprintf("%s %s (%s)", f.measure.label, num(m), how)
		if f.baseline.bench != "" {
			if b, bhow, ok := res.value(f.baseline); ok && b != 0 {
				line += fmt.Sprintf(", %s %s (%s): "+f.ratioText, f.baseline.label, num(b), bhow, m/b)
			}
		}
		fmt.Fprintf(w, "  %-70s %s\n", f.name, line)
	}
	return err
}

// perRun is the median of the ratios of each run, when the target has a
// baseline and both figures have the same number of runs (more than one):
// the i-th value of each then comes from the same run.
func (r results) perRun(t target) (float64, bool) {
	if t.baseline.bench == "" || t.measure.max || t.baseline.max {
		return 0, false
	}
	ms, bs := r[t.measure.bench][t.measure.unit], r[t.baseline.bench][t.baseline.unit]
	if len(ms) < 2 || len(ms) != len(bs) {
		return 0, false
	}
	vs := make([]float64, len(ms))
	for i := range ms {
		vs[i] = t.ratio(ms[i], bs[i])
	}
	sort.Float64s(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2], true
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2, true
}

// scaledNote says how many profiles a backfill ran on when that was not
// the target's 1,000,000: its s/1M-profiles is then scaled from fewer.
func (r results) scaledNote(bench string) string {
	n, _, ok := r.median(bench, "profiles")
	switch {
	case !ok:
		return " [profile count not reported]"
	case n != 1e6:
		return fmt.Sprintf(" [ran on %s profiles, not 1,000,000]", num(n))
	}
	return ""
}

// num prints a figure without an exponent.
func num(v float64) string {
	if v >= 1000 || v == float64(int64(v)) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}
