package store

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/pii"
)

var (
	keyA = bytes.Repeat([]byte{0xA1}, pii.KeySize)
	keyB = bytes.Repeat([]byte{0xB2}, pii.KeySize)
)

func sealerFor(t *testing.T, current []byte, old ...[]byte) *pii.Sealer {
	t.Helper()
	s, err := pii.NewSealer(current, old...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func idOf(t *testing.T, key []byte) pii.KeyID { return sealerFor(t, key).KeyID() }

// legacySeal and legacyIndex write as the service did before key ids, so
// that a test database looks like one served by that version.
func legacySeal(t *testing.T, key, plain, aad []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := crand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	return gcm.Seal(nonce, nonce, plain, aad)
}

func legacyIndex(key []byte, kind, value string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("policypush blind index v1"))
	ix := hmac.New(sha256.New, m.Sum(nil))
	ix.Write([]byte(kind + "\x00" + value))
	return ix.Sum(nil)
}

// person is a resident the tests reach by mobile and openid.
type person struct {
	key            SubjectKey
	mobile, openid string
}

func newPerson(n int) person {
	id := fmt.Sprintf("p%05d", n)
	return person{key: SubjectKey{"resident", id}, mobile: fmt.Sprintf("139%08d", n), openid: fmt.Sprintf("oOPENID%08dxyz", n)}
}

func (p person) data(version int) []byte {
	return fmt.Appendf(nil, `{"person_id":%q,"version_seen":%d,"contact":{"mobile":%q},"channels":{"wechat":{"openid":%q}}}`,
		p.key.ID, version, p.mobile, p.openid)
}

// seedLegacy writes people as the version before key ids did: sealed under
// key in the legacy form, with legacy indexes, and the legacy canary.
func seedLegacy(t *testing.T, s *Store, key []byte, people []person) {
	t.Helper()
	ctx := t.Context()
	if _, err := s.Pool().Exec(ctx, `INSERT INTO pii_canary (id, sealed) VALUES (1, $1) ON CONFLICT DO NOTHING`,
		legacySeal(t, key, canaryPlain, canaryAAD)); err != nil {
		t.Fatal(err)
	}
	for _, p := range people {
		fields := fmt.Appendf(nil, `{"contact.mobile":%q,"channels.wechat.openid":%q}`, p.mobile, p.openid)
		_, err := s.Pool().Exec(ctx, `INSERT INTO profiles (subject_type, subject_id, data, pii, version, openid_hash, mobile_hash)
VALUES ($1, $2, $3, $4, 1, $5, $6)`, p.key.Type, p.key.ID, fmt.Sprintf(`{"person_id":%q,"version_seen":0,"contact":{},"channels":{"wechat":{}}}`, p.key.ID),
			legacySeal(t, key, fields, subjectAAD(p.key)), legacyIndex(key, "openid", p.openid), legacyIndex(key, "mobile", p.mobile))
		if err != nil {
			t.Fatal(err)
		}
	}
}

// save writes people's profiles through the store, as the pipeline does.
func save(ctx context.Context, s *Store, people []person, version int) error {
	keys := make([]SubjectKey, len(people))
	b := &Batch{}
	for i, p := range people {
		keys[i] = p.key
		b.Profiles = append(b.Profiles, Profile{Key: p.key, Data: p.data(version), Version: int64(version)})
	}
	return s.InTx(ctx, func(tx *Tx) error {
		if err := tx.LockSubjects(ctx, keys); err != nil {
			return err
		}
		_, err := tx.Save(ctx, b)
		return err
	})
}

// sealedUnder counts the profiles whose personal fields carry key's id.
func sealedUnder(t *testing.T, s *Store, key []byte) int {
	t.Helper()
	id := idOf(t, key)
	var n int
	if err := s.Pool().QueryRow(t.Context(), `SELECT count(*) FROM profiles WHERE substring(pii FROM 1 FOR 5) = $1`,
		append([]byte{1}, id[:]...)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// optOutAll sends a 退订 reply and a WeChat unsubscribe for each person, as
// the receipt handlers do, and reports those not found by their contact.
func optOutAll(ctx context.Context, s *Store, people []person) (lost []string, err error) {
	for _, p := range people {
		n, err := s.OptOutContact(ctx, ContactMobile, "+86"+p.mobile, "sms", "sms_reply", time.Now())
		if err != nil {
			return lost, err
		}
		if n != 1 {
			lost = append(lost, p.key.ID+" by mobile")
		}
		if n, err = s.OptOutContact(ctx, ContactOpenID, p.openid, "wechat", "wechat_unsubscribe", time.Now()); err != nil {
			return lost, err
		}
		if n != 1 {
			lost = append(lost, p.key.ID+" by openid")
		}
	}
	return lost, nil
}

// The key is rotated while profiles are written: data from before key ids
// and data under the old key are re-sealed under the new one while writers
// update and add profiles, and every opt-out reply, during and after, finds
// its subject. At the end everything is under the new key, which alone
// starts, and the old key is retired.
func TestKeyRotationUnderLoad(t *testing.T) {
	url := freshDB(t)
	ctx := t.Context()

	// A database served before key ids, then upgraded and served under A.
	var legacy, underA []person
	for n := range 120 {
		legacy = append(legacy, newPerson(n))
	}
	for n := 120; n < 400; n++ {
		underA = append(underA, newPerson(n))
	}
	seedLegacy(t, migratedWith(t, url, nil), keyA, legacy)
	sA := migratedWith(t, url, sealerFor(t, keyA))
	if err := sA.CheckKey(ctx); err != nil {
		t.Fatalf("the upgrade's first start under A: %v", err)
	}
	for i := 0; i < len(underA); i += 50 {
		if err := save(ctx, sA, underA[i:min(i+50, len(underA))], 1); err != nil {
			t.Fatal(err)
		}
	}
	tokenUnderA, err := sA.Sealer().SealAAD([]byte("wechat-access-token"), []byte("wx_token_key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sA.Pool().Exec(ctx, `INSERT INTO token_cache (key, value, expires_at) VALUES ('wx_token_key', $1, now() + interval '1 hour')`, tokenUnderA); err != nil {
		t.Fatal(err)
	}
	everyone := append(append([]person{}, legacy...), underA...)

	// Restarted with B current and A for reading.
	sB := migratedWith(t, url, sealerFor(t, keyB, keyA))
	if err := sB.CheckKey(ctx); err != nil {
		t.Fatalf("start under B with A old: %v", err)
	}

	// Load: writers update existing profiles and add new ones, under B.
	load, stopLoad := context.WithCancel(ctx)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		added  []person
		writes atomic.Int64
	)
	for w := range 3 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 2; load.Err() == nil; i++ {
				batch := []person{everyone[r.IntN(len(everyone))], everyone[r.IntN(len(everyone))]}
				if i%4 == 0 {
					batch = append(batch, newPerson(10000+w*10000+i))
				}
				if err := save(load, sB, batch, i); err != nil {
					if load.Err() == nil {
						t.Errorf("writer %d: %v", w, err)
					}
					return
				}
				if len(batch) == 3 {
					mu.Lock()
					added = append(added, batch[2])
					mu.Unlock()
				}
				writes.Add(1)
			}
		})
	}

	// Opt-out replies while reseal runs: some from a goroutine, and some
	// after each chunk, when the table is part old key, part new.
	order := rand.New(rand.NewPCG(7, 7)).Perm(len(everyone))
	shuffled := make([]person, len(everyone))
	for i, j := range order {
		shuffled[i] = everyone[j]
	}
	during, concurrent := shuffled[:150], shuffled[150:250]
	var lostDuring []string
	optDone := make(chan error, 1)
	go func() {
		lost, err := optOutAll(ctx, sB, concurrent)
		mu.Lock()
		lostDuring = append(lostDuring, lost...)
		mu.Unlock()
		optDone <- err
	}()
	var mixed bool
	res, err := sB.Reseal(ctx, ResealOptions{Chunk: 20, Progress: func(p ResealProgress) {
		if p.Table != "profiles" {
			return
		}
		if sealedUnder(t, sB, keyA) > 0 && sealedUnder(t, sB, keyB) > 0 {
			mixed = true
		}
		n := min(10, len(during))
		lost, err := optOutAll(ctx, sB, during[:n])
		if err != nil {
			t.Errorf("opt-out during reseal: %v", err)
		}
		mu.Lock()
		lostDuring = append(lostDuring, lost...)
		mu.Unlock()
		during = during[n:]
	}})
	if err != nil {
		t.Fatalf("reseal under load: %v", err)
	}
	if err := <-optDone; err != nil {
		t.Fatal(err)
	}
	stopLoad()
	wg.Wait()
	if !mixed || len(during) > 0 {
		t.Errorf("the opt-outs during reseal did not meet a half re-sealed table (mixed %v, %d left)", mixed, len(during))
	}
	if writes.Load() == 0 {
		t.Error("no write ran alongside reseal")
	}
	if len(lostDuring) > 0 {
		t.Errorf("opt-outs during the rotation found no subject (unknown_contact): %v", lostDuring)
	}

	// After: everyone, including those added under load, is found.
	lost, err := optOutAll(ctx, sB, append(append([]person{}, everyone...), added...))
	if err != nil {
		t.Fatal(err)
	}
	if len(lost) > 0 {
		t.Errorf("opt-outs after the rotation found no subject: %v", lost)
	}
	var optedOut int
	if err := sB.Pool().QueryRow(ctx, `SELECT count(DISTINCT subject_id) FROM opt_outs WHERE source IN ('sms_reply', 'wechat_unsubscribe')`).Scan(&optedOut); err != nil {
		t.Fatal(err)
	}
	if want := len(everyone) + len(added); optedOut != want {
		t.Errorf("%d subjects opted out, want %d", optedOut, want)
	}

	// Everything is under B, and B alone starts and reads it.
	if n, err := sB.notCurrent(ctx); err != nil || n != 0 {
		t.Errorf("after reseal %d values are not under B (%v)", n, err)
	}
	if len(res.Retired) != 1 || res.Retired[0] != idOf(t, keyA) {
		t.Errorf("retired %v, want A's key id %v", res.Retired, idOf(t, keyA))
	}
	onlyB := migratedWith(t, url, sealerFor(t, keyB))
	if err := onlyB.CheckKey(ctx); err != nil {
		t.Fatalf("start with B alone after reseal: %v", err)
	}
	ps, err := onlyB.ProfilesAfter(ctx, "resident", "", 100000)
	if err != nil {
		t.Fatalf("read every profile with B alone: %v", err)
	}
	// A save cut short by the end of the load may have committed: count at
	// least those known.
	if want := len(everyone) + len(added); len(ps) < want {
		t.Errorf("%d profiles read, want at least %d", len(ps), want)
	}
	for _, p := range ps {
		var d struct {
			Contact struct{ Mobile string } `json:"contact"`
		}
		var n int
		if _, err := fmt.Sscanf(p.Key.ID, "p%d", &n); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(p.Data, &d); err != nil || d.Contact.Mobile != newPerson(n).mobile {
			t.Errorf("profile %s holds mobile %q, want %q (%v)", p.Key.ID, d.Contact.Mobile, newPerson(n).mobile, err)
		}
	}
	var token []byte
	if err := onlyB.Pool().QueryRow(ctx, `SELECT value FROM token_cache WHERE key = 'wx_token_key'`).Scan(&token); err != nil {
		t.Fatal(err)
	}
	if plain, err := onlyB.Sealer().OpenAAD(token, []byte("wx_token_key")); err != nil || string(plain) != "wechat-access-token" {
		t.Errorf("the token cache under B alone: %q, %v", plain, err)
	}

	// A alone is refused, by B's id.
	err = migratedWith(t, url, sealerFor(t, keyA)).CheckKey(ctx)
	var uk *UnheldKeyError
	if !errors.As(err, &uk) || uk.ID != idOf(t, keyB) || !errors.Is(err, ErrWrongKey) {
		t.Errorf("start with A alone after the rotation = %v, want refused for key id %v", err, idOf(t, keyB))
	}
}

