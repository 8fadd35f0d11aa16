package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/vpsgate/gateway/geoblock"
	"github.com/vpsgate/gateway/screening"
)

// GeoLocator adapts geoblock's databases to screening's IPLocator, so that
// screening reads the same (hot-reloaded) databases as the geo-block
// instead of opening a second copy.
type GeoLocator struct {
	DB *geoblock.DB
}

var _ screening.IPLocator = GeoLocator{}

// LocateIP gathers what the country, anonymous-IP and ASN databases say
// about ip. A database that is not configured leaves its fields zero.
func (g GeoLocator) LocateIP(ctx context.Context, ip netip.Addr) (screening.IPInfo, error) {
	loc, errC := g.DB.Country(ip)
	anon, errA := g.DB.Anonymous(ip)
	asn, errN := g.DB.ASN(ip)
	info := screening.IPInfo{
		Country:           loc.Country,
		RegisteredCountry: loc.RegisteredCountry,
		ASN:               asn.Number,
		ASOrg:             asn.Org,
		Anonymous:         anon.IsAnonymous,
		VPN:               anon.IsAnonymousVPN,
		Hosting:           anon.IsHostingProvider,
		Tor:               anon.IsTorExitNode,
		PublicProxy:       anon.IsPublicProxy,
		ResidentialProxy:  anon.IsResidentialProxy,
	}
	if err := errors.Join(errC, errA, errN); err != nil {
		// No address in the message: it is logged, and logs get client
		// addresses only masked (the context carries the masked one).
		return info, fmt.Errorf("looking up the client IP in the GeoIP databases: %w", err)
	}
	return info, nil
}
