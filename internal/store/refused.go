package store

import (
	"errors"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Refused reports whether err is PostgreSQL refusing the data of a
// statement, SQLSTATE class 22 (data exception) or 23 (integrity
// constraint violation), rather than failing itself (class 08, connection;
// 53, resources; 57, operator intervention; or a context error). Retrying
// a refused statement fails again; retrying the others may succeed.
//
// The reason is one line: the server's message and the SQLSTATE. It leaves
// out the detail, which can quote the row, and the values some messages
// quote ('invalid input syntax for type integer: "…"'), so that it may be
// logged and stored with a dead letter.
func Refused(err error) (reason string, ok bool) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) < 2 {
		return "", false
	}
	if class := pe.Code[:2]; class != "22" && class != "23" {
		return "", false
	}
	return "the database refused it: " + redact(pe.Message) + " (SQLSTATE " + pe.Code + ")", true
}

// quotedValue matches the places where PostgreSQL's messages quote a value
// rather than an identifier.
var quotedValue = regexp.MustCompile(`(: |value |token |string )"[^"]*"`)

func redact(msg string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	return quotedValue.ReplaceAllString(msg, `$1"…"`)
}
