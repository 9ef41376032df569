package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Limits bound what one client may take of a server: how long it may
// take to send its request, how long the answer may take, how long an
// idle connection is kept, and how large headers and bodies may be. They
// hold on every listener the service opens, the public one above all.
type Limits struct {
	// ReadHeader is the time to send the request line and headers; a
	// client that sends them a byte at a time (slowloris) is cut off.
	ReadHeader time.Duration
	// Read is the time to send the whole request, body included.
	Read time.Duration
	// Write is the time from the end of the headers to the end of the
	// answer. A handler that needs longer, such as a preview over every
	// profile, extends its own deadline (http.ResponseController).
	Write time.Duration
	// Idle is how long a kept-alive connection may wait for its next
	// request.
	Idle time.Duration
	// MaxHeaderBytes bounds the request line and headers.
	MaxHeaderBytes int
	// MaxBody bounds every request body. Endpoints set tighter limits of
	// their own; this one holds for any endpoint that forgets.
	MaxBody int64
}

// DefaultLimits are the limits serve uses. The largest body any client
// sends is an SMS provider's batch of delivery reports (a few hundred
// bytes each); a policy draft is a few kilobytes.
func DefaultLimits() Limits {
	return Limits{
		ReadHeader:     5 * time.Second,
		Read:           30 * time.Second,
		Write:          60 * time.Second,
		Idle:           120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		MaxBody:        4 << 20,
	}
}

// NewServer returns a server for h that holds to l.
func NewServer(h http.Handler, l Limits) *http.Server {
	return &http.Server{
		Handler:           LimitBodies(h, l.MaxBody),
		ReadHeaderTimeout: l.ReadHeader,
		ReadTimeout:       l.Read,
		WriteTimeout:      l.Write,
		IdleTimeout:       l.Idle,
		MaxHeaderBytes:    l.MaxHeaderBytes,
	}
}

// LimitBodies refuses with 413 a request that declares a body over max
// bytes, and bounds the reading of any other body to max, so that no
// endpoint reads without a limit. A handler that meets the bound sees an
// *http.MaxBytesError and must answer 413 itself: a cut body is never
// evaluated as if it were whole.
func LimitBodies(h http.Handler, max int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			TooLarge(w, max)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		h.ServeHTTP(w, r)
	})
}

// TooLarge answers 413 with a JSON error that says the limit.
func TooLarge(w http.ResponseWriter, limit int64) {
	w.Header().Set("Connection", "close") // the rest of the body is not read
	writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{
		"error": fmt.Sprintf("request body too large: the limit is %s bytes", strconv.FormatInt(limit, 10)),
	})
}
