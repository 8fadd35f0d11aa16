// Package kind holds the kinds of error the gateway answers differently:
// each package's sentinels are (errors.Is) one of these, so that
// gateway/errors.go maps a kind to its HTTP status once, whichever package
// the error came from.
package kind

import "errors"

// The kinds. A package's sentinel keeps its own text (New) and matches
// its kind with errors.Is.
var (
	// ErrInvalidInput is a request the caller must change (400).
	ErrInvalidInput = errors.New("invalid input")
	// ErrTooLarge is a body over the limit (413).
	ErrTooLarge = errors.New("body too large")
	// ErrUnsupportedMediaType is a body in a type the endpoint cannot
	// read (415).
	ErrUnsupportedMediaType = errors.New("unsupported media type")
	// ErrNotFound is an unknown resource (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict is a request that contradicts what is recorded (409).
	ErrConflict = errors.New("conflict")
	// ErrUnauthenticated is a request without valid credentials (401).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden is a principal without the right (403).
	ErrForbidden = errors.New("forbidden")
	// ErrRateLimited is a caller over a limit (429).
	ErrRateLimited = errors.New("rate limited")
	// ErrUnavailable is a dependency that did not answer: nothing was
	// done, retry later (503).
	ErrUnavailable = errors.New("unavailable")
)

// New returns a package's sentinel: an error with its own text that is
// (errors.Is) kind k.
func New(k error, text string) error { return &sentinel{text: text, kind: k} }

type sentinel struct {
	text string
	kind error
}

func (s *sentinel) Error() string { return s.text }
func (s *sentinel) Unwrap() error { return s.kind }

// Field is an invalid-input error about one named field of the request;
// the API answer names the field.
type Field interface {
	error
	InvalidField() string
}
