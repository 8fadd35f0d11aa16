package screening

import "errors"

// Sentinel errors. gateway/errors.go maps them to HTTP status codes.
var (
	// ErrInvalidInput marks a bad order or event (400). The error is usually
	// a *FieldError naming the field.
	ErrInvalidInput = errors.New("invalid input")
	// ErrTooLarge marks a body over MaxOrderBytes (413).
	ErrTooLarge = errors.New("body too large")
	// ErrUnsupportedMediaType marks an intercepted body whose content type
	// the route cannot read (415).
	ErrUnsupportedMediaType = errors.New("unsupported media type")
	// ErrNotFound marks an unknown order id (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict marks an order id already used with a different body (409).
	ErrConflict = errors.New("conflict")
	// ErrUnavailable marks a dependency (Redis) that could not be reached:
	// no decision was made and nothing was half-written (503).
	ErrUnavailable = errors.New("screening unavailable")
)

// FieldError is a bad value in an order. Field is the JSON path of the value
// in the order body ("billing.country", "items.2.quantity"), or the body
// field name of an intercepted checkout.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Unwrap makes every FieldError match ErrInvalidInput.
func (e *FieldError) Unwrap() error { return ErrInvalidInput }

func fieldErr(field, problem string) error {
	return &FieldError{Field: field, Problem: problem}
}
