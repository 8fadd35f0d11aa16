package screening

import (
	"encoding/json"
	"net/netip"
	"strings"
	"time"

	"github.com/vpsgate/gateway/screening/minfraud"
)

// minFraudRequest maps an order to a minFraud transaction. Inputs minFraud
// would refuse (HTTP 400 turns into a forced review) are left out or mapped
// to its vocabulary: a processor MaxMind does not list
// (minfraud_processors.go, generated from its Node.js client) becomes "other", an unknown
// payment method or a region that is not an ISO 3166-2 code is not sent.
// The email goes as the MD5 of its normalized form plus the domain, not in
// clear.
func minFraudRequest(o *Order, ip netip.Addr, now time.Time) minfraud.Request {
	req := minfraud.Request{
		Device: &minfraud.Device{
			IPAddress:      ip,
			UserAgent:      o.UserAgent,
			AcceptLanguage: o.AcceptLanguage,
		},
		Event: &minfraud.Event{
			TransactionID: o.countingID(),
			Time:          now.UTC(),
			Type:          "purchase",
		},
		Order: &minfraud.Order{
			Amount:   json.Number(o.Amount),
			Currency: o.Currency,
		},
	}
	if o.Account.ID != "" {
		req.Account = &minfraud.Account{UserID: o.Account.ID}
	}
	if o.Account.Email != "" {
		req.Email = minfraud.HashedEmail(o.Account.Email)
	}
	first, last := o.Billing.FirstName, o.Billing.LastName
	if first == "" && last == "" {
		first, last = splitName(o.Account.Name)
	}
	b := minfraud.Address{
		FirstName:   first,
		LastName:    last,
		Address:     o.Billing.Address,
		City:        o.Billing.City,
		Country:     o.Billing.Country,
		Postal:      o.Billing.Postal,
		PhoneNumber: o.Account.Phone,
	}
	if isSubdivisionCode(o.Billing.Region) {
		b.Region = strings.ToUpper(o.Billing.Region)
	}
	if b != (minfraud.Address{}) {
		req.Billing = &b
	}
	if o.Payment.Processor != "" || o.Payment.Method != "" {
		p := &minfraud.Payment{}
		if o.Payment.Processor != "" {
			p.Processor = minFraudProcessor(o.Payment.Processor)
		}
		if m := strings.ToLower(o.Payment.Method); minFraudMethods[m] {
			p.Method = m
		}
		if *p != (minfraud.Payment{}) {
			req.Payment = p
		}
	}
	if o.Payment.CardBIN != "" || o.Payment.CardLast4 != "" {
		req.CreditCard = &minfraud.CreditCard{IssuerIDNumber: cardIIN(o.Payment.CardBIN), LastDigits: o.Payment.CardLast4}
	}
	for _, it := range o.Items {
		req.ShoppingCart = append(req.ShoppingCart, minfraud.CartItem{
			Category: it.Category,
			ItemID:   it.SKU,
			Quantity: int64(it.Quantity),
			Price:    json.Number(it.Price),
		})
	}
	return req
}

// isSubdivisionCode: the part of an ISO 3166-2 code after the country, 1
// to 4 letters or digits ("CA", "75", "ENG").
func isSubdivisionCode(s string) bool {
	if len(s) < 1 || len(s) > 4 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func minFraudProcessor(p string) string {
	p = strings.ToLower(p)
	switch p {
	case "authorize_net", "authorize.net":
		return "authorizenet"
	case "checkout", "checkout.com":
		return "checkout_com"
	case "ppcp-gateway", "ppec_paypal", "paypalcheckout", "paypal_express":
		// WooCommerce PayPal Payments and PayPal Checkout's gateway ids,
		// WHMCS's PayPal Checkout module.
		return "paypal"
	}
	p = strings.ReplaceAll(p, "-", "_")
	if minFraudProcessors[p] {
		return p
	}
	return "other"
}

//go:generate go run gen_processors.go -from ${GATEWAY_TEST_MINFRAUD_NODE}/node_modules/@maxmind/minfraud-api-node

// minFraudMethods are the values of minFraud's payment.method.
var minFraudMethods = map[string]bool{
	"bank_debit": true, "bank_redirect": true, "bank_transfer": true,
	"buy_now_pay_later": true, "card": true, "crypto": true, "digital_wallet": true,
	"gift_card": true, "real_time_payment": true, "rewards": true,
}

// splitName splits a full name given in one field (a form's "name") into
// minFraud's billing first and last name at its last space: "Ann Marie
// Lee" is "Ann Marie" and "Lee"; a single word is a last name. Checkout
// forms that ask for the two apart map them to billing.first_name and
// billing.last_name instead.
func splitName(name string) (first, last string) {
	name = strings.TrimSpace(name)
	if i := strings.LastIndexByte(name, ' '); i > 0 {
		return strings.TrimSpace(name[:i]), name[i+1:]
	}
	return "", name
}
