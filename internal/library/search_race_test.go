package library

import (
	"sync"
	"testing"
)

// TestSegmentersBuiltAtOnce builds segmenters concurrently and cuts with
// them, as two services in one process do: under -race it fails if gse's
// shared model is written by more than one of them.
func TestSegmentersBuiltAtOnce(t *testing.T) {
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s, err := NewSegmenter()
			if err != nil {
				t.Error(err)
				return
			}
			if len(s.words("灵活就业人员社会保险补贴")) == 0 {
				t.Error("no words")
			}
		})
	}
	wg.Wait()
}
