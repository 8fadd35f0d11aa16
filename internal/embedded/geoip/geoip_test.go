package geoip

import (
	"bytes"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/oschwald/maxminddb-golang/v2"
)

// countryRecord is the GeoIP2-Country layout the gateway's geoblock reads.
type countryRecord struct {
	Continent struct {
		Code  string            `maxminddb:"code"`
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"continent"`
	Country           countryFields `maxminddb:"country"`
	RegisteredCountry countryFields `maxminddb:"registered_country"`
}

type countryFields struct {
	ISOCode           string            `maxminddb:"iso_code"`
	IsInEuropeanUnion bool              `maxminddb:"is_in_european_union"`
	Names             map[string]string `maxminddb:"names"`
}

type want struct {
	Found                   bool
	Country, Registered     string
	Continent               string
	CountryEU, RegisteredEU bool
}

func lookup(t *testing.T, r *maxminddb.Reader, ip string) want {
	t.Helper()
	res := r.Lookup(netip.MustParseAddr(ip))
	if err := res.Err(); err != nil {
		t.Fatalf("Lookup(%s): %v", ip, err)
	}
	if !res.Found() {
		return want{}
	}
	var rec countryRecord
	if err := res.Decode(&rec); err != nil {
		t.Fatalf("Decode(%s): %v", ip, err)
	}
	return want{
		Found:        true,
		Country:      rec.Country.ISOCode,
		Registered:   rec.RegisteredCountry.ISOCode,
		Continent:    rec.Continent.Code,
		CountryEU:    rec.Country.IsInEuropeanUnion,
		RegisteredEU: rec.RegisteredCountry.IsInEuropeanUnion,
	}
}

func TestCountryDBLookups(t *testing.T) {
	t.Parallel()
	r, err := maxminddb.OpenBytes(CountryDB())
	if err != nil {
		t.Fatalf("OpenBytes: %v", err)
	}
	t.Cleanup(func() { r.Close() })

	us := want{Found: true, Country: "US", Registered: "US", Continent: "NA"}
	de := want{Found: true, Country: "DE", Registered: "DE", Continent: "EU", CountryEU: true, RegisteredEU: true}
	gb := want{Found: true, Country: "GB", Registered: "GB", Continent: "EU"}
	fr := want{Found: true, Country: "FR", Registered: "FR", Continent: "EU", CountryEU: true, RegisteredEU: true}
	unknown := want{}

	tests := []struct {
		ip   string
		want want
	}{
		{"192.0.2.0", us},
		{"192.0.2.10", us},
		{"192.0.2.255", us},
		{"::ffff:192.0.2.10", us},
		{"198.51.100.7", de},
		{"::ffff:198.51.100.7", de},
		{"203.0.113.9", gb},
		{"::ffff:203.0.113.9", gb},
		{"2001:db8::1", us},
		{"2001:db8:7fff:ffff:ffff:ffff:ffff:ffff", us},
		{"2001:db8:8000::1", fr},
		{"2001:db8:ffff::1", fr},
		// Neighbours of the ranges and local addresses are unknown.
		{"192.0.1.255", unknown},
		{"192.0.3.0", unknown},
		{"198.51.101.1", unknown},
		{"203.0.114.1", unknown},
		{"2001:db9::1", unknown},
		{"2001:db7:ffff::1", unknown},
		{"127.0.0.1", unknown},
		{"::ffff:127.0.0.1", unknown},
		{"::1", unknown},
		{"10.0.0.1", unknown},
		{"8.8.8.8", unknown},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			got := lookup(t, r, tt.ip)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Lookup(%s) mismatch (-want +got):\n%s", tt.ip, diff)
			}
		})
	}
}

func TestCountryDBMetadata(t *testing.T) {
	t.Parallel()
	r, err := maxminddb.OpenBytes(CountryDB())
	if err != nil {
		t.Fatalf("OpenBytes: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	md := r.Metadata
	if md.DatabaseType != "VPSGate-Demo-Country" {
		t.Errorf("DatabaseType = %q, want %q", md.DatabaseType, "VPSGate-Demo-Country")
	}
	if md.IPVersion != 6 {
		t.Errorf("IPVersion = %d, want 6", md.IPVersion)
	}
	if !strings.Contains(md.Description["en"], "not real-world data") {
		t.Errorf("Description[en] = %q, want it to say it is not real-world data", md.Description["en"])
	}
	if got, want := md.BuildTime().UTC().Format("2006-01-02"), "2026-01-01"; got != want {
		t.Errorf("BuildTime = %s, want %s", got, want)
	}
}

// TestCommittedDBMatchesSource keeps source.yaml and the committed binary
// from drifting: rebuild with `go generate ./internal/embedded/geoip`.
func TestCommittedDBMatchesSource(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("source.yaml")
	if err != nil {
		t.Fatalf("reading source: %v", err)
	}
	built, err := Build(src)
	if err != nil {
		t.Fatalf("Build(source.yaml): %v", err)
	}
	if !bytes.Equal(built, CountryDB()) {
		t.Fatalf("country.mmdb (%d bytes) differs from Build(source.yaml) (%d bytes); run: go generate ./internal/embedded/geoip",
			len(CountryDB()), len(built))
	}
	again, err := Build(src)
	if err != nil {
		t.Fatalf("second Build: %v", err)
	}
	if !bytes.Equal(built, again) {
		t.Fatal("Build is not reproducible: two builds of the same source differ")
	}
}

func TestCountryDBIsACopy(t *testing.T) {
	t.Parallel()
	a := CountryDB()
	a[0] ^= 0xff
	if bytes.Equal(a, CountryDB()) {
		t.Fatal("changing the slice CountryDB returned changed the bundled database")
	}
}

func TestParseSourceErrors(t *testing.T) {
	t.Parallel()
	const head = "database_type: X\nbuild_epoch: 1\ncountries:\n  US: {name: United States, continent: NA}\n"
	tests := []struct {
		name    string
		src     string
		wantErr []string
	}{
		{
			name:    "unknown key",
			src:     head + "networks:\n  - {cidr: 192.0.2.0/24, country: US}\nextra: 1\n",
			wantErr: []string{"extra"},
		},
		{
			name:    "real-world range",
			src:     head + "networks:\n  - {cidr: 8.8.8.0/24, country: US}\n",
			wantErr: []string{"not inside a documentation range"},
		},
		{
			name:    "loopback",
			src:     head + "networks:\n  - {cidr: 127.0.0.0/8, country: US}\n",
			wantErr: []string{"not inside a documentation range"},
		},
		{
			name:    "wider than a documentation range",
			src:     head + "networks:\n  - {cidr: 2001:db8::/31, country: US}\n",
			wantErr: []string{"not inside a documentation range"},
		},
		{
			name:    "host bits",
			src:     head + "networks:\n  - {cidr: 192.0.2.1/24, country: US}\n",
			wantErr: []string{"host bits set, write 192.0.2.0/24"},
		},
		{
			name:    "overlap",
			src:     head + "networks:\n  - {cidr: 192.0.2.0/24, country: US}\n  - {cidr: 192.0.2.128/25, country: US}\n",
			wantErr: []string{"overlaps 192.0.2.0/24"},
		},
		{
			name:    "unlisted country and no country",
			src:     head + "networks:\n  - {cidr: 192.0.2.0/24, country: ZZ}\n  - {cidr: 198.51.100.0/24}\n",
			wantErr: []string{`networks[0].country: "ZZ": not listed`, "networks[1]: needs country or registered_country"},
		},
		{
			name: "bad country table, every problem reported",
			src: "database_type: X\nbuild_epoch: 0\ncountries:\n  us: {name: x, continent: NA}\n  DE: {continent: XX}\n" +
				"networks:\n  - {cidr: nonsense, country: DE}\n",
			wantErr: []string{"build_epoch", `"us": not an upper-case`, "countries.DE.name", "countries.DE.continent", `networks[0].cidr: "nonsense"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Build([]byte(tt.src))
			if err == nil {
				t.Fatalf("Build(%q) = nil error, want errors containing %q", tt.src, tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Build error = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

// TestBuildRegisteredOnly pins the record shape of a network that has only a
// registered country: no country and no continent, so a reader falls back
// to registered_country.iso_code.
func TestBuildRegisteredOnly(t *testing.T) {
	t.Parallel()
	src := "database_type: X\nbuild_epoch: 1\ncountries:\n  FR: {name: France, continent: EU, eu: true}\n" +
		"networks:\n  - {cidr: 192.0.2.0/25, registered_country: FR}\n"
	db, err := Build([]byte(src))
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	r, err := maxminddb.OpenBytes(db)
	if err != nil {
		t.Fatalf("OpenBytes: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	got := lookup(t, r, "192.0.2.1")
	wantRec := want{Found: true, Registered: "FR", RegisteredEU: true}
	if diff := cmp.Diff(wantRec, got); diff != "" {
		t.Errorf("Lookup mismatch (-want +got):\n%s", diff)
	}
	if got := lookup(t, r, "192.0.2.200"); got.Found {
		t.Errorf("Lookup(192.0.2.200) = %+v, want not found (outside /25)", got)
	}
}
