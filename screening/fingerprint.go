package screening

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Fingerprint is the SHA-256 (hex) of the order's canonical JSON: the
// normalized order (Order.Normalize puts every value in one spelling)
// re-marshaled with its items sorted, so key order, spacing, "12.00" vs
// 12.0, "us" vs "US" and the order in which a cart lists its items do not
// make two submissions of one order differ. The items are a multiset: the
// same lines in another order are the same purchase, while a line
// repeated is not one line (quantities are not merged).
func Fingerprint(o Order) (string, error) {
	if len(o.Items) > 1 {
		o.Items = slices.Clone(o.Items)
		slices.SortFunc(o.Items, func(a, b Item) int {
			return cmp.Or(
				strings.Compare(a.SKU, b.SKU),
				strings.Compare(a.Category, b.Category),
				strings.Compare(string(a.Price), string(b.Price)),
				cmp.Compare(a.Quantity, b.Quantity),
			)
		})
	}
	b, err := json.Marshal(o)
	if err != nil {
		return "", fmt.Errorf("encoding order: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// CardIIN is the issuer number the gateway uses of a card's BIN (see
// cardIIN); the orders package keeps it to blocklist a card after a
// chargeback.
func CardIIN(bin string) string { return cardIIN(bin) }
