package library_test

import (
	"testing"

	"github.com/policypush/policypush/internal/library"
	"github.com/policypush/policypush/internal/rules"
)

// BenchmarkNewSegmenter is the start-up cost of search: the embedded 人社
// dictionary, loaded once.
func BenchmarkNewSegmenter(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := library.NewSegmenter(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSearch is one query over the catalogue.
func BenchmarkSearch(b *testing.B) {
	set := catalogue(b)
	seg, err := library.NewSegmenter()
	if err != nil {
		b.Fatal(err)
	}
	var rs []*rules.Rule
	for _, p := range set.Policies() {
		rs = append(rs, p.Rule)
	}
	x := library.NewIndex(seg, rs)
	b.ReportAllocs()
	for b.Loop() {
		x.Search("灵活就业人员社保补贴怎么申请")
	}
}
