//go:build linux

package app

import (
	"context"
	"os"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// pgBackendCPU is the CPU time so far, in seconds, of each PostgreSQL
// backend connected to the benchmark's database, by pid: PostgreSQL's own
// work for the benchmark, which on a shared machine varies far less than
// the time it takes. It reads /proc, so it needs the server on this host;
// elsewhere it is empty.
func pgBackendCPU(ctx context.Context, db *pgx.Conn) map[int]float64 {
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

// pgCPUSince is the backends' CPU time since before, in seconds.
func pgCPUSince(ctx context.Context, db *pgx.Conn, before map[int]float64) float64 {
	var sum float64
	for pid, t := range pgBackendCPU(ctx, db) {
		sum += t - before[pid]
	}
	return sum
}
