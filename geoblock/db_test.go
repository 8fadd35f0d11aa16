package geoblock

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpsgate/gateway/internal/embedded/geoip"
)

func TestCountry(t *testing.T) {
	t.Parallel()
	// Answers from shared/testdata/README.md. 2.125.160.216 is GB with
	// registered country FR: it pins that the policy reads country first.
	maxmind := []struct {
		ip   string
		want Location
	}{
		{"89.160.20.112", Location{Country: "SE", RegisteredCountry: "DE", Found: true}},
		{"::ffff:89.160.20.112", Location{Country: "SE", RegisteredCountry: "DE", Found: true}},
		{"81.2.69.142", Location{Country: "GB", RegisteredCountry: "US", Found: true}},
		{"2.125.160.216", Location{Country: "GB", RegisteredCountry: "FR", Found: true}},
		{"2a02:cfc0::1", Location{Country: "FR", RegisteredCountry: "FR", Found: true}},
		{"2001:218::1", Location{Country: "JP", RegisteredCountry: "JP", Found: true}},
		{"1.1.1.1", Location{}},
		{"10.0.0.1", Location{}},
	}
	tests := []struct {
		name string
		db   string
		ip   string
		want Location
	}{
		// Only the GeoIP2 databases have 214.1.1.0/24 (traits only).
		{"GeoIP2-Country no country", geoIP2Country, "214.1.1.1", Location{Found: true}},
		{"GeoLite2-Country 214 not found", geoLite2Cntry, "214.1.1.1", Location{}},
		{"GeoIP2-Country continent only", geoIP2Country, "2a02:d500::1", Location{Found: true}},
		{"GeoIP2-City continent only", geoIP2City, "2a02:d500::1", Location{Found: true}},
		// Flat country_code records, no IPv4 aliases in the file itself.
		{"geo-whois flat", geoWhoisDB(t), "89.160.20.112", Location{Country: "SE", Found: true}},
		{"geo-whois 1.1.1.1", geoWhoisDB(t), "1.1.1.1", Location{Country: "AU", Found: true}},
		{"geo-whois mapped is unmapped", geoWhoisDB(t), "::ffff:1.1.1.1", Location{Country: "AU", Found: true}},
		{"geo-whois private", geoWhoisDB(t), "10.0.0.1", Location{}},
		{"geo-whois loopback v6", geoWhoisDB(t), "::1", Location{}},
		{"iptoasn 1.1.1.1", ipToASNDB(t), "1.1.1.1", Location{Country: "US", Found: true}},
		{"invalid address", geoIP2Country, "", Location{}},
	}
	for _, db := range []string{geoIP2Country, geoLite2Cntry, geoIP2City, geoLite2City} {
		for _, m := range maxmind {
			tests = append(tests, struct {
				name string
				db   string
				ip   string
				want Location
			}{filepath.Base(db) + " " + m.ip, db, m.ip, m.want})
		}
	}
	dbs := map[string]*DB{}
	for _, tt := range tests {
		if dbs[tt.db] == nil {
			dbs[tt.db] = openDB(t, GeoIPConfig{CountryDB: tt.db})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ip netip.Addr
			if tt.ip != "" {
				ip = netip.MustParseAddr(tt.ip)
			}
			got, err := dbs[tt.db].Country(ip)
			if err != nil {
				t.Fatalf("Country(%s): %v", tt.ip, err)
			}
			if got != tt.want {
				t.Errorf("Country(%s) = %+v, want %+v", tt.ip, got, tt.want)
			}
		})
	}
}

func TestCountryEnterprise(t *testing.T) {
	t.Parallel()
	d := openDB(t, GeoIPConfig{CountryDB: geoIP2Ent})
	// Enterprise has the GeoIP2 layout; any address it knows with a country
	// must read like the Country database does.
	got, err := d.Country(netip.MustParseAddr("2.125.160.216"))
	if err != nil || got.Country != "GB" || got.RegisteredCountry != "FR" {
		t.Errorf("Country(2.125.160.216) = %+v, %v, want GB registered FR", got, err)
	}
}

