package rules

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"
)

// A compact explanation is an [Explanation] split in two, so that a match
// stores only what is its own. Its Form, shared by every explanation of
// one policy version, holds the title, the conditions' names and
// expressions and the names of the values each reads; the compact record
// (AppendCompact) holds the verdicts, the values read, the instant, the
// result and the amount, in about a twentieth of the JSON's bytes.
// RenderExplanation puts the two back together, equal as JSON to what
// ExplainOutcome gives.

// Form is what every explanation of one policy version shares. Digest
// names it (the first 16 bytes of the SHA-256 of JSON), so that equal
// forms are one.
type Form struct {
	Digest []byte
	JSON   []byte
}

type formDoc struct {
	PolicyID      string     `json:"policy_id"`
	PolicyVersion int        `json:"policy_version"`
	Title         string     `json:"title"`
	Conditions    []formCond `json:"conditions"`
	AmountReads   []formRead `json:"amount_reads,omitempty"`
}

type formCond struct {
	Name  string     `json:"name"`
	Expr  string     `json:"expr"`
	Reads []formRead `json:"reads"`
}

// formRead is a value an expression reads. Default: an absent value is
// given a default by the expression (?? or ?.). Now: the value is the
// evaluation instant, which the record holds once.
type formRead struct {
	Name    string `json:"name"`
	Default bool   `json:"default,omitempty"`
	Now     bool   `json:"now,omitempty"`
}

// planRead is one read of a program, in the order Explain lists them:
// slots by number, then params by name, then now.
type planRead struct {
	slot  int // -1 for a param or now
	field *field
	param string
	now   bool
	form  formRead
}

func readPlan(c *program, lay *layout) []planRead {
	var out []planRead
	slots := make([]int, 0, len(c.reads.slots))
	for s := range c.reads.slots {
		slots = append(slots, s)
	}
	sort.Ints(slots)
	for _, s := range slots {
		f := lay.slots[s]
		out = append(out, planRead{slot: s, field: f,
			form: formRead{Name: string(lay.kind) + "." + f.path, Default: !c.reads.slots[s]}})
	}
	params := make([]string, 0, len(c.reads.params))
	for name := range c.reads.params {
		params = append(params, name)
	}
	sort.Strings(params)
	for _, name := range params {
		out = append(out, planRead{slot: -1, param: name, form: formRead{Name: "params." + name}})
	}
	if c.reads.now {
		out = append(out, planRead{slot: -1, now: true, form: formRead{Name: "now", Now: true}})
	}
	return out
}

// newForm computes the policy's form and the read plans of its programs.
func (p *Policy) newForm(lay *layout) {
	doc := formDoc{PolicyID: p.ID, PolicyVersion: p.Version, Title: p.Title}
	p.plans = make([][]planRead, len(p.conds))
	for i, c := range p.conds {
		p.plans[i] = readPlan(c, lay)
		fc := formCond{Name: c.spec.Name, Expr: c.spec.Expr}
		for _, r := range p.plans[i] {
			fc.Reads = append(fc.Reads, r.form)
		}
		doc.Conditions = append(doc.Conditions, fc)
	}
	if p.amount != nil {
		p.amountPlan = readPlan(p.amount, lay)
		for _, r := range p.amountPlan {
			doc.AmountReads = append(doc.AmountReads, r.form)
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(fmt.Sprintf("rules: encode the explanation form of %s: %v", p.ID, err)) // strings and bools always encode
	}
	sum := sha256.Sum256(b)
	p.form = Form{Digest: sum[:16], JSON: b}
}

// Form is the policy's explanation form.
func (p *Policy) Form() Form { return p.form }

// The compact record, version 1:
//
//	0x01
//	varint   the instant, Unix nanoseconds
//	byte     flags: 1 the policy applies, 2 an amount follows
//	byte     the Result
//	[8]byte  the amount, IEEE 754 little-endian, when flagged
//	uvarint  number of conditions, then each:
//	  byte   verdict (the Verdict) | 0x10 an error follows | 0x20 missing fields follow
//	  reads
//	  [uvarint length, bytes]         the error
//	  [uvarint n, n × (uvarint, bytes)] the missing fields
//	reads of the amount
//
// reads are a uvarint count, then per read a tag (readAbsent,
// readSensitive, readNow, or readValue followed by a uvarint length and
// the value as JSON).
const (
	compactV1 = 1

	flagApplies   = 1
	flagHasAmount = 2

	verdictHasError   = 0x10
	verdictHasMissing = 0x20

	readAbsent    = 0
	readSensitive = 1
	readValue     = 2
	readNow       = 3
)

// AppendCompact appends to dst the compact record of the explanation
// ExplainOutcome(p, in, at, o) would give: with p's Form,
// RenderExplanation turns it back into that explanation. Values of
// sensitive fields are withheld here already, as Explain withholds them.
func (e *Evaluator) AppendCompact(dst []byte, p *Policy, in *Input, at *Instant, o Outcome) ([]byte, error) {
	dst = append(dst, compactV1)
	dst = binary.AppendVarint(dst, at.Now.UnixNano())
	var flags byte
	if p.Applies(at) && in.Kind == p.Subject {
		flags |= flagApplies
	}
	if o.HasAmount {
		flags |= flagHasAmount
	}
	dst = append(dst, flags, byte(o.Result))
	if o.HasAmount {
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(o.Amount))
	}
	lay := e.set.lay.of(p.Subject)
	dst = binary.AppendUvarint(dst, uint64(len(p.conds)))
	var err error
	for i := range p.conds {
		v := True
		var errText string
		var missing []string
		switch {
		case o.Failed&(1<<i) != 0:
			v = False
		case o.Unknown&(1<<i) != 0:
			v = VerdictUnknown
			e.bind(in, at)
			if err := e.runCond(p, i); err != nil {
				errText = err.Error()
			}
			missing, _, _ = e.missingFields(p, p.conds[i].spec.Expr, in, at)
		}
		b := byte(v)
		if errText != "" {
			b |= verdictHasError
		}
		if len(missing) > 0 {
			b |= verdictHasMissing
		}
		dst = append(dst, b)
		if dst, err = e.appendReads(dst, p, lay, p.plans[i], in, at); err != nil {
			return nil, err
		}
		if errText != "" {
			dst = appendBytes(dst, errText)
		}
		if len(missing) > 0 {
			dst = binary.AppendUvarint(dst, uint64(len(missing)))
			for _, m := range missing {
				dst = appendBytes(dst, m)
			}
		}
	}
	return e.appendReads(dst, p, lay, p.amountPlan, in, at)
}

