package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/vpsgate/gateway/audit"
	"github.com/vpsgate/gateway/internal/auth"
	"github.com/vpsgate/gateway/internal/emailverify"
	"github.com/vpsgate/gateway/internal/kind"
	"github.com/vpsgate/gateway/screening"
	"github.com/vpsgate/gateway/screening/blocklist"
)

// TestPresentByKind: present maps kinds, so every package's sentinel, and
// a sentinel of a package it has never heard of, gets its kind's status
// and code.
func TestPresentByKind(t *testing.T) {
	t.Parallel()
	type row struct {
		err    error
		status int
		code   string
	}
	tests := []row{
		{auth.ErrUnauthenticated, http.StatusUnauthorized, "unauthenticated"},
		{auth.ErrForbidden, http.StatusForbidden, "forbidden"},
		{auth.ErrRateLimited, http.StatusTooManyRequests, "rate_limited"},
		{emailverify.ErrRateLimited, http.StatusTooManyRequests, "rate_limited"},
		{&screening.FieldError{Field: "email", Problem: "bad"}, http.StatusBadRequest, "invalid_field"},
		{&blocklist.FieldError{Field: "kind", Problem: "bad"}, http.StatusBadRequest, "invalid_field"},
		{screening.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
		{&http.MaxBytesError{Limit: 1}, http.StatusRequestEntityTooLarge, "too_large"},
		{screening.ErrUnsupportedMediaType, http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{errUnsupportedMediaType, http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{screening.ErrInvalidInput, http.StatusBadRequest, "invalid_input"},
		{blocklist.ErrInvalidInput, http.StatusBadRequest, "invalid_input"},
		{audit.ErrInvalidInput, http.StatusBadRequest, "invalid_input"},
		{emailverify.ErrInvalidInput, http.StatusBadRequest, "invalid_input"},
		{screening.ErrNotFound, http.StatusNotFound, "not_found"},
		{blocklist.ErrNotFound, http.StatusNotFound, "not_found"},
		{screening.ErrConflict, http.StatusConflict, "conflict"},
		// The audit chain's lost races are a busy dependency, not a 409.
		{audit.ErrConflict, http.StatusServiceUnavailable, "unavailable"},
		{screening.ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
		{blocklist.ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
		{audit.ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
		{emailverify.ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
		{fmt.Errorf("recording: %w", errors.Join(audit.ErrUnavailable, errNotAudited)), http.StatusServiceUnavailable, "not_audited"},
		{errors.New("boom"), http.StatusInternalServerError, "internal"},
	}
	// A kind.New sentinel per kind, as a package not named here makes.
	kinds := []row{
		{kind.ErrUnauthenticated, http.StatusUnauthorized, "unauthenticated"},
		{kind.ErrForbidden, http.StatusForbidden, "forbidden"},
		{kind.ErrRateLimited, http.StatusTooManyRequests, "rate_limited"},
		{kind.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
		{kind.ErrUnsupportedMediaType, http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{kind.ErrInvalidInput, http.StatusBadRequest, "invalid_input"},
		{kind.ErrNotFound, http.StatusNotFound, "not_found"},
		{kind.ErrConflict, http.StatusConflict, "conflict"},
		{kind.ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
	}
	for _, k := range kinds {
		tests = append(tests, row{fmt.Errorf("doing a thing: %w", kind.New(k.err, "a new package's sentinel")), k.status, k.code})
	}
	for _, tt := range tests {
		status, body := present(fmt.Errorf("handling: %w", tt.err), "req-1")
		if status != tt.status || body.Code != tt.code {
			t.Errorf("present(%v) = %d %q, want %d %q", tt.err, status, body.Code, tt.status, tt.code)
		}
	}
}
