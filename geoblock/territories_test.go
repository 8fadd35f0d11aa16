package geoblock

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// TestTerritories: an address that the database places in an EU territory
// with an ISO code of its own, or in a place with GDPR-equivalent law, gets
// the 451 under the aliases that cover it, and places outside Union law
// (overseas countries and territories, the Faroes) pass. Each place gets a
// /24 of its own in a small GeoIP2-Country database built here.
func TestTerritories(t *testing.T) {
	t.Parallel()
	places := []struct {
		code          string
		eu, eea, gdpr bool
		why           string
	}{
		{"AX", true, true, true, "Åland, Finland: Åland protocol, TFEU 355(4)"},
		{"GF", true, true, true, "French Guiana: outermost region, TFEU 349, 355(1)"},
		{"GP", true, true, true, "Guadeloupe: outermost region"},
		{"MQ", true, true, true, "Martinique: outermost region"},
		{"RE", true, true, true, "Réunion: outermost region"},
		{"YT", true, true, true, "Mayotte: outermost region since 2014"},
		{"MF", true, true, true, "Saint-Martin: outermost region"},
		{"GI", false, false, true, "Gibraltar: Gibraltar GDPR"},
		{"JE", false, false, true, "Jersey: Data Protection (Jersey) Law 2018"},
		{"GG", false, false, true, "Guernsey: Data Protection (Bailiwick of Guernsey) Law 2017"},
		{"IM", false, false, true, "Isle of Man: Data Protection Act 2018"},
		{"BL", false, false, false, "Saint-Barthélemy: OCT since 2012"},
		{"PF", false, false, false, "French Polynesia: OCT, Annex II"},
		{"GL", false, false, false, "Greenland: OCT, Annex II"},
		{"FO", false, false, false, "Faroe Islands: TFEU 355(5)(a)"},
		{"SJ", false, false, false, "Svalbard: outside the EEA Agreement"},
	}
	recs := map[string]mmdbtype.DataType{}
	for i, p := range places {
		recs[fmt.Sprintf("198.18.%d.0/24", i)] = mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(p.code)}}
	}
	db := openDB(t, GeoIPConfig{CountryDB: writeTemp(t, buildDB(t, 6, "GeoIP2-Country", recs))})
	for _, alias := range []string{"EU", "EEA", "GDPR"} {
		b := newBlocker(t, Config{Countries: []string{alias}}, db, nil, nil)
		for i, p := range places {
			t.Run(alias+"/"+p.code, func(t *testing.T) {
				want := map[string]bool{"EU": p.eu, "EEA": p.eea, "GDPR": p.gdpr}[alias]
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				r.RemoteAddr = fmt.Sprintf("198.18.%d.77:1234", i)
				w := httptest.NewRecorder()
				b.ServeHTTP(w, r)
				if got := w.Code == http.StatusUnavailableForLegalReasons; got != want {
					t.Errorf("countries [%s], visitor in %s (%s): status %d, want blocked=%v", alias, p.code, p.why, w.Code, want)
				}
			})
		}
	}
}