func appendBytes[S string | []byte](dst []byte, s S) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func (e *Evaluator) appendReads(dst []byte, p *Policy, lay *layout, plan []planRead, in *Input, at *Instant) ([]byte, error) {
	dst = binary.AppendUvarint(dst, uint64(len(plan)))
	for _, r := range plan {
		var v any
		switch {
		case r.now:
			dst = append(dst, readNow)
			continue
		case r.slot >= 0:
			v = in.slots[r.slot]
			if v != nil && e.set.marks.IsSensitive(lay.kind, r.field.path) {
				dst = append(dst, readSensitive)
				continue
			}
		default:
			v = at.params[p.paramIndex[r.param]]
		}
		if v == nil {
			dst = append(dst, readAbsent)
			continue
		}
		dst = append(dst, readValue)
		// The length goes before the value, which is written in place:
		// reserve one byte, the common case, and shift if it needs more.
		at0 := len(dst)
		dst = append(dst, 0)
		var err error
		if dst, err = appendValue(dst, r.field, v); err != nil {
			return nil, err
		}
		n := len(dst) - at0 - 1
		if n < 0x80 {
			dst[at0] = byte(n)
			continue
		}
		var lb [binary.MaxVarintLen64]byte
		ln := binary.PutUvarint(lb[:], uint64(n))
		dst = append(dst, lb[:ln-1]...)
		copy(dst[at0+ln:], dst[at0+1:at0+1+n])
		copy(dst[at0:], lb[:ln])
	}
	return dst, nil
}

// appendValue appends v, a slot value of f (nil f: a param's value), as
// encoding/json writes what plain(f, v) gives.
func appendValue(dst []byte, f *field, v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return appendString(dst, x)
	case bool:
		return strconv.AppendBool(dst, x), nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case float64:
		return appendFloat(dst, x)
	case []any:
		if f == nil || f.kind != arrayField {
			break
		}
		dst = append(dst, '[')
		for i, el := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if f.elem.kind != objectField {
				dst, err = appendValue(dst, f.elem, el)
			} else {
				dst, err = appendObject(dst, f.elem, el.([]any))
			}
			if err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("explanation value: %w", err)
	}
	return append(dst, b...), nil
}

