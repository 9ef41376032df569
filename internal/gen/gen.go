// Package gen generates a synthetic city: snapshot events (shared/CONTRACTS.md
// §1) for residents and enterprises whose fields follow realistic
// proportions (shared/research/domain.md), so that tests, benchmarks, the
// demo and `policyctl gen` can feed the pipeline without real data.
//
// The output is a pure function of the Options: the same options give the
// same bytes. Every profile passes the JSON Schemas; some fields are left
// absent or null on purpose, because unknown is a real state the rules must
// handle. Dates are relative to Options.At, so that recent graduates,
// recent certificates and recent hires stay recent whenever the city is
// generated.
//
// Like a real profile stream, the residents' snapshots are not a census:
// sources publish one when a record changes, so besides a periodic sync of
// anyone the stream carries people who just lost a job, obtained a
// certificate, graduated, fell due for pension certification and so on
// (see the triggers in resident.go). Enterprises are insured employers.
// With the repository's rules, about a third of residents and two thirds
// of enterprises are eligible for at least one policy.
package gen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"
)

// MaxSubjects bounds Residents and Enterprises: identifiers are
// permutations of the index into fixed spaces (mobile numbers, USCC
// bodies), and a few million subjects per kind is far beyond any use.
const MaxSubjects = 10_000_000

// Options say what to generate.
type Options struct {
	Residents, Enterprises int
	Seed                   int64
	// At is the instant the city is generated for: dates are relative to
	// its date in Asia/Shanghai, and every event occurred within the hour
	// before it. It is required, since the generator never reads the clock.
	At time.Time
}

// The subject types and sources of the events.
const (
	Resident   = "resident"
	Enterprise = "enterprise"
	// SourceResident is 金保工程, the social-insurance system that holds
	// residents' records; SourceEnterprise is 国家企业信用信息公示系统.
	SourceResident   = "jinbao"
	SourceEnterprise = "gsxt"
)

func (o Options) check() error {
	switch {
	case o.Residents < 0 || o.Enterprises < 0:
		return fmt.Errorf("gen: negative count (%d residents, %d enterprises)", o.Residents, o.Enterprises)
	case o.Residents > MaxSubjects || o.Enterprises > MaxSubjects:
		return fmt.Errorf("gen: more than %d subjects of a kind", MaxSubjects)
	case o.At.IsZero():
		return errors.New("gen: Options.At is required")
	}
	return nil
}

// Each generates the events and calls fn for each, in order: residents
// and enterprises interleaved in proportion to their counts, each kind in
// index order. fn may keep event. Each stops at the first error, from the
// options or from fn (returned wrapped).
//
// Subject i of a kind depends only on i, the seed, At and, for a
// resident, the number of enterprises (its employer is one of them): not
// on how many subjects come before or after it.
func Each(o Options, fn func(subjectType, subjectID string, event []byte) error) error {
	if err := o.check(); err != nil {
		return err
	}
	g := newGenerator(o)
	n, m := int64(o.Residents), int64(o.Enterprises)
	for r, e := int64(0), int64(0); r < n || e < m; {
		kind := Resident
		var id string
		var ev []byte
		// Bresenham: a resident whenever residents are behind their share.
		if r < n && (e >= m || r*m <= e*n) {
			id, ev = g.resident(int(r))
			r++
		} else {
			kind = Enterprise
			id, ev = g.enterprise(int(e))
			e++
		}
		if err := fn(kind, id, ev); err != nil {
			return fmt.Errorf("gen: %s %s: %w", kind, id, err)
		}
	}
	return nil
}

// Write writes the events to w as JSON Lines.
func Write(w io.Writer, o Options) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	err := Each(o, func(_, _ string, event []byte) error {
		bw.Write(event)
		return bw.WriteByte('\n') // bufio keeps the first write error
	})
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("gen: write: %w", err)
	}
	return nil
}

// generator holds one run's state. Every subject reseeds the PCG from the
// seed and its own index, so that a subject does not depend on the ones
// generated before it.
type generator struct {
	o     Options
	key   uint64
	pcg   *rand.PCG
	r     *rand.Rand
	t     *tables
	at    time.Time // Options.At in Asia/Shanghai
	today time.Time // at's date, at midnight UTC: dates are civil, never zoned
	// eventPrefix starts every event id: the seed and At, so that a run
	// with another seed or for another instant does not collide with this
	// one in the pipeline's applied-event log, while a rerun is skipped as
	// a redelivery.
	eventPrefix string
	w           jsonWriter
}

