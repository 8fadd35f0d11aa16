// Package geoblock is the second step of the public request flow, right
// after client IP resolution (internal/clientip): it refuses visitors from
// the configured countries (by default the EEA) with 451 Unavailable For
// Legal Reasons before they reach customer pages, order interception or the
// storefront, and tells everything behind it the visitor's country in
// X-Client-Country.
//
// DB reads MaxMind DB files: GeoIP2/GeoLite2 Country, City and Enterprise
// (country.iso_code, falling back to registered_country.iso_code), the flat
// country_code files of ip-location-db and IPinfo, the GeoIP2 Anonymous IP
// and GeoLite2 ASN databases. Files are memory-mapped and reloaded when they
// change (new size, modification time or inode, checked every
// geoip.reload_interval); replace them by renaming a new file over the old
// one, as geoipupdate does. A changed file that fails to open or holds the
// wrong kind of records is refused and the loaded one stays.
//
// Policy is a validated geoblock section; Blocker is the middleware. The
// order of rules is: exempt path, allow_cidrs, country lookup, then the
// country list, or geoblock.unknown when there is no ISO country (not in the
// database, a non-ISO code, or a failed lookup, which is also counted).
// In report mode nothing is refused; what would have been is logged and
// counted as would_block.
package geoblock
