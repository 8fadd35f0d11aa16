package refunds

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/vpsgate/gateway/internal/kind"
	"github.com/vpsgate/gateway/internal/strictjson"
)

// MaxRequestBytes bounds a request body.
const MaxRequestBytes = 4 << 10

// errTooLarge is a body over MaxRequestBytes (413).
var errTooLarge = kind.New(kind.ErrTooLarge, "refund request body too large")

// DecodeRequest reads the body of POST /api/v1/orders/{id}/refund-eligibility:
// one JSON object, no unknown member, nothing after it, at most
// MaxRequestBytes. What the reason needs and the times against the clock
// are checked by Decide (Check checks them alone).
func DecodeRequest(r io.Reader) (Request, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxRequestBytes+1))
	if err != nil {
		return Request{}, fmt.Errorf("reading refund request: %w", err)
	}
	if len(data) > MaxRequestBytes {
		return Request{}, fmt.Errorf("over %d bytes: %w", MaxRequestBytes, errTooLarge)
	}
	var req Request
	if err := strictjson.Unmarshal(data, &req); err != nil {
		if se, ok := errors.AsType[*strictjson.Error](err); ok && se.Field != "" {
			return Request{}, &FieldError{Field: se.Field, Problem: se.Problem}
		}
		return Request{}, fmt.Errorf("decoding refund request: %w: %w", ErrInvalidInput, err)
	}
	return req, nil
}

// Check validates req for its reason at now, as Decide does first.
func (req Request) Check(now time.Time) error {
	_, err := req.check(now)
	return err
}
