// Package negotiate picks the form of an answer from the client's Accept
// header: JSON for API clients, HTML for browsers and curl. The public
// side's 451 page, error pages and checkout answers all ask it, so one
// client never gets JSON from one and HTML from another.
package negotiate

import (
	"strconv"
	"strings"
)

// PrefersJSON reports whether the Accept header ranks JSON (application/json
// or any +json type) above HTML. The most specific range names a type's
// quality (RFC 9110 §12.5.1: application/json over application/* over */*).
// A missing Accept, */* and ties get HTML, which is what a browser or curl
// expects to read.
func PrefersJSON(accept []string) bool {
	// Quality per specificity: [exact, type/*, */*]; -1 = not named.
	jsonQ := [3]float64{-1, -1, -1}
	htmlQ := [3]float64{-1, -1, -1}
	for _, line := range accept {
		for part := range strings.SplitSeq(line, ",") {
			mt, params, _ := strings.Cut(part, ";")
			mt = strings.ToLower(strings.TrimSpace(mt))
			q := 1.0
			for p := range strings.SplitSeq(params, ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && f >= 0 && f <= 1 {
						q = f
					}
				}
			}
			switch {
			case mt == "application/json", strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"):
				jsonQ[0] = max(jsonQ[0], q)
			case mt == "text/html", mt == "application/xhtml+xml":
				htmlQ[0] = max(htmlQ[0], q)
			case mt == "application/*":
				jsonQ[1] = max(jsonQ[1], q)
			case mt == "text/*":
				htmlQ[1] = max(htmlQ[1], q)
			case mt == "*/*":
				jsonQ[2] = max(jsonQ[2], q)
				htmlQ[2] = max(htmlQ[2], q)
			}
		}
	}
	j, h := mostSpecific(jsonQ), mostSpecific(htmlQ)
	return j > 0 && j > h
}

func mostSpecific(q [3]float64) float64 {
	for _, v := range q {
		if v >= 0 {
			return v
		}
	}
	return -1
}
