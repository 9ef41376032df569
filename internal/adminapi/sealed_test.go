package adminapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/store"
)

// oldExplanationStore returns a subject whose stored explanation predates
// lint's refusal of contact reads and the schema's sensitive marks.
type oldExplanationStore struct{ fakeStore }

func (oldExplanationStore) Subject(_ context.Context, k store.SubjectKey) (store.SubjectView, error) {
	x := `{"policy_id":"p","conditions":[{"name":"c","expr":"resident.contact.mobile != \"\"","verdict":"true","reads":[` +
		`{"name":"resident.contact.mobile","value":"13812345678"},{"name":"resident.channels.wechat.openid","value":"oSecretOpenIdSecretOpenId001"},` +
		`{"name":"resident.hardship.categories","value":["single_parent"]},{"name":"resident.hukou.is_local","value":true}]}],"result":"eligible"}`
	return store.SubjectView{SubjectType: k.Type, SubjectID: k.ID, Contacts: map[string]string{"contact.mobile": "138****5678"},
		Matches: []store.MatchView{{PolicyID: "p", Result: "eligible", Explanation: json.RawMessage(x)}}}, nil
}

// TestSensitiveNeverShownInSubjectView: GET /api/subjects/… withholds the
// values of sensitive and contact fields in the explanations it returns,
// as it masks the contacts.
func TestSensitiveNeverShownInSubjectView(t *testing.T) {
	h, err := New(&oldExplanationStore{}, fakeRules{}, token, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	req := httptest.NewRequest("GET", "/api/subjects/resident/p_1", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	for _, secret := range []string{"13812345678", "oSecretOpenId", "single_parent"} {
		if strings.Contains(body, secret) {
			t.Errorf("the subject view shows %q: %s", secret, body)
		}
	}
	for _, want := range []string{`{"name":"resident.hardship.categories","sensitive":true}`, `{"name":"resident.contact.mobile","sensitive":true}`,
		`{"name":"resident.hukou.is_local","value":true}`, `"verdict":"true"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the subject view lacks %s: %s", want, body)
		}
	}
}
