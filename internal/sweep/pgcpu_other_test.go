//go:build !linux

package sweep

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
)

func pgBackendCPU(context.Context, *pgxpool.Pool) map[int]float64 { return nil }

func pgCPUSince(context.Context, *pgxpool.Pool, map[int]float64) float64 { return 0 }
