// Package strictjson is the gateway's one strict reader of JSON request
// bodies and stored records: exactly one JSON object, no member the Go type
// does not declare, nothing after the object. A body two readers could
// take differently is refused rather than guessed at.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Error is a refused document. Field names the member at fault when there
// is one (as encoding/json names it: the path of struct fields, without
// array indexes); Err is encoding/json's error when it found the problem.
type Error struct {
	Field   string
	Problem string
	Err     error
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Problem
	}
	return e.Field + ": " + e.Problem
}

func (e *Error) Unwrap() error { return e.Err }

// Unmarshal decodes data, which must be exactly one JSON object, into v
// (a pointer to a struct): an unknown member at any depth, a wrong type,
// a syntax error or data after the object is an *Error.
func Unmarshal(data []byte, v any) error {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return &Error{Problem: "empty body"}
	}
	if trimmed[0] != '{' {
		return &Error{Problem: "body must be a JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if rest := bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return &Error{Problem: fmt.Sprintf("data after the JSON object at byte %d", dec.InputOffset())}
	}
	return nil
}

// Read reads all of r and decodes it with Unmarshal. A read error (such
// as *http.MaxBytesError) is returned as it is, not as an *Error: it is
// not the document's fault.
func Read(r io.Reader, v any) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return Unmarshal(data, v)
}

// decodeError names what encoding/json refused.
func decodeError(err error) error {
	if syn, ok := errors.AsType[*json.SyntaxError](err); ok {
		return &Error{Problem: fmt.Sprintf("malformed JSON at byte %d", syn.Offset), Err: err}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Problem: "truncated JSON", Err: err}
	}
	if typ, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && typ.Field != "" {
		return &Error{Field: typ.Field, Problem: "wrong type", Err: err}
	}
	// encoding/json has no type for an unknown field; its message is
	// stable since Go 1.10.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &Error{Field: strings.Trim(name, `"`), Problem: "unknown field", Err: err}
	}
	return &Error{Problem: "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: "), Err: err}
}
