//go:build linux

package sweep

import (
	"context"
	"os"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgBackendCPU is the CPU time so far, in seconds, of each PostgreSQL
// backend connected to the benchmark's database, by pid (as in
// internal/app's benchmarks): PostgreSQL's share of a backfill, which the
// process's own CPU time leaves out. It reads /proc, so it needs the
// server on this host; elsewhere it is empty.
func pgBackendCPU(ctx context.Context, db *pgxpool.Pool) map[int]float64 {
	out := map[int]float64{}
	rows, err := db.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		return out
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return out
	}
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command's closing parenthesis start at field 3;
		// utime and stime are fields 14 and 15, in clock ticks (100 a second).
		_, rest, ok := strings.Cut(string(b), ") ")
		f := strings.Fields(rest)
		if !ok || len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64)
		s, _ := strconv.ParseFloat(f[12], 64)
		out[int(pid)] = (u + s) / 100
	}
	return out
}

// pgCPUSince is the backends' CPU time since before, in seconds; a backend
// that connected since counts from zero.
func pgCPUSince(ctx context.Context, db *pgxpool.Pool, before map[int]float64) float64 {
	var sum float64
	for pid, t := range pgBackendCPU(ctx, db) {
		sum += t - before[pid]
	}
	return sum
}
