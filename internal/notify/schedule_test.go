package notify

import (
	"testing"
	"time"

	"github.com/policypush/policypush/internal/config"
)

func at(day, h, m int) time.Time { return time.Date(2026, 3, day, h, m, 0, 0, shanghai) }

func TestQuietUntil(t *testing.T) {
	night := config.Window{From: 21 * time.Hour, To: 8 * time.Hour, On: true}
	lunch := config.Window{From: 12 * time.Hour, To: 14 * time.Hour, On: true}
	tests := []struct {
		name  string
		w     config.Window
		now   time.Time
		want  time.Time
		quiet bool
	}{
		{name: "off", w: config.Window{}, now: at(2, 23, 0)},
		{name: "day", w: night, now: at(2, 10, 0)},
		{name: "evening", w: night, now: at(2, 22, 30), want: at(3, 8, 0), quiet: true},
		{name: "early morning", w: night, now: at(3, 2, 0), want: at(3, 8, 0), quiet: true},
		{name: "window end is open", w: night, now: at(3, 8, 0)},
		{name: "from UTC", w: night, now: at(2, 22, 0).UTC(), want: at(3, 8, 0), quiet: true},
		{name: "same-day window", w: lunch, now: at(2, 12, 30), want: at(2, 14, 0), quiet: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, quiet := quietUntil(tt.w, tt.now)
			if quiet != tt.quiet || !got.Equal(tt.want) {
				t.Errorf("quietUntil = %v, %v; want %v, %v", got, quiet, tt.want, tt.quiet)
			}
		})
	}
}

func TestCapUntil(t *testing.T) {
	c := config.Cap{N: 2, Period: 24 * time.Hour}
	now := at(2, 12, 0)
	tests := []struct {
		name string
		sent []time.Time
		want time.Time
		over bool
	}{
		{name: "none", sent: nil},
		{name: "under", sent: []time.Time{at(2, 9, 0)}},
		{name: "at cap", sent: []time.Time{at(2, 9, 0), at(2, 10, 0)}, want: at(3, 9, 0), over: true},
		{name: "over cap waits for enough to leave", sent: []time.Time{at(1, 13, 0), at(2, 9, 0), at(2, 10, 0)}, want: at(3, 9, 0), over: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, over := capUntil(c, tt.sent, now)
			if over != tt.over || !got.Equal(tt.want) {
				t.Errorf("capUntil = %v, %v; want %v, %v", got, over, tt.want, tt.over)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Base: time.Minute, Max: time.Hour}
	tests := []struct {
		attempt int
		jitter  float64
		want    time.Duration
	}{
		{1, 0, 30 * time.Second},
		{1, 0.999999, 60 * time.Second},
		{3, 0, 2 * time.Minute},
		{7, 0, 30 * time.Minute},
		{8, 0, 30 * time.Minute}, // capped at 1h
		{100, 0.5, 45 * time.Minute},
	}
	for _, tt := range tests {
		if got := b.delay(tt.attempt, tt.jitter); got.Round(time.Second) != tt.want {
			t.Errorf("delay(%d, %v) = %v, want %v", tt.attempt, tt.jitter, got, tt.want)
		}
	}
}

func TestBucket(t *testing.T) {
	b := newBucket(2, 2) // 2 per second, burst 2
	now := at(2, 10, 0)
	for i := range 2 {
		if wait, ok := b.take(now, 0); !ok || wait != 0 {
			t.Fatalf("take %d: %v %v", i, wait, ok)
		}
	}
	if wait, ok := b.take(now, 0); ok || wait != 500*time.Millisecond {
		t.Fatalf("third take: %v %v, want refused with 500ms", wait, ok)
	}
	if wait, ok := b.take(now, time.Second); !ok || wait != 500*time.Millisecond {
		t.Fatalf("reserving take: %v %v", wait, ok)
	}
	if wait, ok := b.take(now.Add(time.Second), 0); !ok || wait != 0 {
		t.Fatalf("take a second later: %v %v", wait, ok)
	}
}