// TestCountrySchemas covers record shapes the shared files lack: IPinfo's
// country string, IPinfo Lite (country_code plus a country name), lower case
// codes, registered_country only, and values of the wrong kind.
func TestCountrySchemas(t *testing.T) {
	t.Parallel()
	db := buildDB(t, 6, "ipinfo-mixed", map[string]mmdbtype.DataType{
		"1.0.0.0/24": mmdbtype.Map{"country": mmdbtype.String("DE"), "country_name": mmdbtype.String("Germany")},
		"1.0.1.0/24": mmdbtype.Map{"country_code": mmdbtype.String("fr"), "country": mmdbtype.String("France")},
		"1.0.2.0/24": mmdbtype.Map{"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("NL")}},
		"1.0.3.0/24": mmdbtype.Map{"country": mmdbtype.Uint32(7), "country_code": mmdbtype.Uint32(9)},
		"1.0.4.0/24": mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String("Sweden")}},
		"1.0.5.0/24": mmdbtype.Map{"country_code": mmdbtype.String("AN")},
		"1.0.6.0/24": mmdbtype.Map{"country": mmdbtype.String("United States")},
		"2001:db8::/32": mmdbtype.Map{
			"country":            mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("x")}, "iso_code": mmdbtype.String("IT")},
			"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("AT")},
			"traits":             mmdbtype.Map{"is_anycast": mmdbtype.Bool(true)},
		},
	})
	d := openDB(t, GeoIPConfig{CountryDB: writeTemp(t, db)})
	tests := []struct {
		ip   string
		want Location
	}{
		{"1.0.0.1", Location{Country: "DE", Found: true}},
		{"1.0.1.1", Location{Country: "FR", Found: true}},
		{"1.0.2.1", Location{Country: "NL", RegisteredCountry: "NL", Found: true}},
		{"1.0.3.1", Location{Found: true}},
		{"1.0.4.1", Location{Found: true}},
		{"1.0.5.1", Location{Country: "AN", Found: true}},
		{"1.0.6.1", Location{Found: true}},
		{"2001:db8::5", Location{Country: "IT", RegisteredCountry: "AT", Found: true}},
	}
	for _, tt := range tests {
		got, err := d.Country(netip.MustParseAddr(tt.ip))
		if err != nil || got != tt.want {
			t.Errorf("Country(%s) = %+v, %v, want %+v", tt.ip, got, err, tt.want)
		}
	}
}

func TestCountryIPv4OnlyDB(t *testing.T) {
	t.Parallel()
	db := buildDB(t, 4, "v4-only", map[string]mmdbtype.DataType{
		"1.0.0.0/24": mmdbtype.Map{"country_code": mmdbtype.String("DE")},
	})
	d := openDB(t, GeoIPConfig{CountryDB: writeTemp(t, db)})
	for ip, want := range map[string]Location{
		"1.0.0.1":        {Country: "DE", Found: true},
		"::ffff:1.0.0.1": {Country: "DE", Found: true},
		"2001:db8::1":    {},
	} {
		got, err := d.Country(netip.MustParseAddr(ip))
		if err != nil || got != want {
			t.Errorf("Country(%s) = %+v, %v, want %+v, nil", ip, got, err, want)
		}
	}
}

func TestBundled(t *testing.T) {
	t.Parallel()
	d, err := OpenDB(GeoIPConfig{}, geoip.CountryDB(), nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("OpenDB(bundled): %v", err)
	}
	defer d.Close()
	for ip, want := range map[string]string{"198.51.100.7": "DE", "203.0.113.9": "GB", "2001:db8:8000::1": "FR", "127.0.0.1": ""} {
		got, err := d.Country(netip.MustParseAddr(ip))
		if err != nil || got.Country != want {
			t.Errorf("bundled Country(%s) = %+v, %v, want %q", ip, got, err, want)
		}
	}
	d.reloadIfChanged() // nothing to reload, must not touch the bundled one
	if got, _ := d.Country(netip.MustParseAddr("198.51.100.7")); got.Country != "DE" {
		t.Errorf("after reload round, Country = %+v", got)
	}
	if _, err := OpenDB(GeoIPConfig{}, nil, nil, nil); err == nil {
		t.Error("OpenDB without country_db and bundled bytes = nil error")
	}
}

