package negotiate

import (
	"strings"
	"testing"
)

func TestPrefersJSON(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"":                                    false,
		"*/*":                                 false,
		"application/json":                    true,
		"Application/JSON; charset=utf-8":     true,
		"application/problem+json":            true,
		"text/html":                           false,
		"text/html, application/json":         false,
		"application/json, text/html;q=0.9":   true,
		"text/html;q=0.5, application/json":   true,
		"application/json;q=0, */*":           false,
		"application/*":                       true,
		"application/json;q=0.5, */*;q=0.1":   true,
		"text/*, application/json;q=0.9":      false,
		"application/json;q=bogus, text/html": false,
		"image/png":                           false,
		"text/html;q=0, */*":                  true,
		"application/json;q=0, application/*": false,
		"text/*;q=0.2, application/*;q=0.3":   true,
	}
	for accept, want := range tests {
		if got := PrefersJSON([]string{accept}); got != want {
			t.Errorf("PrefersJSON(%q) = %v, want %v", accept, got, want)
		}
	}
	if !PrefersJSON([]string{"text/html;q=0.1", "application/json"}) {
		t.Error("prefersJSON over two Accept lines = false, want true")
	}
}

func FuzzPrefersJSON(f *testing.F) {
	for _, s := range []string{"application/json", "text/html;q=0.9,*/*;q=0.8", ";;;,,q=", "application/json;q=1e999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		got := PrefersJSON([]string{accept})
		// JSON is only chosen when some JSON type or a wildcard that covers
		// it was named (text/html;q=0, */* rightly gets JSON).
		low := strings.ToLower(accept)
		if got && !strings.Contains(low, "json") && !strings.Contains(low, "application/*") && !strings.Contains(low, "*/*") {
			t.Fatalf("PrefersJSON(%q) = true without any JSON type", accept)
		}
	})
}
