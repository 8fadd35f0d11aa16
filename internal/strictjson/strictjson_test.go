package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

type inner struct {
	N int `json:"n"`
}

type doc struct {
	A     string  `json:"a"`
	B     int     `json:"b"`
	In    inner   `json:"in"`
	Items []inner `json:"items"`
}

func TestUnmarshal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    string
		want  doc
		field string // "" with a problem: the document's fault, not one member's
		prob  string // "" when accepted
	}{
		{name: "object", in: `{"a":"x","b":2,"in":{"n":3}}`, want: doc{A: "x", B: 2, In: inner{N: 3}}},
		{name: "spaces around", in: " \n\t{\"a\":\"x\"}\r\n ", want: doc{A: "x"}},
		{name: "empty object", in: `{}`},
		{name: "empty", in: "", prob: "empty body"},
		{name: "only spaces", in: " \n ", prob: "empty body"},
		{name: "null", in: `null`, prob: "body must be a JSON object"},
		{name: "array", in: `[{"a":"x"}]`, prob: "body must be a JSON object"},
		{name: "string", in: `"x"`, prob: "body must be a JSON object"},
		{name: "unknown member", in: `{"a":"x","c":1}`, field: "c", prob: "unknown field"},
		{name: "unknown nested member", in: `{"in":{"n":1,"m":2}}`, field: "m", prob: "unknown field"},
		{name: "unknown member in an array", in: `{"items":[{"n":1},{"x":2}]}`, field: "x", prob: "unknown field"},
		{name: "wrong type", in: `{"b":"2"}`, field: "b", prob: "wrong type"},
		{name: "wrong nested type", in: `{"in":{"n":true}}`, field: "in.n", prob: "wrong type"},
		{name: "syntax", in: `{"a":"x",}`, prob: "malformed JSON at byte 10"},
		{name: "truncated", in: `{"a":"x"`, prob: "truncated JSON"},
		{name: "second object", in: `{"a":"x"}{"a":"y"}`, prob: "data after the JSON object at byte 9"},
		{name: "trailing garbage", in: `{"a":"x"} x`, prob: "data after the JSON object at byte 9"},
		{name: "trailing comma", in: `{"a":"x"},`, prob: "data after the JSON object at byte 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got doc
			err := Unmarshal([]byte(tt.in), &got)
			if tt.prob == "" {
				if err != nil {
					t.Fatalf("Unmarshal(%q) = %v, want nil", tt.in, err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("Unmarshal(%q) (-want +got):\n%s", tt.in, diff)
				}
				return
			}
			se, ok := errors.AsType[*Error](err)
			if !ok {
				t.Fatalf("Unmarshal(%q) = %v, want an *Error", tt.in, err)
			}
			if se.Field != tt.field || se.Problem != tt.prob {
				t.Errorf("Unmarshal(%q) = field %q, problem %q; want %q, %q", tt.in, se.Field, se.Problem, tt.field, tt.prob)
			}
		})
	}
}

func TestReadKeepsReadErrors(t *testing.T) {
	t.Parallel()
	sentinel := errors.New("connection reset")
	var d doc
	err := Read(iotest.ErrReader(sentinel), &d)
	if !errors.Is(err, sentinel) {
		t.Errorf("Read(failing reader) = %v, want the reader's error", err)
	}
	if _, ok := errors.AsType[*Error](err); ok {
		t.Errorf("Read(failing reader) = %v, an *Error: a read error is not the document's fault", err)
	}
	if err := Read(strings.NewReader(`{"a":"x"}`), &d); err != nil || d.A != "x" {
		t.Errorf("Read(object) = %v, %+v", err, d)
	}
}

// FuzzUnmarshal: what Unmarshal accepts is exactly one JSON object that
// encoding/json, refusing unknown fields, reads to the same value; what
// it refuses is an *Error.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{
		`{"a":"x","b":2,"in":{"n":3},"items":[{"n":1}]}`, `{}`, ``, `null`, `[]`, `{"c":1}`,
		`{"a":"x"}{"a":"y"}`, `{"a":"x"} `, `{"b":1.5}`, `{"a":"\u00e9"}`, `{"A":"x"}`, `{"a":"x","a":"y"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got doc
		err := Unmarshal(data, &got)
		if err != nil {
			if _, ok := errors.AsType[*Error](err); !ok {
				t.Fatalf("Unmarshal(%q) = %v (%T), want an *Error", data, err, err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("Unmarshal accepted invalid JSON %q", data)
		}
		if b := bytes.TrimSpace(data); b[0] != '{' {
			t.Fatalf("Unmarshal accepted %q, not an object", data)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		var want doc
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("Unmarshal accepted %q, which encoding/json refuses: %v", data, err)
		}
		if _, err := dec.Token(); err != io.EOF {
			t.Fatalf("Unmarshal accepted %q with more after the object", data)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("Unmarshal(%q) differs from encoding/json (-want +got):\n%s", data, diff)
		}
	})
}
