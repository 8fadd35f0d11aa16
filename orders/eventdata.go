package orders

import (
	"strings"
	"time"

	"github.com/vpsgate/gateway/screening"
)

// EventData is the data of an order event (the webhook body's "data"):
// ids, status, decision and requirement states, and what an integrator
// needs to act on them. Never personal data, documents, card data, the
// customer's links (they carry single-use tokens) or the reasons' free
// text: only their codes.
type EventData struct {
	ScreeningID string `json:"screening_id"`
	OrderID     string `json:"order_id"`
	// Storefront is the API key's name of an order sent with one, or of
	// the storefront that linked an intercepted checkout; empty for a
	// checkout not linked yet.
	Storefront string `json:"storefront,omitempty"`
	// ShopOrderID is the shop's own id of a linked checkout (OrderID is
	// then the gateway-made one the checkout was stored under).
	ShopOrderID  string            `json:"shop_order_id,omitempty"`
	AccountID    string            `json:"account_id,omitempty"`
	Status       Status            `json:"status"`
	Decision     screening.Outcome `json:"decision"`
	Score        int               `json:"score"`
	Requirements Requirements      `json:"requirements"`
	ReasonCodes  []string          `json:"reason_codes"`
	// Version increases with every change of the order: a receiver that
	// gets two events of one order out of order keeps the higher.
	Version   int64  `json:"version"`
	UpdatedAt string `json:"updated_at"`
}

// eventData is r's event data.
func eventData(r Record) EventData {
	d := EventData{
		ScreeningID: r.ScreeningID, OrderID: r.OrderID, AccountID: r.AccountID, Status: r.Status,
		Decision: r.Decision, Score: r.Score, Requirements: r.Requirements, ReasonCodes: []string{},
		Version: r.Version, UpdatedAt: r.UpdatedAt.UTC().Format(time.RFC3339Nano),
	}
	if name, ok := strings.CutPrefix(string(r.Owner), apiKeyOwnerPrefix); ok {
		d.Storefront = name
	}
	if l := r.ShopLink; l != nil {
		d.Storefront, d.ShopOrderID = l.Storefront, l.OrderID
	}
	for _, rs := range r.Reasons {
		d.ReasonCodes = append(d.ReasonCodes, rs.Code)
	}
	return d
}
