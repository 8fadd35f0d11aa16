package linkpage

import (
	"html/template"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	tmpl := template.Must(template.New("p").Parse(`<p>{{.Message}}</p>{{if .Fail}}{{call .Fail}}{{end}}`))
	type data struct {
		Message string
		Fail    func() (string, error)
	}
	tests := []struct {
		name     string
		method   string
		data     data
		status   int
		wantCode int
		wantBody string
	}{
		{"page", http.MethodGet, data{Message: "<b>verified</b>"}, http.StatusOK, 200, "<p>&lt;b&gt;verified&lt;/b&gt;</p>"},
		{"status kept", http.MethodPost, data{Message: "gone"}, http.StatusGone, 410, "<p>gone</p>"},
		{"HEAD: no body", http.MethodHead, data{Message: "x"}, http.StatusOK, 200, ""},
		{"a page that does not render is a 500, not half a page", http.MethodGet,
			data{Message: "x", Fail: func() (string, error) { return "", http.ErrAbortHandler }}, http.StatusOK, 500, "internal error\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			Write(w, httptest.NewRequest(tt.method, "/_gateway/verify-email?token=secret", nil), slog.New(slog.DiscardHandler), "test page", tmpl, tt.status, tt.data)
			if w.Code != tt.wantCode || w.Body.String() != tt.wantBody {
				t.Fatalf("= %d %q, want %d %q", w.Code, w.Body.String(), tt.wantCode, tt.wantBody)
			}
			if tt.wantCode != 200 && tt.wantCode != 410 {
				return
			}
			for h, want := range map[string]string{
				"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
				"Content-Type": "text/html; charset=utf-8",
			} {
				if got := w.Header().Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("Content-Security-Policy = %q", csp)
			}
		})
	}
}
