package minfraud

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecodeResponse feeds the decoder of minFraud's answers (bytes from the
// network) with MaxMind's fixtures and garbage. It must never panic, and it
// must never hand back a response without a usable risk score.
func FuzzDecodeResponse(f *testing.F) {
	names, err := filepath.Glob(filepath.Join("testdata", "*response*.json"))
	if err != nil || len(names) == 0 {
		f.Fatalf("no response fixtures in testdata: %v", err)
	}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	var node struct {
		Response map[string]json.RawMessage `json:"response"`
	}
	b, err := os.ReadFile(filepath.Join("testdata", "node-score.json"))
	if err != nil {
		f.Fatal(err)
	}
	if err := json.Unmarshal(b, &node); err != nil {
		f.Fatal(err)
	}
	for _, r := range node.Response {
		f.Add([]byte(r))
	}
	for _, s := range []string{
		"", "null", "{}", "[]", `"x"`, "0", `{"risk_score":null}`, `{"risk_score":-1}`,
		`{"risk_score":1e309}`, `{"risk_score":99,"ip_address":[]}`, `{"risk_score":1,"warnings":{}}`,
		`{"risk_score":1,"subscores":{"a":` + strings.Repeat("[", 1000) + `}`,
		`{"risk_score":1,"queries_remaining":1e30}`, "\xff\xfe{", `{"risk_score":1}garbage`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeResponse(body)
		if err != nil {
			if r != nil {
				t.Fatalf("decodeResponse(%q) = %+v, %v: response and error together", body, r, err)
			}
			if !errors.Is(err, errMalformed) {
				t.Fatalf("decodeResponse(%q) error %v does not wrap errMalformed", body, err)
			}
			return
		}
		if r.RiskScore < 0 || r.RiskScore > 100 {
			t.Fatalf("decodeResponse(%q) risk score %v out of range", body, r.RiskScore)
		}
	})
}

// BenchmarkDecodeResponse decodes the Score answer the load benchmark's
// stub replays (scripts/bench-screening.sh): what every scored order pays
// to read minFraud's answer.
func BenchmarkDecodeResponse(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "python-score-response.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeResponse(body); err != nil {
			b.Fatal(err)
		}
	}
}