// appendObject writes an array element's slots as plain does (a map, so
// keys in sorted order, absent fields left out).
func appendObject(dst []byte, obj *field, slots []any) ([]byte, error) {
	dst = append(dst, '{')
	first := true
	for _, ef := range obj.sorted {
		ev := slots[ef.slot]
		if ev == nil {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		var err error
		if dst, err = appendString(dst, ef.path); err != nil {
			return nil, err
		}
		dst = append(dst, ':')
		if dst, err = appendValue(dst, ef, ev); err != nil {
			return nil, err
		}
	}
	return append(dst, '}'), nil
}

// appendString writes s as a JSON string: as it is when nothing in it
// needs an escape, else as encoding/json writes it. (Rendering passes the
// value through encoding/json, which adds its HTML escapes either way.)
func appendString(dst []byte, s string) ([]byte, error) {
	plain := utf8.ValidString(s)
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c >= 0x20 && c != '"' && c != '\\'
	}
	if !plain {
		b, err := json.Marshal(s)
		if err != nil {
			return nil, fmt.Errorf("explanation value: %w", err)
		}
		return append(dst, b...), nil
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"'), nil
}

// appendFloat writes f as encoding/json does.
func appendFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("explanation value: unsupported number %v", f)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, nil
}

var errCompact = errors.New("malformed compact explanation")

// RenderExplanation is the explanation (the JSON of an [Explanation]) of a
// compact record and its form, for the subject it was made for.
func RenderExplanation(form, record []byte, subjectType, subjectID string) (json.RawMessage, error) {
	var doc formDoc
	if err := json.Unmarshal(form, &doc); err != nil {
		return nil, fmt.Errorf("render an explanation: form: %w", err)
	}
	x, err := decodeCompact(&doc, record)
	if err != nil {
		return nil, fmt.Errorf("render an explanation: %w", err)
	}
	x.SubjectType, x.SubjectID = subjectType, subjectID
	out, err := json.Marshal(x)
	if err != nil {
		return nil, fmt.Errorf("render an explanation: %w", err)
	}
	return out, nil
}

func decodeCompact(doc *formDoc, rec []byte) (*Explanation, error) {
	r := compactReader{b: rec}
	if v := r.byte(); r.err != nil || v != compactV1 {
		return nil, fmt.Errorf("%w: unknown format", errCompact)
	}
	at := time.Unix(0, r.varint()).In(Shanghai)
	flags := r.byte()
	x := &Explanation{PolicyID: doc.PolicyID, PolicyVersion: doc.PolicyVersion, Title: doc.Title, At: at,
		Applies: flags&flagApplies != 0, Result: Result(r.byte()).String()}
	if flags&flagHasAmount != 0 {
		a := math.Float64frombits(binary.LittleEndian.Uint64(r.next(8)))
		x.Amount = &a
	}
	n := r.uvarint()
	if r.err == nil && n != uint64(len(doc.Conditions)) {
		return nil, fmt.Errorf("%w: %d conditions, the form has %d", errCompact, n, len(doc.Conditions))
	}
	for _, fc := range doc.Conditions {
		if r.err != nil {
			break
		}
		vb := r.byte()
		t := ConditionTrace{Name: fc.Name, Expr: fc.Expr, Verdict: Verdict(vb & 0x0f).String()}
		t.Reads = r.reads(fc.Reads, at)
		if vb&verdictHasError != 0 {
			t.Error = string(r.bytes())
		}
		if vb&verdictHasMissing != 0 {
			m := r.uvarint()
			for j := uint64(0); j < m && r.err == nil; j++ {
				t.Missing = append(t.Missing, string(r.bytes()))
			}
		}
		x.Conditions = append(x.Conditions, t)
	}
	x.AmountReads = r.reads(doc.AmountReads, at)
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%w: %d bytes left over", errCompact, len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return x, nil
}

// compactReader reads a compact record; the first error sticks and makes
// every later read return zero values.
type compactReader struct {
	b   []byte
	err error
}

func (r *compactReader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated", errCompact)
	}
	r.b = nil
}

func (r *compactReader) next(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		r.fail()
		return make([]byte, max(n, 0))
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *compactReader) byte() byte { return r.next(1)[0] }

func (r *compactReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if r.err != nil || n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *compactReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if r.err != nil || n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *compactReader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	return r.next(int(n))
}

func (r *compactReader) reads(form []formRead, at time.Time) []Read {
	n := r.uvarint()
	if r.err == nil && n != uint64(len(form)) {
		r.err = fmt.Errorf("%w: %d reads, the form has %d", errCompact, n, len(form))
	}
	var out []Read
	for _, fr := range form {
		if r.err != nil {
			return nil
		}
		rd := Read{Name: fr.Name}
		switch tag := r.byte(); tag {
		case readAbsent:
			rd.Absent, rd.Defaulted = true, fr.Default
		case readSensitive:
			rd.Sensitive = true
		case readNow:
			rd.Value = at.Format(time.RFC3339)
		case readValue:
			v := r.bytes()
			if r.err == nil && !json.Valid(v) {
				r.err = fmt.Errorf("%w: a value is not JSON", errCompact)
			}
			rd.Value = json.RawMessage(v)
		default:
			r.err = fmt.Errorf("%w: read tag %d", errCompact, tag)
		}
		out = append(out, rd)
	}
	return out
}