// A reseal interrupted part way resumes at its checkpoint: the second run
// reads on from where the first stopped, every row is re-sealed exactly
// once, and each still opens, under its own subject, to what it held.
func TestResealResumes(t *testing.T) {
	url := freshDB(t)
	ctx := t.Context()
	var legacy, underA []person
	for n := range 40 {
		legacy = append(legacy, newPerson(n))
	}
	for n := 40; n < 100; n++ {
		underA = append(underA, newPerson(n))
	}
	seedLegacy(t, migratedWith(t, url, nil), keyA, legacy)
	sA := migratedWith(t, url, sealerFor(t, keyA))
	if err := sA.CheckKey(ctx); err != nil {
		t.Fatal(err)
	}
	if err := save(ctx, sA, underA, 1); err != nil {
		t.Fatal(err)
	}
	before, err := sA.ProfilesAfter(ctx, "resident", "", 1000)
	if err != nil || len(before) != 100 {
		t.Fatalf("read %d profiles: %v", len(before), err)
	}

	sB := migratedWith(t, url, sealerFor(t, keyB, keyA))
	interrupted, cancel := context.WithCancel(ctx)
	chunks := 0
	_, err = sB.Reseal(interrupted, ResealOptions{Chunk: 10, Progress: func(p ResealProgress) {
		if chunks++; chunks == 3 {
			cancel() // as a ^C after the third chunk
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted reseal = %v, want context.Canceled", err)
	}
	if got := sealedUnder(t, sB, keyB); got != 30 {
		t.Errorf("after the interruption %d rows are under B, want the 30 of three chunks", got)
	}
	// Not retired yet: A is still needed.
	if err := migratedWith(t, url, sealerFor(t, keyB)).CheckKey(ctx); !errors.Is(err, ErrWrongKey) {
		t.Errorf("start with B alone mid-reseal = %v, want refused", err)
	}

	var first *ResealProgress
	res, err := sB.Reseal(ctx, ResealOptions{Chunk: 10, Progress: func(p ResealProgress) {
		if first == nil {
			first = &p
		}
	}})
	if err != nil {
		t.Fatalf("second reseal: %v", err)
	}
	if first == nil || first.Table != "profiles" || first.Scanned != 40 {
		t.Errorf("the second run's first chunk reports %+v, want 40 profiles scanned (30 before it)", first)
	}
	if len(res.Tables) == 0 || res.Tables[0] != (ResealProgress{Table: "profiles", Scanned: 100, Resealed: 100, Done: true}) {
		t.Errorf("second reseal: %+v, want 100 profiles scanned and re-sealed once each", res.Tables)
	}
	if got := sealedUnder(t, sB, keyB); got != 100 {
		t.Errorf("%d rows under B, want 100", got)
	}

	onlyB := migratedWith(t, url, sealerFor(t, keyB))
	if err := onlyB.CheckKey(ctx); err != nil {
		t.Fatalf("start with B alone after reseal: %v", err)
	}
	after, err := onlyB.ProfilesAfter(ctx, "resident", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("%d profiles after, %d before", len(after), len(before))
	}
	for i := range before {
		if after[i].Key != before[i].Key || !bytes.Equal(after[i].Data, before[i].Data) {
			t.Errorf("profile %s changed: %s, was %s", before[i].Key.ID, after[i].Data, before[i].Data)
		}
	}

	// A third run finds nothing to do.
	res, err = sB.Reseal(ctx, ResealOptions{Chunk: 10})
	if err != nil || res.Tables[0].Resealed != 100 || len(res.Retired) != 0 {
		t.Errorf("third reseal = %+v, %v; want nothing more re-sealed", res, err)
	}
}

// CheckKey across a rotation: the keys recorded must be held, each refused
// by its id, and a database from before key ids opens with its key among
// the old ones.
func TestCheckKeyAcrossRotation(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, url string)
		start   *pii.Sealer
		want    error       // nil, or ErrWrongKey
		wantID  []byte      // the key the refusal names, if any
		after   *pii.Sealer // then starts too
	}{
		{name: "legacy database, its key old", prepare: func(t *testing.T, url string) {
			seedLegacy(t, migratedWith(t, url, nil), keyA, []person{newPerson(1)})
		}, start: sealerFor(t, keyB, keyA)},
		{name: "legacy database, its key missing", prepare: func(t *testing.T, url string) {
			seedLegacy(t, migratedWith(t, url, nil), keyA, []person{newPerson(1)})
		}, start: sealerFor(t, keyB), want: ErrWrongKey, after: sealerFor(t, keyA)},
		{name: "served under A, started with B alone", prepare: func(t *testing.T, url string) {
			if err := migratedWith(t, url, sealerFor(t, keyA)).CheckKey(t.Context()); err != nil {
				t.Fatal(err)
			}
		}, start: sealerFor(t, keyB), want: ErrWrongKey, wantID: keyA, after: sealerFor(t, keyB, keyA)},
		{name: "profiles under A without a record", prepare: func(t *testing.T, url string) {
			if err := save(t.Context(), migratedWith(t, url, sealerFor(t, keyA)), []person{newPerson(1)}, 1); err != nil {
				t.Fatal(err)
			}
		}, start: sealerFor(t, keyB), want: ErrWrongKey, wantID: keyA},
		{name: "rotated to B, A dropped", prepare: func(t *testing.T, url string) {
			seedLegacy(t, migratedWith(t, url, nil), keyA, []person{newPerson(1)})
			if _, err := migratedWith(t, url, sealerFor(t, keyB, keyA)).Reseal(t.Context(), ResealOptions{}); err != nil {
				t.Fatal(err)
			}
		}, start: sealerFor(t, keyB)},
		{name: "rotated to B, started with A again", prepare: func(t *testing.T, url string) {
			s := migratedWith(t, url, sealerFor(t, keyA))
			if err := s.CheckKey(t.Context()); err != nil {
				t.Fatal(err)
			}
			if _, err := migratedWith(t, url, sealerFor(t, keyB, keyA)).Reseal(t.Context(), ResealOptions{}); err != nil {
				t.Fatal(err)
			}
		}, start: sealerFor(t, keyA), want: ErrWrongKey, wantID: keyB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := freshDB(t)
			tt.prepare(t, url)
			err := migratedWith(t, url, tt.start).CheckKey(t.Context())
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("CheckKey = %v, want %v", err, tt.want)
			}
			var uk *UnheldKeyError
			if tt.wantID != nil {
				if id := idOf(t, tt.wantID); !errors.As(err, &uk) || uk.ID != id || !strings.Contains(err.Error(), id.String()) {
					t.Errorf("CheckKey = %v, want it to name key id %v", err, id)
				}
			}
			if tt.after != nil {
				if err := migratedWith(t, url, tt.after).CheckKey(t.Context()); err != nil {
					t.Errorf("CheckKey after the refusal, with the keys needed = %v", err)
				}
			}
		})
	}
}