func TestAnonymousAndASN(t *testing.T) {
	t.Parallel()
	d := openDB(t, GeoIPConfig{CountryDB: geoIP2Country, AnonymousIPDB: anonymousIPDB, ASNDB: asnDB})
	anon := []struct {
		ip   string
		want AnonymousIP
	}{
		{"1.2.0.1", AnonymousIP{IsAnonymous: true, IsAnonymousVPN: true}},
		{"81.2.69.1", AnonymousIP{true, true, true, true, true, true}},
		{"65.0.0.1", AnonymousIP{IsAnonymous: true, IsTorExitNode: true}},
		{"6.1.0.4", AnonymousIP{IsAnonymous: true, IsResidentialProxy: true}},
		{"2001:480:3a::1", AnonymousIP{IsAnonymous: true, IsPublicProxy: true}},
		{"::ffff:1.2.0.1", AnonymousIP{IsAnonymous: true, IsAnonymousVPN: true}},
		{"1.0.0.1", AnonymousIP{}}, // found, empty record: not anonymous
		{"10.0.0.1", AnonymousIP{}},
	}
	for _, tt := range anon {
		got, err := d.Anonymous(netip.MustParseAddr(tt.ip))
		if err != nil {
			t.Fatalf("Anonymous(%s): %v", tt.ip, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Anonymous(%s) (-want +got):\n%s", tt.ip, diff)
		}
	}
	asn := map[string]ASN{
		"1.128.0.1":     {1221, "Telstra Pty Ltd"},
		"89.160.20.112": {29518, "Bredband2 AB"},
		"10.0.0.1":      {},
	}
	for ip, want := range asn {
		got, err := d.ASN(netip.MustParseAddr(ip))
		if err != nil || got != want {
			t.Errorf("ASN(%s) = %+v, %v, want %+v", ip, got, err, want)
		}
	}

	// Not configured: zero values, no error.
	bare := openDB(t, GeoIPConfig{CountryDB: geoIP2Country})
	if a, err := bare.Anonymous(netip.MustParseAddr("81.2.69.1")); err != nil || a != (AnonymousIP{}) {
		t.Errorf("Anonymous without DB = %+v, %v", a, err)
	}
	if a, err := bare.ASN(netip.MustParseAddr("1.128.0.1")); err != nil || a != (ASN{}) {
		t.Errorf("ASN without DB = %+v, %v", a, err)
	}
	// The ISP database carries the ASN fields too.
	isp := openDB(t, GeoIPConfig{CountryDB: geoIP2Country, ASNDB: ispDB})
	if a, err := isp.ASN(netip.MustParseAddr("89.160.20.112")); err != nil || a.Number != 29518 {
		t.Errorf("ASN from ISP DB = %+v, %v", a, err)
	}
}

func TestOpenDBRefuses(t *testing.T) {
	t.Parallel()
	garbage := writeTemp(t, []byte("this is not a MaxMind DB"))
	tests := []struct {
		name string
		cfg  GeoIPConfig
		want string
	}{
		{"missing file", GeoIPConfig{CountryDB: "testdata/does-not-exist.mmdb"}, "no such file"},
		{"garbage", GeoIPConfig{CountryDB: garbage}, "opening country database"},
		{"ASN as country", GeoIPConfig{CountryDB: asnDB}, "wrong kind of database"},
		{"anonymous as country", GeoIPConfig{CountryDB: anonymousIPDB}, "wrong kind of database"},
		{"country as ASN", GeoIPConfig{CountryDB: geoIP2Country, ASNDB: geoIP2Country}, "no asn record"},
		{"country as anonymous", GeoIPConfig{CountryDB: geoIP2Country, AnonymousIPDB: geoWhoisDB(t)}, "no anonymous_ip record"},
		{"garbage ASN", GeoIPConfig{CountryDB: geoIP2Country, ASNDB: garbage}, "opening asn database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := OpenDB(tt.cfg, nil, nil, prometheus.NewRegistry())
			if err == nil {
				d.Close()
				t.Fatalf("OpenDB(%+v) = nil error, want %q", tt.cfg, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("OpenDB(%+v) = %v, want it to contain %q", tt.cfg, err, tt.want)
			}
		})
	}
}

func TestMetricsAndMaxAge(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	var logs logBuffer
	d, err := OpenDB(GeoIPConfig{CountryDB: geoIP2Country, ASNDB: asnDB, MaxAge: time.Nanosecond}, nil, newLogger(&logs), reg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	want := float64(d.country.cur.Load().r.Metadata.BuildEpoch)
	if got := metricValue(t, reg, "gateway_geoip_build_epoch_seconds", map[string]string{"db": "country", "type": "GeoIP2-Country"}); got != want || want == 0 {
		t.Errorf("build epoch gauge = %v, want %v", got, want)
	}
	if got := metricValue(t, reg, "gateway_geoip_build_epoch_seconds", map[string]string{"db": "asn", "type": "GeoLite2-ASN"}); got <= 0 {
		t.Errorf("asn build epoch gauge = %v", got)
	}
	if n := logs.count("geoip database is older than max_age"); n != 2 {
		t.Errorf("max_age warnings = %d, want 2 (country, asn); logs:\n%s", n, logs.String())
	}

	var fresh logBuffer
	d2, err := OpenDB(GeoIPConfig{CountryDB: geoIP2Country, MaxAge: 100 * 365 * 24 * time.Hour}, nil, newLogger(&fresh), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if n := fresh.count("older than max_age"); n != 0 {
		t.Errorf("max_age warnings with a century of max_age = %d", n)
	}

	// A failed OpenDB leaves nothing registered: a retry works.
	reg2 := prometheus.NewRegistry()
	if _, err := OpenDB(GeoIPConfig{CountryDB: asnDB}, nil, nil, reg2); err == nil {
		t.Fatal("OpenDB(ASN as country) = nil error")
	}
	retry, err := OpenDB(GeoIPConfig{CountryDB: geoIP2Country}, nil, nil, reg2)
	if err != nil {
		t.Fatalf("OpenDB after a failed one on the same registry: %v", err)
	}
	retry.Close()

	// A second DB on the same registry is a registration error, not a panic.
	if _, err := OpenDB(GeoIPConfig{CountryDB: geoIP2Country}, nil, nil, reg); err == nil {
		t.Error("OpenDB twice on one registry = nil error")
	}
}

func TestReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := copyFile(t, geoIP2Country, dir, "country.mmdb")
	reg := prometheus.NewRegistry()
	var logs logBuffer
	d, err := OpenDB(GeoIPConfig{CountryDB: path}, nil, newLogger(&logs), reg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	country := func(ip string) string {
		t.Helper()
		loc, err := d.Country(netip.MustParseAddr(ip))
		if err != nil {
			t.Fatalf("Country(%s): %v", ip, err)
		}
		return loc.Country
	}
	counter := func(name string) float64 {
		v := metricValue(t, reg, name, map[string]string{"db": "country"})
		return max(v, 0)
	}

	if got := country("1.1.1.1"); got != "" {
		t.Fatalf("A: Country(1.1.1.1) = %q, want none", got)
	}
	d.reloadIfChanged()
	if got := counter("gateway_geoip_reloads_total"); got != 0 {
		t.Errorf("reloads after an unchanged round = %v, want 0", got)
	}

	// Swap in B by atomic rename.
	replace(t, readFile(t, geoWhoisDB(t)), path)
	d.reloadIfChanged()
	if got := country("1.1.1.1"); got != "AU" {
		t.Errorf("B: Country(1.1.1.1) = %q, want AU", got)
	}
	if got := counter("gateway_geoip_reloads_total"); got != 1 {
		t.Errorf("reloads = %v, want 1", got)
	}
	if got := metricValue(t, reg, "gateway_geoip_build_epoch_seconds", map[string]string{"db": "country", "type": "country ipvAll"}); got <= 0 {
		t.Errorf("build epoch for the new type = %v", got)
	}
	if n := seriesCount(t, reg, "gateway_geoip_build_epoch_seconds"); n != 1 {
		t.Errorf("build epoch series = %d, want 1 (the old type's series dropped)", n)
	}

	// A corrupt file is refused, logged once, and B stays.
	replace(t, []byte("garbage, not a database"), path)
	d.reloadIfChanged()
	d.reloadIfChanged()
	if got := country("1.1.1.1"); got != "AU" {
		t.Errorf("after corrupt file: Country(1.1.1.1) = %q, want AU (kept)", got)
	}
	if got := counter("gateway_geoip_reload_errors_total"); got != 1 {
		t.Errorf("reload errors = %v, want 1 (once per bad version)", got)
	}
	if n := logs.count("geoip database refused"); n != 1 {
		t.Errorf("refusal logged %d times, want 1", n)
	}

	// A valid database of the wrong kind is refused too.
	replace(t, readFile(t, asnDB), path)
	d.reloadIfChanged()
	if got := country("1.1.1.1"); got != "AU" {
		t.Errorf("after ASN file: Country(1.1.1.1) = %q, want AU (kept)", got)
	}
	if got := counter("gateway_geoip_reload_errors_total"); got != 2 {
		t.Errorf("reload errors = %v, want 2", got)
	}

	// A deleted file keeps the loaded one and is logged once.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	d.reloadIfChanged()
	d.reloadIfChanged()
	if got := country("1.1.1.1"); got != "AU" {
		t.Errorf("after delete: Country(1.1.1.1) = %q, want AU (kept)", got)
	}
	if got := counter("gateway_geoip_reload_errors_total"); got != 3 {
		t.Errorf("reload errors after delete = %v, want 3", got)
	}

	// Back to A.
	replace(t, readFile(t, geoIP2Country), path)
	d.reloadIfChanged()
	if got := country("81.2.69.142"); got != "GB" {
		t.Errorf("A again: Country(81.2.69.142) = %q, want GB", got)
	}
	if got := country("1.1.1.1"); got != "" {
		t.Errorf("A again: Country(1.1.1.1) = %q, want none", got)
	}
	if err := d.Ready(); err != nil {
		t.Errorf("Ready() = %v", err)
	}
}

// TestReloadDrains checks that a swapped-out reader stays usable by the
// lookup holding it and is closed when that lookup lets go.
func TestReloadDrains(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := copyFile(t, geoIP2Country, dir, "country.mmdb")
	d := openDB(t, GeoIPConfig{CountryDB: path})

	held := d.country.acquire() // what a lookup in flight holds
	replace(t, readFile(t, geoWhoisDB(t)), path)
	d.reloadIfChanged()

	var rec countryRecord
	if err := held.r.Lookup(netip.MustParseAddr("81.2.69.142")).Decode(&rec); err != nil || rec.country != "GB" {
		t.Fatalf("held old reader after swap: %+v, %v, want GB", rec, err)
	}
	held.release()
	if err := held.r.Lookup(netip.MustParseAddr("81.2.69.142")).Decode(&rec); err == nil {
		t.Error("old reader still open after the last reference was released")
	}
}

// TestOverwriteInPlace truncates the mapped file under the reader, which
// raises SIGBUS on access: lookups must fail, not crash the process.
func TestOverwriteInPlace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := copyFile(t, geoWhoisDB(t), dir, "country.mmdb")
	d := openDB(t, GeoIPConfig{CountryDB: path})
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	_, err := d.Country(netip.MustParseAddr("1.1.1.1"))
	if err == nil || !strings.Contains(err.Error(), "memory fault") {
		t.Errorf("Country after truncation = %v, want a memory fault error", err)
	}
	// The empty file cannot be opened; writing the database back in place
	// (same inode, new size and mtime) is picked up by the next round.
	d.reloadIfChanged()
	if err := os.WriteFile(path, readFile(t, geoWhoisDB(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	d.reloadIfChanged()
	if loc, err := d.Country(netip.MustParseAddr("1.1.1.1")); err != nil || loc.Country != "AU" {
		t.Errorf("Country after rewrite and reload = %+v, %v, want AU", loc, err)
	}
}

// TestConcurrentReload swaps between two databases many times while lookups
// run; under -race, every answer must be A's or B's answer for that address.
func TestConcurrentReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := copyFile(t, geoIP2Country, dir, "a.mmdb")
	b := copyFile(t, geoWhoisDB(t), dir, "b.mmdb")
	path := filepath.Join(dir, "country.mmdb")
	if err := os.Link(a, path); err != nil {
		t.Fatal(err)
	}
	d := openDB(t, GeoIPConfig{CountryDB: path})

	ips := []string{"1.1.1.1", "81.2.69.142", "89.160.20.112", "2a02:cfc0::1", "214.1.1.1", "2001:218::1", "8.8.8.8"}
	want := map[string][2]string{}
	for _, f := range []string{a, b} {
		one := openDB(t, GeoIPConfig{CountryDB: f})
		for _, ip := range ips {
			loc, err := one.Country(netip.MustParseAddr(ip))
			if err != nil {
				t.Fatal(err)
			}
			w := want[ip]
			if f == a {
				w[0] = loc.Country
			} else {
				w[1] = loc.Country
			}
			want[ip] = w
		}
	}

	const swaps = 40
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var (
		wg      sync.WaitGroup
		lookups atomic.Int64
		seenA   atomic.Int64 // 1.1.1.1 answered as A does (not found)
		seenB   atomic.Int64 // 1.1.1.1 answered as B does (AU)
	)
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil && i < 10_000_000; i++ {
				ip := ips[(i+w)%len(ips)]
				loc, err := d.Country(netip.MustParseAddr(ip))
				if err != nil {
					errs <- err
					cancel()
					return
				}
				if ans := want[ip]; loc.Country != ans[0] && loc.Country != ans[1] {
					errs <- errors.New(ip + ": " + loc.Country + " is neither A's " + ans[0] + " nor B's " + ans[1])
					cancel()
					return
				}
				if ip == "1.1.1.1" {
					if loc.Country == "AU" {
						seenB.Add(1)
					} else {
						seenA.Add(1)
					}
				}
				lookups.Add(1)
			}
		})
	}
	for i := range swaps {
		// Let the readers run against each generation before the next swap.
		for start := lookups.Load(); ctx.Err() == nil && lookups.Load() < start+200; {
			runtime.Gosched()
		}
		src := a
		if i%2 == 0 {
			src = b
		}
		next := path + ".next"
		if err := os.Link(src, next); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(next, path); err != nil {
			t.Fatal(err)
		}
		d.reloadIfChanged()
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if seenA.Load() == 0 || seenB.Load() == 0 {
		t.Errorf("answers seen from A: %d, from B: %d; want both, lookups did not overlap the swaps", seenA.Load(), seenB.Load())
	}
	t.Logf("%d lookups across %d swaps", lookups.Load(), swaps)
}

func TestRun(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		path := copyFile(t, geoIP2Country, dir, "country.mmdb")
		d := openDB(t, GeoIPConfig{CountryDB: path, ReloadInterval: time.Minute})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			d.Run(ctx)
			close(done)
		}()
		replace(t, readFile(t, geoWhoisDB(t)), path)
		time.Sleep(59 * time.Second) // fake clock: not yet
		synctest.Wait()
		if loc, _ := d.Country(netip.MustParseAddr("1.1.1.1")); loc.Country != "" {
			t.Errorf("before the interval: Country(1.1.1.1) = %q, want none", loc.Country)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if loc, _ := d.Country(netip.MustParseAddr("1.1.1.1")); loc.Country != "AU" {
			t.Errorf("after the interval: Country(1.1.1.1) = %q, want AU", loc.Country)
		}
		cancel()
		<-done
	})
}

