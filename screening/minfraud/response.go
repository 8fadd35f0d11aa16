package minfraud

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Response is what screening uses of a Score, Insights or Factors answer.
// Fields minFraud adds later, and those the gateway has no use for (place
// names, coordinates, ...), are ignored when decoding. Score fills only the
// top-level fields, Disposition, Warnings and IPAddress.Risk; Insights adds
// the rest; Factors adds RiskScoreReasons.
//
// Flags that minFraud reports as true/false-or-absent (the email, card,
// address and phone checks) are *bool: nil means minFraud did not say,
// which a rule must not read as false. The IP traits and anonymizer flags
// follow GeoIP2's convention of being present only when true, so they are
// plain bools.
type Response struct {
	// Service is the service that answered: score, insights or factors.
	Service string `json:"-"`

	// ID identifies this call at MaxMind; pass it as ReportRequest.MinFraudID.
	ID string `json:"id"`
	// RiskScore is the likelihood, in percent (0.01 to 99), that the
	// transaction is fraudulent. Always present in a decoded Response.
	RiskScore        float64 `json:"risk_score"`
	FundsRemaining   float64 `json:"funds_remaining"`
	QueriesRemaining int64   `json:"queries_remaining"`

	IPAddress       IPAddress        `json:"ip_address"`
	Email           EmailResult      `json:"email"`
	CreditCard      CreditCardResult `json:"credit_card"`
	Device          DeviceResult     `json:"device"`
	BillingAddress  AddressResult    `json:"billing_address"`
	ShippingAddress AddressResult    `json:"shipping_address"`
	BillingPhone    PhoneResult      `json:"billing_phone"`
	ShippingPhone   PhoneResult      `json:"shipping_phone"`
	Disposition     Disposition      `json:"disposition"`
	Warnings        []Warning        `json:"warnings"`
	// RiskScoreReasons (Factors only) lists the multipliers that changed
	// the risk score significantly, usually only for medium to high risk.
	RiskScoreReasons []RiskScoreReason `json:"risk_score_reasons"`
	// Subscores is Factors' deprecated breakdown, kept undecoded for the
	// audit trail; RiskScoreReasons replaces it.
	Subscores json.RawMessage `json:"subscores,omitempty"`
}

// IPAddress is minFraud's view of the customer's IP address.
type IPAddress struct {
	// Risk is the risk associated with the IP alone, 0.01 to 99.
	Risk              float64    `json:"risk"`
	RiskReasons       []Reason   `json:"risk_reasons"`
	Country           Country    `json:"country"`
	RegisteredCountry Country    `json:"registered_country"`
	Location          Location   `json:"location"`
	Traits            Traits     `json:"traits"`
	Anonymizer        Anonymizer `json:"anonymizer"`
}

// Country is a GeoIP2 country record.
type Country struct {
	ISOCode           string `json:"iso_code"`
	IsInEuropeanUnion bool   `json:"is_in_european_union"`
	Confidence        int    `json:"confidence"`
}

// Location is the part of a GeoIP2 location record screening can use.
type Location struct {
	AccuracyRadius int    `json:"accuracy_radius"`
	TimeZone       string `json:"time_zone"`
	LocalTime      string `json:"local_time"`
}

// Traits are GeoIP2 traits of the IP address.
type Traits struct {
	Network                      string  `json:"network"`
	AutonomousSystemNumber       int64   `json:"autonomous_system_number"`
	AutonomousSystemOrganization string  `json:"autonomous_system_organization"`
	ISP                          string  `json:"isp"`
	Organization                 string  `json:"organization"`
	ConnectionType               string  `json:"connection_type"`
	UserType                     string  `json:"user_type"`
	StaticIPScore                float64 `json:"static_ip_score"`
	UserCount                    int64   `json:"user_count"`
	IsAnonymous                  bool    `json:"is_anonymous"`
	IsAnonymousVPN               bool    `json:"is_anonymous_vpn"`
	IsHostingProvider            bool    `json:"is_hosting_provider"`
	IsPublicProxy                bool    `json:"is_public_proxy"`
	IsResidentialProxy           bool    `json:"is_residential_proxy"`
	IsTorExitNode                bool    `json:"is_tor_exit_node"`
	IsAnycast                    bool    `json:"is_anycast"`
}

// Anonymizer is minFraud's anonymous-network verdict on the IP address
// (Insights and Factors).
type Anonymizer struct {
	Confidence         int    `json:"confidence"`
	IsAnonymous        bool   `json:"is_anonymous"`
	IsAnonymousVPN     bool   `json:"is_anonymous_vpn"`
	IsHostingProvider  bool   `json:"is_hosting_provider"`
	IsPublicProxy      bool   `json:"is_public_proxy"`
	IsResidentialProxy bool   `json:"is_residential_proxy"`
	IsTorExitNode      bool   `json:"is_tor_exit_node"`
	NetworkLastSeen    string `json:"network_last_seen"`
	ProviderName       string `json:"provider_name"`
}

