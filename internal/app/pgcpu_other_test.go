//go:build !linux

package app

import (
	"context"

	"github.com/jackc/pgx/v5"
)

func pgBackendCPU(context.Context, *pgx.Conn) map[int]float64 { return nil }

func pgCPUSince(context.Context, *pgx.Conn, map[int]float64) float64 { return 0 }
