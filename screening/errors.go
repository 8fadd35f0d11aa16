package screening

import "github.com/vpsgate/gateway/internal/kind"

// Sentinel errors, each of an internal/kind kind, which gateway/errors.go
// maps to an HTTP status.
var (
	// ErrInvalidInput marks a bad order or event (400). The error is usually
	// a *FieldError naming the field.
	ErrInvalidInput = kind.New(kind.ErrInvalidInput, "invalid input")
	// ErrTooLarge marks a body over MaxOrderBytes (413).
	ErrTooLarge = kind.New(kind.ErrTooLarge, "body too large")
	// ErrUnsupportedMediaType marks an intercepted body whose content type
	// the route cannot read (415).
	ErrUnsupportedMediaType = kind.New(kind.ErrUnsupportedMediaType, "unsupported media type")
	// ErrNotFound marks an unknown order id (404).
	ErrNotFound = kind.New(kind.ErrNotFound, "not found")
	// ErrConflict marks an order id already used with a different body (409).
	ErrConflict = kind.New(kind.ErrConflict, "conflict")
	// ErrUnavailable marks a dependency (Redis) that could not be reached:
	// no decision was made and nothing was half-written (503).
	ErrUnavailable = kind.New(kind.ErrUnavailable, "screening unavailable")
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

// InvalidField names the field for the API answer (kind.Field).
func (e *FieldError) InvalidField() string { return e.Field }

func fieldErr(field, problem string) error {
	return &FieldError{Field: field, Problem: problem}
}

// ErrDeferred marks a checkout the edge cannot screen faithfully and a
// route with missing_details: defer leaves to the billing system's hook
// module (its body has no billing country, or carries a defer_when
// parameter: a WHMCS client who is logged in, whose order WHMCS places
// with the stored details). It is of the
// invalid-input kind, so a caller that does not forward deferred
// checkouts refuses them (400), as under missing_details: refuse.
var ErrDeferred = kind.New(kind.ErrInvalidInput, "checkout deferred to the billing system's module")

// DeferredError is a deferred checkout: Field is the body field the
// route reads the billing country from (absent), or the defer_when
// parameters it carries; Problem says which.
type DeferredError struct {
	Field   string
	Problem string
}

func (e *DeferredError) Error() string { return e.Field + ": " + e.Problem }

// Is makes a DeferredError match ErrDeferred.
func (e *DeferredError) Is(target error) bool { return target == ErrDeferred }

// Unwrap makes a DeferredError match ErrInvalidInput.
func (e *DeferredError) Unwrap() error { return ErrInvalidInput }

// InvalidField names the field for the API answer (kind.Field).
func (e *DeferredError) InvalidField() string { return e.Field }
