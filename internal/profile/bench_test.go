package profile

import (
	"bufio"
	"os"
	"testing"
)

// BenchmarkDecodeEnvelope decodes the example events, the cost of a batch
// before the database.
func BenchmarkDecodeEnvelope(b *testing.B) {
	f, err := os.Open("../../examples/events.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var events [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		events = append(events, append([]byte(nil), sc.Bytes()...))
	}
	v, err := NewValidator()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := v.DecodeEnvelope(events[i%len(events)]); err != nil {
			b.Fatal(err)
		}
	}
}
