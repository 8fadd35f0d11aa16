package embedded

import "github.com/vpsgate/gateway/internal/embedded/geoip"

// GeoIPCountryDB returns the bundled demo country database (MaxMind DB
// format, GeoIP2-Country record layout, database type
// "VPSGate-Demo-Country"). It knows only documentation ranges with made-up
// countries; see internal/embedded/geoip/README.md. The slice is the
// caller's own copy, ready for maxminddb.OpenBytes.
func GeoIPCountryDB() []byte { return geoip.CountryDB() }
