package httpapi

import (
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// WantsHTML reports whether r's Accept header asks for HTML at least as
// much as for JSON: a browser's does (text/html, then */* at a lower q);
// a client that asks for application/json, or says nothing or only */*,
// as curl does, gets JSON, the answer it always got.
func WantsHTML(r *http.Request) bool {
	var html, json float64
	for _, f := range r.Header.Values("Accept") {
		for _, part := range strings.Split(f, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if v, ok := params["q"]; ok {
				if q, err = strconv.ParseFloat(v, 64); err != nil || q < 0 || q > 1 {
					continue
				}
			}
			switch mt {
			case "text/html", "application/xhtml+xml":
				html = max(html, q)
			case "application/json":
				json = max(json, q)
			}
		}
	}
	return html > 0 && html >= json
}
