package signin

import (
	"context"
	"net/http"
)

// MaxConsoleForm bounds a console form's body (ProtectForms): a batch
// of case ids, a reason and the CSRF token.
const MaxConsoleForm = 64 << 10

type csrfKey struct{}

// CSRFFromContext returns the session's CSRF token that ProtectForms put
// in a request's context, for the page's forms to carry as the field
// csrf; "" outside ProtectForms.
func CSRFFromContext(ctx context.Context) string {
	s, _ := ctx.Value(csrfKey{}).(string)
	return s
}

// ProtectForms is Protect for console pages that post forms (the review
// queue): only a session lets through, not a bearer token; its role must
// allow what min allows; and a POST must come from this site and carry the
// session's CSRF token in the field csrf, its form parsed already. The
// identity (FromContext) and the CSRF token (CSRFFromContext) are in the
// request's context.
func (s *Service) ProtectForms(min string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, ok := s.current(r)
		if !ok {
			w.Header().Set("Cache-Control", "no-store")
			if r.Method == http.MethodGet && wantsPage(r) {
				http.Redirect(w, r, "/console/login", http.StatusSeeOther)
				return
			}
			unauthorized(w)
			return
		}
		if !AtLeast(sess.Role, min) {
			s.refuse(w, http.StatusForbidden, "没有权限", "您的角色不能打开这一页。")
			return
		}
		if r.Method == http.MethodPost {
			if s.crossSite(w, r) {
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, MaxConsoleForm)
			if err := r.ParseForm(); err != nil {
				s.refuse(w, http.StatusBadRequest, "请求无效", "表单无法读取，请返回重试。")
				return
			}
			if !equal(sess.CSRF, r.PostForm.Get("csrf")) {
				s.refuse(w, http.StatusForbidden, "请求被拒绝", "请求缺少有效的校验码，请刷新页面后重试。")
				return
			}
		}
		ctx := context.WithValue(r.Context(), ctxKey{}, sess.Identity)
		ctx = context.WithValue(ctx, csrfKey{}, sess.CSRF)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