func newGenerator(o Options) *generator {
	at := o.At.In(time.FixedZone("CST", 8*3600)).Truncate(time.Second)
	y, mo, d := at.Date()
	pcg := rand.NewPCG(0, 0)
	return &generator{
		o:           o,
		key:         splitmix(uint64(o.Seed)),
		pcg:         pcg,
		r:           rand.New(pcg),
		t:           newTables(),
		at:          at,
		today:       time.Date(y, mo, d, 0, 0, 0, 0, time.UTC),
		eventPrefix: "gen-" + strconv.FormatInt(o.Seed, 10) + "-" + at.Format("20060102T150405") + "-",
	}
}

// begin reseeds for subject i of a kind and writes the envelope up to the
// profile's id.
func (g *generator) begin(kind, source, id string, i int) *jsonWriter {
	tag := uint64(1)
	if kind == Enterprise {
		tag = 2
	}
	g.pcg.Seed(g.key, splitmix(tag<<40^uint64(i)))
	// Drawn first, so that it does not depend on At: a subject's events
	// from runs at later instants are later, and the pipeline, which drops
	// an event older than the last applied from its source, takes them.
	ago := time.Duration(g.r.IntN(3600)) * time.Second
	w := &g.w
	w.b, w.comma = w.b[:0], false
	w.b = append(w.b, '{')
	w.str("event_id", g.eventPrefix+kind[:1]+strconv.Itoa(i+1))
	w.str("subject_type", kind)
	w.str("subject_id", id)
	w.key("occurred_at")
	w.b = append(w.b, '"')
	w.b = g.at.Add(-ago).AppendFormat(w.b, time.RFC3339)
	w.b = append(w.b, '"')
	w.str("source", source)
	w.str("type", "snapshot")
	w.open("data")
	return w
}

// end closes the profile and the envelope and returns a copy the caller
// may keep.
func (g *generator) end() []byte {
	g.w.close()
	g.w.b = append(g.w.b, '}')
	return append(make([]byte, 0, len(g.w.b)), g.w.b...)
}

// p reports true with probability q.
func (g *generator) p(q float64) bool { return g.r.Float64() < q }

// between is uniform in [lo, hi].
func (g *generator) between(lo, hi int) int { return lo + g.r.IntN(hi-lo+1) }

// pick returns an index with probability proportional to its weight.
func (g *generator) pick(weights ...float64) int {
	sum := 0.0
	for _, w := range weights {
		sum += w
	}
	x := g.r.Float64() * sum
	for k, w := range weights {
		if x < w {
			return k
		}
		x -= w
	}
	return len(weights) - 1
}

// unknown reports, with probability q, that the field key is to be left
// unknown. Most unknown fields are absent; one in four is an explicit
// null, which means the same (CONTRACTS.md §2) and must be read the same.
func (g *generator) unknown(key string, q float64) bool {
	if g.r.Float64() >= q {
		return false
	}
	if g.r.IntN(4) == 0 {
		g.w.null(key)
	}
	return true
}

// daysAgo is the date n days before today.
func (g *generator) daysAgo(n int) time.Time { return g.today.AddDate(0, 0, -n) }

// monthsAgo is the first day of the month n months before today's.
func (g *generator) monthsAgo(n int) time.Time {
	return time.Date(g.today.Year(), g.today.Month()-time.Month(n), 1, 0, 0, 0, 0, time.UTC)
}

// monthsBetween counts the whole months from a to b, as the rules'
// months_between does.
func monthsBetween(a, b time.Time) int {
	n := (b.Year()-a.Year())*12 + int(b.Month()) - int(a.Month())
	if b.Day() < a.Day() {
		n--
	}
	return n
}

// expDays is an exponentially distributed number of days with the given
// mean, capped: the time since events that happen at a steady rate.
func (g *generator) expDays(mean float64, max int) int {
	return min(int(g.r.ExpFloat64()*mean), max)
}
