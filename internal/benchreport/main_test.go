package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestReport reads recorded runs and prints each target beside its
// baseline: bench.txt has no backfill, which is said to be unmeasured;
// main-2026-12-08.txt is the main branch's runs of BENCHMARKS.md's "All
// passes together", with a 1,000,000-profile backfill.
func TestReport(t *testing.T) {
	for _, name := range []string{"bench", "main-2026-12-08"} {
		t.Run(name, func(t *testing.T) {
			input := "bench.txt"
			golden := filepath.Join("testdata", "report.golden")
			if name != "bench" {
				input, golden = name+".txt", filepath.Join("testdata", name+".golden")
			}
			in, err := os.Open(filepath.Join("testdata", input))
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			var out bytes.Buffer
			if err := report(&out, in); err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != string(want) {
				t.Errorf("report:\n%s\nwant:\n%s", out.String(), want)
			}
		})
	}
}

func TestMedianAndRatio(t *testing.T) {
	for _, tt := range []struct {
		name, input, want string
	}{
		{"even count takes the middle two", "BenchmarkCatalogue-2 1 1 ns/op 30 ns/condition 0 allocs/op\nBenchmarkCatalogue-2 1 1 ns/op 50 ns/condition 0 allocs/op\nBenchmarkRawExpr-2 1 40 ns/op\n",
			"catalogue ns/condition 40 (median of 2), raw expr ns/comparison 40 (median of 1): 1.00× (target ≤ 1.30×) MET"},
		{"a missed ratio", "BenchmarkCatalogue-2 1 1 ns/op 80 ns/condition 3 allocs/op\nBenchmarkRawExpr-2 1 40 ns/op\n",
			"2.00× (target ≤ 1.30×) MISSED"},
		{"a failed run is reported", "BenchmarkRawExpr-2 1 40 ns/op\n--- FAIL: BenchmarkPipeline\nFAIL\n",
			"benchreport: the run failed: --- FAIL: BenchmarkPipeline; FAIL"},
		{"paired runs give the median of their own ratios", "BenchmarkPipeline-2 1 1 ns/op 10 events/s\nBenchmarkRawPostgresInsert-2 1 1 ns/op 100 events/s\nBenchmarkPipeline-2 1 1 ns/op 30 events/s\nBenchmarkRawPostgresInsert-2 1 1 ns/op 100 events/s\nBenchmarkPipeline-2 1 1 ns/op 40 events/s\nBenchmarkRawPostgresInsert-2 1 1 ns/op 400 events/s\n",
			"pipeline events/s 30 (median of 3), raw insert events/s 100 (median of 3), per run 10.0% (median of 3): 30.0% (target ≥ 20%) MET"},
		{"a backfill on fewer profiles says so", "BenchmarkBackfill/workers=2-2 1 1 ns/op 20000 profiles/s 50 s/1M-profiles 100000 profiles\nBenchmarkBackfill/baseline=read-2 1 1 ns/op 100000 profiles/s\n",
			"s per 1M profiles 50 (median of 1) [ran on 100000 profiles, not 1,000,000]: 50.0 s (target ≤ 25 s) MISSED"},
		{"a million-profile backfill meets the absolute aim", "BenchmarkBackfill/workers=2-2 1 1 ns/op 50000 profiles/s 20 s/1M-profiles 1000000 profiles\n",
			"s per 1M profiles 20 (median of 1): 20.0 s (target ≤ 25 s) MET"},
		{"the streaming pass's figures are shown beside the raw insert's", "BenchmarkPipeline-2 1 1 ns/op 60 pg-cpu-µs/event 382.5 explanation-B/match\nBenchmarkRawPostgresInsert-2 1 1 ns/op 8 pg-cpu-µs/event\n",
			"pipeline pg µs/event 60 (median of 1), raw insert pg µs/event 8 (median of 1): 7.5×"},
		{"the backfill's PostgreSQL CPU is shown beside the read's", "BenchmarkBackfill/workers=2-2 1 1 ns/op 28 go-cpu-µs/profile 31 pg-cpu-µs/profile 100000 profiles\nBenchmarkBackfill/baseline=read-2 1 1 ns/op 6.5 go-cpu-µs/profile 7.75 pg-cpu-µs/profile\n",
			"backfill pg µs/profile 31 (median of 1), read pg µs/profile 7.75 (median of 1): 4.0×"},
		{"allocations use the worst run", "BenchmarkCatalogue-2 1 1 ns/op 80 ns/condition 0 allocs/op\nBenchmarkCatalogue-2 1 1 ns/op 80 ns/condition 2 allocs/op\n",
			"allocs/op 2 (max): 2 (target 0) MISSED"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := report(&out, strings.NewReader(tt.input))
			if failed := strings.Contains(tt.input, "FAIL"); failed != (err != nil) {
				t.Errorf("error %v, want one: %v", err, failed)
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("report:\n%s\nwant a line containing %q", out.String(), tt.want)
			}
		})
	}
}
