package gateway

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestProxyAnswerNotCutByClosedRequestBody replays, in a fixed order, the
// interleaving that cut storefront answers under load: the storefront has
// the whole request and answers; the gateway starts relaying the answer,
// which makes net/http's server close the client's request body; only then
// does the transport read that body once more, past its declared length.
// The request body here behaves as the server's does: it hands out its
// bytes, then waits for the answer to start and fails as a closed body
// would. The whole answer must arrive.
func TestProxyAnswerNotCutByClosedRequestBody(t *testing.T) {
	const first, rest = "first part of the answer;", " and the rest of it"
	wrote := make(chan struct{}) // the transport is done with the request
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, err := io.ReadAll(r.Body); err != nil || string(b) != "a=1&b=2" {
			http.Error(w, fmt.Sprintf("body %q, %v", b, err), http.StatusBadRequest)
			return
		}
		// Close-delimited, as PHP's built-in server answers: the proxy
		// relays it as it arrives.
		w.Header().Set("Connection", "close")
		fmt.Fprint(w, first)
		w.(http.Flusher).Flush()
		select {
		case <-wrote:
		case <-time.After(10 * time.Second):
		}
		// Let a transport that failed the request close its connection
		// first.
		time.Sleep(50 * time.Millisecond)
		fmt.Fprint(w, rest)
	}))
	t.Cleanup(up.Close)

	rec := &headerWatch{ResponseRecorder: httptest.NewRecorder(), written: make(chan struct{})}
	body := &serverLikeBody{data: []byte("a=1&b=2"), answerStarted: rec.written}
	req := httptest.NewRequest(http.MethodPost, "/cart.php", body)
	var once sync.Once
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(func() { close(wrote) }) },
	}))
	req.ContentLength = int64(len(body.data))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")

	p := newProxy(mustURL(t, up.URL), ProxyConfig{DialTimeout: 5 * time.Second, ResponseHeaderTimeout: 5 * time.Second}, slog.New(slog.DiscardHandler))
	p.ServeHTTP(rec, req)

	if got := rec.Body.String(); rec.Code != http.StatusOK || got != first+rest {
		t.Errorf("client got %d %q, want 200 %q", rec.Code, got, first+rest)
	}
}

// headerWatch is a ResponseRecorder that says when the status line went
// out, the moment net/http's server closes the request body.
type headerWatch struct {
	*httptest.ResponseRecorder
	once    sync.Once
	written chan struct{}
}

func (h *headerWatch) WriteHeader(code int) {
	h.once.Do(func() { close(h.written) })
	h.ResponseRecorder.WriteHeader(code)
}

// serverLikeBody is a request body as net/http's server gives it to a
// handler: its bytes, and once the answer has started, a closed body.
type serverLikeBody struct {
	data          []byte
	off           int
	answerStarted <-chan struct{}
}

func (b *serverLikeBody) Read(p []byte) (int, error) {
	if b.off < len(b.data) {
		n := copy(p, b.data[b.off:])
		b.off += n
		return n, nil
	}
	select {
	case <-b.answerStarted:
	case <-time.After(10 * time.Second):
	}
	return 0, http.ErrBodyReadAfterClose
}

func (b *serverLikeBody) Close() error { return nil }

func TestDeclaredLengthBody(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		declared int64
		want     string
		wantErr  error
	}{
		{"exact", "a=1&b=2", 7, "a=1&b=2", nil},
		{"more than declared: the rest is not read", "a=1&b=2&c=3", 7, "a=1&b=2", nil},
		{"less than declared", "a=1", 7, "a=1", io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.NewReader(tt.body)
			b := &declaredLengthBody{rc: io.NopCloser(src), left: tt.declared}
			got, err := io.ReadAll(b)
			if string(got) != tt.want || err != tt.wantErr {
				t.Errorf("read %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
			if n, err := b.Read(make([]byte, 4)); n != 0 || (tt.wantErr == nil && err != io.EOF) {
				t.Errorf("a read after the end = %d, %v", n, err)
			}
			if tt.wantErr == nil && int64(len(tt.body))-tt.declared != int64(src.Len()) {
				t.Errorf("%d bytes past the declared length were read", int64(len(tt.body))-tt.declared-int64(src.Len()))
			}
		})
	}
}
