// Package refunds is the refund rules of the seller's terms of service
// (issue 11) as a pure function: from an order's facts, its account's
// standing, the storefront's request and the time, whether a refund is
// within the terms, of which share and amount, to where, and the rule that
// decided in plain words. No Redis: the orders service gathers the facts.
package refunds

import (
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/vpsgate/gateway/internal/kind"
)

// Errors of Decide, each of an internal/kind kind.
var (
	// ErrInvalidInput is a request the storefront must change (400); a
	// *FieldError names the field.
	ErrInvalidInput = kind.New(kind.ErrInvalidInput, "invalid refund request")
	// ErrNoOrderFacts is an order stored before the gateway kept its
	// amount (409): eligibility is decided by hand.
	ErrNoOrderFacts = kind.New(kind.ErrConflict, "the order was stored without the facts a refund needs")
)

// FieldError is a bad value of the request body, named by its field.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Unwrap makes every FieldError match ErrInvalidInput.
func (e *FieldError) Unwrap() error { return ErrInvalidInput }

// InvalidField names the field for the API answer (kind.Field).
func (e *FieldError) InvalidField() string { return e.Field }

// Why is what the customer asks a refund for.
type Why string

// Refund reasons of the request.
const (
	// WhyFailure: a machine or network failure; within Config.Window of
	// payment, all of it.
	WhyFailure Why = "failure"
	// WhyWithdrawn: the product was withdrawn before its term ended; the
	// remaining share of the paid period.
	WhyWithdrawn Why = "withdrawn"
	// WhyOutage: the server was down longer than
	// Config.OutageThreshold; the remaining share of the paid period.
	WhyOutage Why = "outage"
)

// FlagKind is the kind of an abuse flag an officer records on an account.
type FlagKind string

// Abuse flag kinds (POST /api/v1/accounts/{id}/flags). Every one refuses
// refunds.
const (
	FlagTrialAbuse               FlagKind = "trial_abuse"
	FlagAttacks                  FlagKind = "attacks"
	FlagBans                     FlagKind = "bans"
	FlagStaffAbuse               FlagKind = "staff_abuse"
	FlagTermsViolationSuspension FlagKind = "terms_violation_suspension"
)

// FlagKinds lists the kinds, in the order the API documents them.
var FlagKinds = []FlagKind{FlagTrialAbuse, FlagAttacks, FlagBans, FlagStaffAbuse, FlagTermsViolationSuspension}

// ValidFlag says whether k is a flag kind.
func ValidFlag(k FlagKind) bool { return slices.Contains(FlagKinds, k) }

// Order is what the rules need of an order.
type Order struct {
	// Status is the order's lifecycle status (held, cleared, rejected,
	// expired).
	Status string
	// PaidAt is when it was paid; zero: CreatedAt stands in.
	PaidAt    time.Time
	CreatedAt time.Time
	// Amount is the order's canonical decimal amount ("12.50"), Currency
	// its ISO 4217 code.
	Amount     string
	Currency   string
	Categories []string
	// Refunded: a refund event was already recorded on this order.
	Refunded bool
	// ChargedBack: a chargeback event was recorded on this order.
	ChargedBack bool
}

// Flag is an abuse flag on the account.
type Flag struct {
	Kind   FlagKind
	Reason string
}

// Standing is what the rules need of the account.
type Standing struct {
	Restricted bool
	// RestrictedReason says why (a chargeback on order ...).
	RestrictedReason string
	Flags            []Flag
	// Refunds is how many refunds the account received (every order).
	Refunds int
	// Chargebacks is how many chargebacks the account opened.
	Chargebacks int
}

// Request is the body of POST /api/v1/orders/{id}/refund-eligibility.
// Times are RFC 3339; only the fields the reason needs may be given.
type Request struct {
	Reason      Why      `json:"reason"`
	FailureAt   string   `json:"failure_at,omitempty"`
	OutageHours *float64 `json:"outage_hours,omitempty"`
	PeriodStart string   `json:"period_start,omitempty"`
	PeriodEnd   string   `json:"period_end,omitempty"`
}