// A WeChat report without a message id finds its notice by the openid's
// blind index: under the old key while it is held, and under the new one
// once re-sealed.
func TestReceiptByOpenIDAcrossRotation(t *testing.T) {
	url := freshDB(t)
	ctx := t.Context()
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	sA := migratedWith(t, url, sealerFor(t, keyA))
	k1, k2 := SubjectKey{"resident", "r1"}, SubjectKey{"resident", "r2"}
	id1 := sentNotice(t, sA, k1, contactJSON(k1, "13800000021", "o_rot_1"), "p", "wechat", nil, "", at)
	id2 := sentNotice(t, sA, k2, contactJSON(k2, "13800000022", "o_rot_2"), "p", "wechat", nil, "", at)

	sB := migratedWith(t, url, sealerFor(t, keyB, keyA))
	got, _, err := sB.RecordReceipt(ctx, Receipt{Channel: "wechat", ProviderMsgID: "m1", Delivered: true, OpenID: "o_rot_1", At: at})
	if err != nil || got != ReceiptDelivered {
		t.Errorf("receipt for a notice indexed under the old key = %v, %v; want delivered", got, err)
	}
	if _, err := sB.Reseal(ctx, ResealOptions{}); err != nil {
		t.Fatal(err)
	}
	onlyB := migratedWith(t, url, sealerFor(t, keyB))
	got, _, err = onlyB.RecordReceipt(ctx, Receipt{Channel: "wechat", ProviderMsgID: "m2", Delivered: true, OpenID: "o_rot_2", At: at})
	if err != nil || got != ReceiptDelivered {
		t.Errorf("receipt after reseal, new key alone = %v, %v; want delivered", got, err)
	}
	for _, id := range []int64{id1, id2} {
		var status string
		if err := onlyB.Pool().QueryRow(ctx, `SELECT status FROM outbox WHERE id = $1`, id).Scan(&status); err != nil || status != "delivered" {
			t.Errorf("notice %d is %q (%v), want delivered", id, status, err)
		}
	}
}
