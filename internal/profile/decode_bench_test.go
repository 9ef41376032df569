package profile

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/gen"
)

// genProfiles returns the data of a small generated city, nine residents
// to one enterprise, as the backfill reads them.
func genProfiles(tb testing.TB, n int) (kinds []Kind, docs [][]byte) {
	tb.Helper()
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	err := gen.Each(gen.Options{Residents: n * 9 / 10, Enterprises: n - n*9/10, Seed: 1, At: at}, func(typ, _ string, ev []byte) error {
		var e struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(ev, &e); err != nil {
			return err
		}
		kinds, docs = append(kinds, Kind(typ)), append(docs, e.Data)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return kinds, docs
}

// decodeV1 is the general decoder, encoding/json, that DecodeValid must
// agree with.
func decodeV1(kind Kind, data []byte) (any, error) {
	var p any = &Resident{}
	if kind == KindEnterprise {
		p = &Enterprise{}
	}
	return p, json.Unmarshal(data, p)
}

func benchDecode(b *testing.B, decode func(Kind, []byte) (any, error)) {
	kinds, docs := genProfiles(b, 2000)
	var bytes int
	for _, d := range docs {
		bytes += len(d)
	}
	b.SetBytes(int64(bytes / len(docs)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := decode(kinds[i%len(docs)], docs[i%len(docs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeValid decodes generated profiles with DecodeValid, and
// BenchmarkDecodeV1 with encoding/json, its baseline.
func BenchmarkDecodeValid(b *testing.B) { benchDecode(b, DecodeValid) }
func BenchmarkDecodeV1(b *testing.B)    { benchDecode(b, decodeV1) }
