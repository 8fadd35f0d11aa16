package kind

import (
	"errors"
	"fmt"
	"testing"
)

func TestNew(t *testing.T) {
	t.Parallel()
	kinds := []error{ErrInvalidInput, ErrTooLarge, ErrUnsupportedMediaType, ErrNotFound, ErrConflict, ErrUnauthenticated, ErrForbidden, ErrRateLimited, ErrUnavailable}
	for _, k := range kinds {
		s := New(k, "blocklist entry not found")
		if s.Error() != "blocklist entry not found" {
			t.Errorf("New(%v, ...).Error() = %q, want the sentinel's own text", k, s)
		}
		wrapped := fmt.Errorf("removing entry: %w", s)
		for _, other := range kinds {
			if got, want := errors.Is(wrapped, other), other == k; got != want {
				t.Errorf("errors.Is(sentinel of %v, %v) = %v, want %v", k, other, got, want)
			}
		}
		if !errors.Is(wrapped, s) {
			t.Errorf("errors.Is(wrapped, its sentinel) = false")
		}
		if errors.Is(wrapped, New(k, "blocklist entry not found")) {
			t.Errorf("two sentinels of one kind and text match each other")
		}
	}
}
