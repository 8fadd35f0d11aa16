package screening

import (
	"crypto/rand"
	"errors"
	"strings"

	"github.com/vpsgate/gateway/internal/configerr"
)

// Transforms derive order fields that a storefront's checkout form does
// not carry as the order has them.
type Transforms struct {
	// JoinName sets account.name to billing.first_name and
	// billing.last_name joined by a space, when the route maps no
	// account.name (checkout forms ask for the two names apart; the
	// names themselves go to minFraud's billing.first_name/last_name).
	JoinName bool `yaml:"join_name"`
	// CardNumber is a body field carrying the full card number (WHMCS's
	// ccnumber). Only its first CardBINDigits digits (the BIN) and its
	// last four reach the order, in memory: the number itself is never
	// stored, logged, counted in Redis or sent to minFraud. Spaces and
	// dashes people type are ignored; anything else but 12 to 19 digits
	// is refused (400, naming the field, never the value).
	CardNumber string `yaml:"card_number"`
	// CardBINDigits is 6 (default) or 8.
	CardBINDigits int `yaml:"card_bin_digits"`
	// GenerateOrderID gives a checkout whose form carries no order id
	// (WooCommerce and WHMCS create theirs after the POST) a gateway-made
	// one ("gw_" and 26 random characters). The checkout's screening id,
	// sent to the storefront as X-Screening-Id, is then the handle the
	// shop links to its own order id (POST /api/v1/orders/{screening_id}/link).
	GenerateOrderID bool `yaml:"generate_order_id"`
}

func (t Transforms) validate(fields map[string]string) error {
	var errs []error
	if t.CardNumber != "" {
		if t.CardBINDigits != 6 && t.CardBINDigits != 8 {
			errs = append(errs, configerr.Field("transforms.card_bin_digits", t.CardBINDigits, "must be 6 or 8"))
		}
		for _, f := range []string{"payment.card_bin", "payment.card_last4"} {
			if fields[f] != "" {
				errs = append(errs, configerr.Field("fields."+f, fields[f], "must not be mapped with transforms.card_number, which sets it"))
			}
		}
		if strings.Contains(t.CardNumber, "..") || strings.HasPrefix(t.CardNumber, ".") || strings.HasSuffix(t.CardNumber, ".") {
			errs = append(errs, configerr.Field("transforms.card_number", t.CardNumber, "must name a body field"))
		}
	} else if t.CardBINDigits != 0 && t.CardBINDigits != 6 && t.CardBINDigits != 8 {
		errs = append(errs, configerr.Field("transforms.card_bin_digits", t.CardBINDigits, "must be 6 or 8"))
	}
	if t.JoinName && fields["account.name"] != "" {
		errs = append(errs, configerr.Field("transforms.join_name", true, "account.name is mapped already"))
	}
	return errors.Join(errs...)
}

// apply sets the derived fields of o from the body.
func (t Transforms) apply(o *Order, lookup lookupFunc) error {
	if t.CardNumber != "" {
		v, ok, err := lookup(t.CardNumber)
		if err != nil {
			return fieldErr(t.CardNumber, err.Error())
		}
		if ok && strings.TrimSpace(v) != "" {
			bin, last4, ok := splitCard(v, t.CardBINDigits)
			if !ok {
				return fieldErr(t.CardNumber, "must be a card number of 12 to 19 digits")
			}
			o.Payment.CardBIN, o.Payment.CardLast4 = bin, last4
		}
	}
	if t.JoinName && o.Account.Name == "" {
		o.Account.Name = strings.TrimSpace(o.Billing.FirstName + " " + o.Billing.LastName)
	}
	if t.GenerateOrderID && o.OrderID == "" {
		o.OrderID = GeneratedOrderIDPrefix + strings.ToLower(rand.Text())
	}
	return nil
}

// GeneratedOrderIDPrefix starts an order id the gateway made up for a
// checkout whose form carries none.
const GeneratedOrderIDPrefix = "gw_"

// splitCard returns the BIN (binDigits long) and the last four digits of a
// card number, ignoring the spaces and dashes people type in it.
func splitCard(v string, binDigits int) (bin, last4 string, ok bool) {
	digits := make([]byte, 0, 19)
	for i := range len(v) {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			digits = append(digits, c)
		case c == ' ' || c == '-':
		default:
			return "", "", false
		}
	}
	if len(digits) < 12 || len(digits) > 19 {
		return "", "", false
	}
	if binDigits != 8 || len(digits) < 16 {
		binDigits = 6
	}
	return string(digits[:binDigits]), string(digits[len(digits)-4:]), true
}

// bodyNames are the body fields the route reads: mapped fields and the
// card number. For a route that may read JSON, the top-level member of a
// dotted name counts too: WordPress's REST API reads a parameter missing
// from the JSON body from the query string (WP_REST_Request::
// get_parameter_order), so "billing_address[country]=DE" in the query of
// a Store API checkout is a second reading of billing_address.
func (r InterceptRoute) bodyNames() []string {
	names := sortedValues(r.Fields)
	if r.Transforms.CardNumber != "" {
		names = append(names, r.Transforms.CardNumber)
	}
	if r.Format != FormatForm {
		for _, n := range names {
			if top, _, ok := strings.Cut(n, "."); ok && top != "" {
				names = append(names, top)
			}
		}
	}
	return names
}
