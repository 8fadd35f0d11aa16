package orders

import (
	"fmt"
	"strings"

	"github.com/vpsgate/gateway/screening"
	"github.com/vpsgate/gateway/screening/ident"
)

// Owner is the namespace an order_id lives in: who submitted the order. The
// same order_id under two owners is two unrelated orders, so a visitor
// posting a checkout with the storefront's own order number, or one
// storefront reusing another's, can never read, block or overwrite the
// other's order.
//
// Owners are written "checkout" (an intercepted checkout on the public
// side, whose order_id a visitor chooses) and "key:<name>" (an order sent to
// POST /api/v1/orders with the API key of that name in auth.api_keys).
type Owner string

// CheckoutOwner owns every order the public side intercepts.
const CheckoutOwner Owner = "checkout"

// LegacyOwner names, for officers only, an order stored before owners
// existed: keyed by its order_id alone, it cannot be attributed to an API
// key or to the checkout, so no storefront reaches it (fail closed), and
// an officer reads it, reviews it and reports its events with
// ?owner=legacy until it expires with screening.order_retention. Nothing
// is submitted under it.
const LegacyOwner Owner = "legacy"

// apiKeyOwnerPrefix starts the owner of an API key's orders.
const apiKeyOwnerPrefix = "key:"

// maxOwnerName bounds an API key name inside an owner.
const maxOwnerName = 200

// APIKeyOwner is the owner of the orders an API key submits; name is the
// key's configured name.
func APIKeyOwner(name string) Owner { return Owner(apiKeyOwnerPrefix + name) }

// ParseOwner reads an owner as an officer names it ("checkout",
// "key:<name>" or "legacy"). Errors are *screening.FieldError values
// naming field.
func ParseOwner(field, s string) (Owner, error) {
	o := Owner(s)
	if !o.valid() && o != LegacyOwner {
		return "", &screening.FieldError{Field: field, Problem: `must be "checkout", "key:" followed by an API key's name, or "legacy"`}
	}
	return o, nil
}

func (o Owner) valid() bool {
	if o == CheckoutOwner {
		return true
	}
	name, ok := strings.CutPrefix(string(o), apiKeyOwnerPrefix)
	// No NUL: the screening id hashes "owner NUL order_id".
	return ok && name != "" && len(name) <= maxOwnerName && !strings.ContainsRune(name, 0)
}

// screeningID is the gateway's own id of the order (owner, orderID): a keyed
// hash, so it is deterministic (a retry finds the stored order), unique
// across owners, and cannot be guessed or derived from the order_id
// without screening.hash_key. That last property makes it a capability:
// the storefront learns an intercepted checkout's id from X-Screening-Id,
// and nobody else can name that order.
func screeningID(h *ident.Hasher, owner Owner, orderID string) string {
	// Neither an order id nor a valid owner contains NUL: "owner NUL id"
	// names one pair.
	return screening.ScreeningIDPrefix + h.Hash(ident.KindScreening, string(owner)+"\x00"+orderID)
}

// Access is who addresses an order through the API, and in which namespace
// a bare order_id is read.
//
// A storefront (Officer false) reads and writes the orders of its own
// namespace, by order_id or by screening id, and the intercepted checkouts
// (CheckoutOwner) by screening id only: it learns that id from the
// X-Screening-Id header of the checkout forwarded to it. An order of
// another API key is not found, whatever id is given.
//
// An officer (Officer true) reads every order, by screening id, or by
// order_id together with its Owner (the API's ?owner= parameter): an
// order_id alone names one order per owner, so it is ambiguous and refused.
type Access struct {
	Owner   Owner
	Officer bool
}

// resolve turns an id given in an API path into the order's screening id,
// or an error: ErrNotFound for an id that cannot name an order, a
// *FieldError when an officer gives an order_id without its owner.
func (s *Service) resolve(a Access, id string) (string, error) {
	if screening.IsScreeningID(id) {
		return id, nil
	}
	if !screening.ValidOrderID(id) {
		return "", fmt.Errorf("order %q: %w", id, screening.ErrNotFound)
	}
	switch {
	case a.Owner == "":
		return "", &screening.FieldError{Field: "owner", Problem: "an order_id names one order per owner: give the order's screening_id, or its owner (?owner=checkout or ?owner=key:<API key name>)"}
	case a.Owner == LegacyOwner:
		if !a.Officer {
			return "", fmt.Errorf("order %q: %w", id, screening.ErrNotFound)
		}
		// Stored under the order_id itself, as before owners existed.
		return id, nil
	}
	return screeningID(s.hasher, a.Owner, id), nil
}

// permits says whether a may see or act on the stored order r. An order a
// may not see is reported as not found, so a storefront cannot even learn
// that another key's order exists.
func (a Access) permits(r Record) bool {
	switch {
	case a.Officer:
		return true
	case r.Owner == "":
		return false // cannot be attributed: fail closed
	case r.Owner == a.Owner:
		return true
	default:
		return r.Owner == CheckoutOwner
	}
}
