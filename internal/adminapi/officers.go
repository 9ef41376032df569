package adminapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/policypush/policypush/internal/officer"
	"github.com/policypush/policypush/internal/store"
)

// listOfficers lists the accounts, revoked ones too; never their hashes.
func (h *Handler) listOfficers(w http.ResponseWriter, r *http.Request, _ officer.Officer) error {
	list, err := h.store.ListOfficers(r.Context())
	if err != nil {
		return err
	}
	if list == nil {
		list = []store.Officer{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"officers": list})
	return nil
}

// addOfficer makes an account and answers its token, the only time it is
// ever shown: the store keeps its hash.
func (h *Handler) addOfficer(w http.ResponseWriter, r *http.Request, who officer.Officer) error {
	var body struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	if err := officer.ValidName(body.Name); err != nil {
		return badRequest("%v", err)
	}
	role, err := officer.ParseRole(body.Role)
	if err != nil {
		return badRequest("%v", err)
	}
	token := officer.NewToken()
	e := h.entry(who, ActionOfficerAdd)
	e.Detail = map[string]any{"officer": body.Name, "role": role.String()}
	err = h.store.AddOfficer(r.Context(), body.Name, role.String(), officer.HashToken(token), e.At, e)
	if errors.Is(err, store.ErrExists) {
		return &Error{Status: http.StatusConflict, Message: fmt.Sprintf("officer %q exists; names are not given again, even once revoked", body.Name)}
	}
	if err != nil {
		return err
	}
	h.log.InfoContext(r.Context(), "officer added", "officer", body.Name, "role", role.String(), "actor", who.Name)
	w.Header().Set("Cache-Control", "no-store") // the token must not linger in a cache
	writeJSON(w, http.StatusCreated, map[string]any{"name": body.Name, "role": role.String(), "token": token, "created_at": e.At})
	return nil
}

// revokeOfficer revokes an account: its token is refused from the next
// request on.
func (h *Handler) revokeOfficer(w http.ResponseWriter, r *http.Request, who officer.Officer) error {
	name := r.PathValue("name")
	e := h.entry(who, ActionOfficerRevoke)
	e.Detail = map[string]any{"officer": name}
	err := h.store.RevokeOfficer(r.Context(), name, e.At, e)
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("no officer %q, or revoked already", name)}
	}
	if err != nil {
		return err
	}
	h.log.InfoContext(r.Context(), "officer revoked", "officer", name, "actor", who.Name)
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "revoked_at": e.At})
	return nil
}

// maxAuditLimit bounds one page of the audit log; ?before= pages back.
const maxAuditLimit = 1000

// auditLog answers the audit log, newest first, filtered by the query's
// actor, subject_type and subject_id, and paged by limit and before (an
// id: the rows older than it).
func (h *Handler) auditLog(w http.ResponseWriter, r *http.Request, _ officer.Officer) error {
	q := r.URL.Query()
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxAuditLimit {
			return badRequest("limit must be a number from 1 to %d", maxAuditLimit)
		}
		limit = n
	}
	f := store.AuditFilter{Actor: q.Get("actor"), SubjectType: q.Get("subject_type"), SubjectID: q.Get("subject_id")}
	if s := q.Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return badRequest("before must be an audit row's id")
		}
		f.Before = n
	}
	list, err := h.store.AuditLog(r.Context(), f, limit)
	if err != nil {
		return err
	}
	if list == nil {
		list = []store.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": list})
	return nil
}
