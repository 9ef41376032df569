package ingest

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBackoffIsBoundedExponential(t *testing.T) {
	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 5000, 5000}
	for i, w := range want {
		if got := backoff(i + 1); got != w*time.Millisecond {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
	if got := backoff(1000); got != retryMax {
		t.Errorf("backoff(1000) = %v, want %v", got, retryMax)
	}
}

func TestWithGraceOutlivesParentForGrace(t *testing.T) {
	type key struct{}
	parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	ctx, cancel := withGrace(parent, 50*time.Millisecond)
	defer cancel()

	if ctx.Value(key{}) != "v" {
		t.Error("values of the parent are lost")
	}
	cancelParent()
	if ctx.Err() != nil {
		t.Fatal("cancelled together with its parent")
	}
	start := time.Now()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("not cancelled after the grace period")
	}
	if took := time.Since(start); took < 40*time.Millisecond {
		t.Errorf("cancelled %v after its parent, want about 50ms", took)
	}
	if cause := context.Cause(ctx); !errors.Is(cause, context.Canceled) {
		t.Errorf("cause %v, want it to wrap the parent's", cause)
	}
}

func TestWithGraceCancel(t *testing.T) {
	ctx, cancel := withGrace(context.Background(), time.Hour)
	cancel()
	if ctx.Err() == nil {
		t.Fatal("cancel did not cancel")
	}
}