// Reason is a machine code with a human explanation, used by IP risk
// reasons and Factors' risk score reasons.
type Reason struct {
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// RiskScoreReason is one Factors multiplier and why it applied. A
// multiplier above 1 raised the risk score, below 1 lowered it.
type RiskScoreReason struct {
	Multiplier float64  `json:"multiplier"`
	Reasons    []Reason `json:"reasons"`
}

// EmailResult is minFraud's view of the email address.
type EmailResult struct {
	IsDisposable *bool       `json:"is_disposable"`
	IsFree       *bool       `json:"is_free"`
	IsHighRisk   *bool       `json:"is_high_risk"`
	FirstSeen    string      `json:"first_seen"` // YYYY-MM-DD
	Domain       EmailDomain `json:"domain"`
}

// EmailDomain is minFraud's view of the email's domain.
type EmailDomain struct {
	FirstSeen      string  `json:"first_seen"` // YYYY-MM-DD
	Classification string  `json:"classification"`
	Risk           float64 `json:"risk"`
	Volume         float64 `json:"volume"`
}

// CreditCardResult is minFraud's view of the card from its IIN.
type CreditCardResult struct {
	Brand                           string     `json:"brand"`
	Country                         string     `json:"country"`
	Type                            string     `json:"type"`
	IsBusiness                      *bool      `json:"is_business"`
	IsIssuedInBillingAddressCountry *bool      `json:"is_issued_in_billing_address_country"`
	IsPrepaid                       *bool      `json:"is_prepaid"`
	IsVirtual                       *bool      `json:"is_virtual"`
	Issuer                          CardIssuer `json:"issuer"`
}

// CardIssuer is the bank that issued the card, as minFraud knows it.
type CardIssuer struct {
	Name string `json:"name"`
}

// DeviceResult identifies the device when MaxMind's device tracking add-on
// is used on the storefront.
type DeviceResult struct {
	ID         string  `json:"id"`
	Confidence float64 `json:"confidence"`
	LastSeen   string  `json:"last_seen"`
}

// AddressResult is minFraud's view of the billing or shipping address.
// Distances are in kilometres; nil when not computed.
type AddressResult struct {
	IsInIPCountry            *bool    `json:"is_in_ip_country"`
	IsPostalInCity           *bool    `json:"is_postal_in_city"`
	IsHighRisk               *bool    `json:"is_high_risk"`
	DistanceToIPLocation     *float64 `json:"distance_to_ip_location"`
	DistanceToBillingAddress *float64 `json:"distance_to_billing_address"`
}

// PhoneResult is minFraud's view of a phone number.
type PhoneResult struct {
	Country         string `json:"country"`
	IsVoIP          *bool  `json:"is_voip"`
	MatchesPostal   *bool  `json:"matches_postal"`
	NetworkOperator string `json:"network_operator"`
	NumberType      string `json:"number_type"`
}

// Disposition is the outcome of the custom rules set up in the MaxMind
// account, if any.
type Disposition struct {
	Action    string `json:"action"` // accept, reject, manual_review, test
	Reason    string `json:"reason"` // default, custom_rule
	RuleLabel string `json:"rule_label"`
}

// Warning is minFraud's note about an input it could not use. InputPointer
// is a JSON pointer into the request; the Warning text may quote the input
// value and must not be logged.
type Warning struct {
	Code         string `json:"code"`
	Warning      string `json:"warning"`
	InputPointer string `json:"input_pointer"`
}

// errMalformed says a 200 answer was not a usable minFraud response.
var errMalformed = errors.New("malformed minfraud response")

// decodeResponse parses a 200 answer. It is the parser for bytes that come
// from the network, so it must fail cleanly on anything: it requires a JSON
// object with a risk_score in [0, 100], because a response without a score
// would otherwise read as "no risk" and let an order through.
func decodeResponse(body []byte) (*Response, error) {
	// The outer RiskScore shadows the embedded one (encoding/json picks the
	// shallower field), which tells a missing score from a zero one. The
	// Response is embedded by pointer so that it is decoded in place, the
	// one the caller gets, not decoded into a wrapper and copied out.
	r := new(Response)
	w := struct {
		*Response
		RiskScore *float64 `json:"risk_score"`
	}{Response: r}
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformed, err)
	}
	if w.RiskScore == nil {
		return nil, fmt.Errorf("%w: no risk_score", errMalformed)
	}
	if s := *w.RiskScore; s < 0 || s > 100 {
		return nil, fmt.Errorf("%w: risk_score %v out of range", errMalformed, s)
	}
	r.RiskScore = *w.RiskScore
	return r, nil
}
