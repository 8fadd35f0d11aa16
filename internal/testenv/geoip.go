package testenv

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// FlatCountryDB builds a country database in the shape of the free
// ip-location-db files (geo-whois-asn-country, iptoasn-country; see
// shared/testdata/geo/README.md): database_type "country ipvAll", an IPv6
// tree with record size 24, flat records {"country_code": "DE"}, IPv4 at
// ::a.b.c.d with no ::ffff: alias, and no record for reserved space. It
// stands in for those 13 MB files in tests that need their format, not their
// data. networks maps CIDRs to country codes. filler adds that many /24s in
// 11.0.0.0/8 (at most 65536), with codes cycling through a few countries, so
// that reload tests can use a database of some size (filler 65536 makes a
// file of about 1 MB).
func FlatCountryDB(t testing.TB, networks map[string]string, filler int) []byte {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:        "country ipvAll",
		IPVersion:           6,
		RecordSize:          24,
		DisableIPv4Aliasing: true,
		BuildEpoch:          1767225600,
		Description:         map[string]string{"en": "test database in the ip-location-db flat shape, made-up data"},
	})
	if err != nil {
		t.Fatalf("testenv: new mmdb tree: %v", err)
	}
	insert := func(p netip.Prefix, code string) {
		n := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
		if err := tree.Insert(n, mmdbtype.Map{"country_code": mmdbtype.String(code)}); err != nil {
			t.Fatalf("testenv: inserting %s: %v", p, err)
		}
	}
	codes := []string{"US", "BR", "IN", "JP", "ZA"}
	for i := range min(filler, 1<<16) {
		insert(netip.PrefixFrom(netip.AddrFrom4([4]byte{11, byte(i >> 8), byte(i), 0}), 24), codes[i%len(codes)])
	}
	for cidr, code := range networks {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		insert(p.Masked(), code)
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		t.Fatalf("testenv: writing mmdb: %v", err)
	}
	return buf.Bytes()
}

// GeoWhoisNetworks are networks with the answers the real
// geo-whois-asn-country snapshot gives (shared/testdata), for FlatCountryDB:
// 1.1.1.1 is AU there and US in iptoasn-country, 1.179.112.1 FR and US, so
// the two disagree as the real files do; both say GB for 81.2.69.142.
func GeoWhoisNetworks() map[string]string {
	return map[string]string{
		"1.1.1.0/24": "AU", "1.179.112.0/20": "FR", "81.2.69.0/24": "GB", "89.160.0.0/17": "SE",
		"8.8.8.0/24": "US", "2a02:cfc0::/29": "FR", "2001:218::/32": "JP",
	}
}

// IPToASNNetworks are the answers of the real iptoasn-country snapshot for
// the same addresses as GeoWhoisNetworks.
func IPToASNNetworks() map[string]string {
	return map[string]string{
		"1.1.1.0/24": "US", "1.179.112.0/20": "US", "81.2.69.0/24": "GB", "89.160.0.0/17": "SE",
		"8.8.8.0/24": "US", "2a02:cfc0::/29": "FR", "2001:218::/32": "JP",
	}
}
