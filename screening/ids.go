package screening

import (
	"strings"

	"github.com/vpsgate/gateway/screening/ident"
)

// ScreeningIDPrefix starts every screening id (the orders package makes
// them). Order ids of that shape are refused (Order.Normalize), so an id in
// an API path is either a screening id or an order_id, never both.
const ScreeningIDPrefix = "scr_"

// IsScreeningID reports whether s has the shape of a screening id: the
// prefix and a keyed hash (ident.HashLen characters of base64url).
func IsScreeningID(s string) bool {
	rest, ok := strings.CutPrefix(s, ScreeningIDPrefix)
	if !ok || len(rest) != ident.HashLen {
		return false
	}
	for _, c := range []byte(rest) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ValidOrderID reports whether id has the shape Order.Normalize accepts for
// an order_id (ids in API paths are checked with it before any look-up).
func ValidOrderID(id string) bool {
	if id == "" || len(id) > maxOrderID {
		return false
	}
	for _, c := range []byte(id) {
		if !isIDChar(c) {
			return false
		}
	}
	return true
}