// Reason is one rule that decided, in screening's style: a stable code
// and a sentence.
type Reason struct {
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

// Answer is the eligibility answer.
type Answer struct {
	Eligible bool `json:"eligible"`
	// Fraction is the refundable share of the order: 1 for a failure,
	// the remaining share of the paid period for withdrawn and outage, 0
	// when not eligible.
	Fraction float64 `json:"fraction"`
	// Amount is Fraction of the order's amount, rounded down to the
	// amount's decimals, in Currency.
	Amount      string    `json:"amount"`
	Currency    string    `json:"currency"`
	Destination string    `json:"destination"`
	PaidAt      time.Time `json:"paid_at"`
	Reasons     []Reason  `json:"reasons"`
}

// Reason codes of an answer.
const (
	CodeFailureInWindow      = "failure_within_window"
	CodeWindowPassed         = "refund_window_passed"
	CodeFailureBeforePayment = "failure_before_payment"
	CodeWithdrawnProrated    = "withdrawn_prorated"
	CodeOutageProrated       = "outage_prorated"
	CodeOutageBelow          = "outage_below_threshold"
	CodePeriodOver           = "period_over"
	CodeSpecialOffer         = "special_offer"
	CodeTermsSuspension      = "terms_violation_suspension"
	CodeAbuseFlag            = "abuse_flag"
	CodeLimitReached         = "refund_limit_reached"
	CodeAlreadyRefunded      = "already_refunded"
	CodeChargeback           = "chargeback"
	CodeRestricted           = "account_restricted"
	CodeHoldExpired          = "hold_expired"
)

// maxOutageHours bounds outage_hours (ten years).
const maxOutageHours = 24 * 366 * 10

// times is a request's parsed times.
type times struct {
	failureAt, start, end time.Time
}

// check validates req for its reason against now: the fields the reason
// needs are there, the others are not, times are RFC 3339 and not in the
// future (period_end may be: it is when the paid period ends), and the
// period is not empty.
func (req Request) check(now time.Time) (times, error) {
	var t times
	need := map[string]bool{}
	switch req.Reason {
	case WhyFailure:
		need["failure_at"] = true
	case WhyWithdrawn:
		need["period_start"], need["period_end"] = true, true
	case WhyOutage:
		need["outage_hours"], need["period_start"], need["period_end"] = true, true, true
	case "":
		return t, &FieldError{Field: "reason", Problem: "required: failure, withdrawn or outage"}
	default:
		return t, &FieldError{Field: "reason", Problem: "must be failure, withdrawn or outage"}
	}
	given := map[string]bool{
		"failure_at": req.FailureAt != "", "outage_hours": req.OutageHours != nil,
		"period_start": req.PeriodStart != "", "period_end": req.PeriodEnd != "",
	}
	for _, f := range []string{"failure_at", "outage_hours", "period_start", "period_end"} {
		switch {
		case need[f] && !given[f]:
			return t, &FieldError{Field: f, Problem: "required for reason " + string(req.Reason)}
		case !need[f] && given[f]:
			return t, &FieldError{Field: f, Problem: "not used by reason " + string(req.Reason)}
		}
	}
	var err error
	parse := func(field, s string, future bool) time.Time {
		if s == "" || err != nil {
			return time.Time{}
		}
		v, perr := time.Parse(time.RFC3339, s)
		switch {
		case perr != nil:
			err = &FieldError{Field: field, Problem: "not an RFC 3339 time like 2026-03-01T12:00:00Z"}
		case !future && v.After(now):
			err = &FieldError{Field: field, Problem: "is in the future"}
		}
		return v.UTC()
	}
	t.failureAt = parse("failure_at", req.FailureAt, false)
	t.start = parse("period_start", req.PeriodStart, false)
	t.end = parse("period_end", req.PeriodEnd, true)
	if err != nil {
		return t, err
	}
	if req.PeriodEnd != "" && !t.end.After(t.start) {
		return t, &FieldError{Field: "period_end", Problem: "must be after period_start"}
	}
	if h := req.OutageHours; h != nil && (math.IsNaN(*h) || *h <= 0 || *h > maxOutageHours) {
		return t, &FieldError{Field: "outage_hours", Problem: fmt.Sprintf("must be more than 0 and at most %d", maxOutageHours)}
	}
	return t, nil
}

// Decide applies the terms to a refund request for order o of an account
// in standing st at now. A bad request is a *FieldError (400); an order
// without an amount is ErrNoOrderFacts. Every rule that refuses is listed;
// an eligible answer lists the rule that allows it.
func Decide(c Config, o Order, st Standing, req Request, now time.Time) (Answer, error) {
	t, err := req.check(now)
	if err != nil {
		return Answer{}, err
	}
	minor, ok := minorUnits(o.Amount)
	if !ok {
		return Answer{}, fmt.Errorf("order amount %q: %w", o.Amount, ErrNoOrderFacts)
	}
	paid := o.PaidAt
	if paid.IsZero() {
		paid = o.CreatedAt
	}
	paid = paid.UTC()
	ans := Answer{Currency: o.Currency, Destination: c.Destination, PaidAt: paid}
	var refuse []Reason
	no := func(code, detail string) { refuse = append(refuse, Reason{Code: code, Detail: detail}) }

	if o.Status == "expired" {
		no(CodeHoldExpired, "the order's hold expired because the customer did not complete verification: it was never activated and is not refunded")
	}
	if o.ChargedBack || st.Chargebacks > 0 {
		no(CodeChargeback, "a payment dispute or chargeback was opened on the account without contacting the seller: no refund")
	}
	if st.Restricted {
		no(CodeRestricted, "the account is restricted ("+st.RestrictedReason+"): no refund until an admin lifts the restriction")
	}
	for _, f := range st.Flags {
		if f.Kind == FlagTermsViolationSuspension {
			no(CodeTermsSuspension, "the account was suspended for a terms violation: no refund")
		}
	}
	for _, f := range st.Flags {
		if f.Kind != FlagTermsViolationSuspension {
			no(CodeAbuseFlag, "an officer recorded "+strings.ReplaceAll(string(f.Kind), "_", " ")+" on the account: no refund")
		}
	}
	for _, cat := range o.Categories {
		if slices.ContainsFunc(c.ExcludedCategories, func(x string) bool { return strings.EqualFold(x, cat) }) {
			no(CodeSpecialOffer, "the order has an item of category "+cat+", a special offer: special offers are not refunded (refunds.excluded_categories)")
			break
		}
	}
	if o.Refunded {
		no(CodeAlreadyRefunded, "this order was already refunded")
	} else if st.Refunds >= c.MaxPerAccount {
		no(CodeLimitReached, fmt.Sprintf("the account already received %d refunds; the terms allow %d (refunds.max_per_account)", st.Refunds, c.MaxPerAccount))
	}

	fraction := 1.0
	num, den := big.NewInt(1), big.NewInt(1)
	var allow Reason
	switch req.Reason {
	case WhyFailure:
		asked := now.Sub(paid)
		switch {
		case t.failureAt.Before(paid):
			no(CodeFailureBeforePayment, "the failure at "+t.failureAt.Format(time.RFC3339)+" happened before the payment at "+paid.Format(time.RFC3339)+": it is not a failure of this order")
		case asked > c.Window:
			no(CodeWindowPassed, "asked "+asked.Truncate(time.Second).String()+" after payment: a refund for a machine or network failure must be asked within "+c.Window.String()+" of payment (refunds.window)")
		default:
			allow = Reason{Code: CodeFailureInWindow, Detail: "a machine or network failure, asked " + asked.Truncate(time.Second).String() + " after payment, within " + c.Window.String() + " (refunds.window): the whole order"}
		}
	case WhyWithdrawn, WhyOutage:
		if req.Reason == WhyOutage {
			down := time.Duration(*req.OutageHours * float64(time.Hour))
			if down <= c.OutageThreshold {
				no(CodeOutageBelow, fmt.Sprintf("the server was down %gh, not longer than %s (refunds.outage_threshold): no refund for the outage", *req.OutageHours, c.OutageThreshold))
			}
		}
		total, left := t.end.Sub(t.start), t.end.Sub(now)
		if left > total {
			left = total // the period has not started: all of it remains
		}
		if left <= 0 {
			no(CodePeriodOver, "the paid period ended at "+t.end.Format(time.RFC3339)+": no service time remains to refund")
			break
		}
		num, den = big.NewInt(int64(left)), big.NewInt(int64(total))
		fraction = math.Round(float64(left)/float64(total)*1e6) / 1e6
		what, code := "the product was withdrawn before its term ended", CodeWithdrawnProrated
		if req.Reason == WhyOutage {
			what, code = fmt.Sprintf("the server was down %gh, longer than %s (refunds.outage_threshold)", *req.OutageHours, c.OutageThreshold), CodeOutageProrated
		}
		allow = Reason{Code: code, Detail: fmt.Sprintf("%s: the remaining %s of the paid period %s to %s is refunded (%.4f of the order)",
			what, left.Truncate(time.Second), t.start.Format(time.RFC3339), t.end.Format(time.RFC3339), fraction)}
	}
	if len(refuse) > 0 {
		ans.Amount = formatMinor(big.NewInt(0), minor)
		ans.Reasons = refuse
		return ans, nil
	}
	units := toMinor(o.Amount)
	units.Mul(units, num)
	units.Quo(units, den) // rounded down: never more than the share
	ans.Eligible, ans.Fraction, ans.Amount = true, fraction, formatMinor(units, minor)
	allow.Detail += "; credited to the " + strings.ReplaceAll(c.Destination, "_", " ") + " (refunds.destination)"
	ans.Reasons = []Reason{allow}
	return ans, nil
}

// minorUnits is how many decimals a canonical amount has, and whether it
// is an amount.
func minorUnits(amount string) (int, bool) {
	i, f, _ := strings.Cut(amount, ".")
	if i == "" || !digits(i) || strings.Contains(amount, ".") && !digits(f) || len(i)+len(f) > 30 {
		return 0, false
	}
	return len(f), true
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// toMinor is a canonical amount in minor units (its decimals, which
// minorUnits counted, dropped).
func toMinor(amount string) *big.Int {
	n, _ := new(big.Int).SetString(strings.Replace(amount, ".", "", 1), 10)
	return n
}

func formatMinor(units *big.Int, minor int) string {
	s := units.String()
	if minor == 0 {
		return s
	}
	if len(s) <= minor {
		s = strings.Repeat("0", minor-len(s)+1) + s
	}
	return s[:len(s)-minor] + "." + s[len(s)-minor:]
}