func TestClose(t *testing.T) {
	t.Parallel()
	d, err := OpenDB(GeoIPConfig{CountryDB: geoIP2Country, ASNDB: asnDB}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := d.Country(netip.MustParseAddr("81.2.69.142")); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Country after Close = %v, want ErrUnavailable", err)
	}
	if _, err := d.ASN(netip.MustParseAddr("1.128.0.1")); !errors.Is(err, ErrUnavailable) {
		t.Errorf("ASN after Close = %v, want ErrUnavailable", err)
	}
	if err := d.Ready(); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Ready after Close = %v, want ErrUnavailable", err)
	}
	d.reloadIfChanged() // must not reopen
	if err := d.Ready(); err == nil {
		t.Error("reload round reopened a closed DB")
	}
}

func TestCountryAllocs(t *testing.T) {
	d := openDB(t, GeoIPConfig{CountryDB: geoWhoisDB(t)})
	ip := netip.MustParseAddr("89.160.20.112")
	d.Country(ip) // warm the string cache
	if n := testing.AllocsPerRun(200, func() { d.Country(ip) }); n > 1 {
		t.Errorf("Country allocates %v times per lookup, want <= 1", n)
	}
}

// A record that cannot be decoded is an error, and its message (logged by
// the callers) does not carry the client's address: logs get it masked.
func TestLookupErrorHidesAddress(t *testing.T) {
	t.Parallel()
	asn := buildDB(t, 4, "GeoLite2-ASN", map[string]mmdbtype.DataType{
		"192.0.2.0/25":   mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(64500)},
		"192.0.2.128/25": mmdbtype.Map{"autonomous_system_number": mmdbtype.String("not a number")},
	})
	d := openDB(t, GeoIPConfig{CountryDB: geoIP2Country, ASNDB: writeTemp(t, asn)})
	if got, err := d.ASN(netip.MustParseAddr("192.0.2.1")); err != nil || got.Number != 64500 {
		t.Fatalf("ASN(192.0.2.1) = %+v, %v, want 64500", got, err)
	}
	_, err := d.ASN(netip.MustParseAddr("192.0.2.200"))
	if err == nil {
		t.Fatal("ASN(192.0.2.200) of an undecodable record: no error")
	}
	if strings.Contains(err.Error(), "192.0.2.200") {
		t.Errorf("error %q names the client address", err)
	}
}
