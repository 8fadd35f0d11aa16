// Package configerr gives every configuration section one way to report a
// bad value, so that start-up can name the full key, the value and the
// problem for every mistake at once.
package configerr

import (
	"errors"
	"fmt"
)

// FieldError is one bad configuration value. Key is relative to the section
// that produced it until Prefix qualifies it.
type FieldError struct {
	Key     string
	Value   any
	Problem string
}

func (e *FieldError) Error() string {
	if e.Value == nil {
		return fmt.Sprintf("%s: %s", e.Key, e.Problem)
	}
	return fmt.Sprintf("%s: %q: %s", e.Key, fmt.Sprint(e.Value), e.Problem)
}

// Field returns a FieldError. A nil value means "no value to show" (for
// secrets, or a missing key).
func Field(key string, value any, problem string) error {
	return &FieldError{Key: key, Value: value, Problem: problem}
}

// Prefix qualifies the keys of every FieldError inside err (a single error or
// an errors.Join of them) with section, so "countries" becomes
// "geoblock.countries". Errors that are not FieldErrors are wrapped with the
// section name.
func Prefix(section string, err error) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range Flatten(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			key := section
			if fe.Key != "" {
				key = section + "." + fe.Key
			}
			out = append(out, &FieldError{Key: key, Value: fe.Value, Problem: fe.Problem})
			continue
		}
		out = append(out, fmt.Errorf("%s: %w", section, e))
	}
	return errors.Join(out...)
}

// Flatten returns the leaves of a tree of joined errors.
func Flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Flatten(e)...)
		}
		return out
	}
	return []error{err}
}
