package minfraud

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpsgate/gateway/internal/fakeclock"
)

// warningLines returns the "minfraud input warnings" lines of logs.
func warningLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(logs) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "minfraud input warnings" {
			out = append(out, m)
		}
	}
	return out
}

// TestWarningsLoggedOncePerInterval replays MaxMind's Score fixture (two
// warnings on every answer): each answer's warnings are counted, the set is
// logged the first time and then once a minute with how many answers
// carried it meanwhile, and a different set is logged on its own.
func TestWarningsLoggedOncePerInterval(t *testing.T) {
	t.Parallel()
	body := fixture(t, "java-score-response.json")
	nodeBody := nodeFixture(t, "full") // one warning: /shipping/city
	var (
		mu  sync.Mutex
		cur = body
	)
	url, _ := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		b := cur
		mu.Unlock()
		replay(http.StatusOK, ctScore, b)(w, r)
	})
	serve := func(b []byte) {
		mu.Lock()
		defer mu.Unlock()
		cur = b
	}
	c := newTestClient(t, url, "score", 5*time.Second)
	clock := fakeclock.New(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
	c.warnings.now = clock.Now

	score := func() {
		t.Helper()
		if _, err := c.Score(t.Context(), Request{}); err != nil {
			t.Fatalf("Score() = %v", err)
		}
	}
	steps := []struct {
		name        string
		body        []byte
		advance     time.Duration
		wantLines   int
		wantRepeats float64 // of the last line
		wantCount   float64 // gateway_minfraud_warnings_total{code="INPUT_INVALID"}
	}{
		{name: "first answer is logged", body: body, wantLines: 1, wantRepeats: 0, wantCount: 2},
		{name: "the same set within a minute is counted, not logged", body: body, advance: 30 * time.Second, wantLines: 1, wantCount: 4},
		{name: "again", body: body, advance: 29 * time.Second, wantLines: 1, wantCount: 6},
		{name: "a minute after the line, logged with the repeats", body: body, advance: time.Second, wantLines: 2, wantRepeats: 2, wantCount: 8},
		{name: "another set is logged at once", body: nodeBody, wantLines: 3, wantRepeats: 0, wantCount: 9},
		{name: "the first set again, within its minute", body: body, wantLines: 3, wantCount: 11},
	}
	logged := 0
	for _, s := range steps {
		clock.Advance(s.advance)
		serve(s.body)
		score()
		lines := warningLines(t, c.logs.String())
		if len(lines) != s.wantLines {
			t.Fatalf("%s: %d warning lines, want %d:\n%s", s.name, len(lines), s.wantLines, c.logs.String())
		}
		if len(lines) > logged {
			if got := lines[len(lines)-1]["repeats"]; got != s.wantRepeats {
				t.Errorf("%s: repeats = %v, want %v", s.name, got, s.wantRepeats)
			}
		}
		logged = len(lines)
		if got := c.metric("gateway_minfraud_warnings_total", map[string]string{"code": "INPUT_INVALID"}); got != s.wantCount {
			t.Errorf("%s: warnings counted %v, want %v", s.name, got, s.wantCount)
		}
	}

	lines := warningLines(t, c.logs.String())
	if got, want := lines[0]["warnings"], []any{"INPUT_INVALID /account/user_id", "INPUT_INVALID /account/username_md5"}; !equalAny(got, want) {
		t.Errorf("first line's warnings = %v, want %v", got, want)
	}
	if got, want := lines[2]["warnings"], []any{"INPUT_INVALID /shipping/city"}; !equalAny(got, want) {
		t.Errorf("third line's warnings = %v, want %v", got, want)
	}
	if lines[0]["repeats_within"] != "1m0s" {
		t.Errorf("first line's repeats_within = %v, want 1m0s", lines[0]["repeats_within"])
	}
	if lines[0]["minfraud_id"] != "27d26476-e2bc-11e4-92b8-962e705b4af5" {
		t.Errorf("first line's minfraud_id = %v", lines[0]["minfraud_id"])
	}
	// A warning's text may quote the order's values: never logged.
	if strings.Contains(c.logs.String(), "does meet the required constraints") {
		t.Errorf("logs carry a warning's text:\n%s", c.logs.String())
	}
}

func equalAny(got any, want []any) bool {
	g, ok := got.([]any)
	if !ok || len(g) != len(want) {
		return false
	}
	for i := range g {
		if g[i] != want[i] {
			return false
		}
	}
	return true
}

// TestWarningCodesBounded: a code minFraud does not document is counted as
// "other" (the label's values stay few), and the sets remembered for the
// log are bounded.
func TestWarningCodesBounded(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, "http://127.0.0.1:1", "score", time.Second)
	for i := range 3 * maxWarningSets {
		c.warnings.note(t.Context(), []Warning{{Code: "NEW_CODE_" + strings.Repeat("X", i%7), InputPointer: "/p/" + string(rune('a'+i%26)) + strings.Repeat("x", i)}}, "id", nil)
	}
	c.warnings.note(t.Context(), []Warning{{Code: "IP_ADDRESS_NOT_FOUND", InputPointer: "/device/ip_address"}}, "id", nil)
	if got := c.metric("gateway_minfraud_warnings_total", map[string]string{"code": "other"}); got != 3*maxWarningSets {
		t.Errorf(`counted as "other": %v, want %v`, got, 3*maxWarningSets)
	}
	if got := c.metric("gateway_minfraud_warnings_total", map[string]string{"code": "IP_ADDRESS_NOT_FOUND"}); got != 1 {
		t.Errorf("IP_ADDRESS_NOT_FOUND counted %v, want 1", got)
	}
	c.warnings.note(t.Context(), []Warning{{Code: "INPUT_INVALID", InputPointer: "/" + strings.Repeat("p", 100_000)}}, "id", nil)
	c.warnings.mu.Lock()
	n := len(c.warnings.seen)
	for k := range c.warnings.seen {
		if len(k) > maxWarningKey {
			t.Errorf("a warning set remembered under %d bytes, bound %d", len(k), maxWarningKey)
		}
	}
	c.warnings.mu.Unlock()
	if n > maxWarningSets {
		t.Errorf("%d warning sets remembered, bound %d", n, maxWarningSets)
	}
}
