package minfraud

import (
	"encoding/json"
	"net/netip"
	"time"
)

// Request is a minFraud transaction, the body of a Score, Insights or
// Factors call. Field names and JSON follow MaxMind's request schema; every
// field is optional and an unset one is left out of the JSON. Booleans are
// pointers because false is an answer minFraud uses ("was_authorized":
// false), distinct from "not known".
type Request struct {
	Device       *Device        `json:"device,omitempty"`
	Event        *Event         `json:"event,omitempty"`
	Account      *Account       `json:"account,omitempty"`
	Email        *Email         `json:"email,omitempty"`
	Billing      *Address       `json:"billing,omitempty"`
	Shipping     *Shipping      `json:"shipping,omitempty"`
	Payment      *Payment       `json:"payment,omitempty"`
	CreditCard   *CreditCard    `json:"credit_card,omitempty"`
	Order        *Order         `json:"order,omitempty"`
	ShoppingCart []CartItem     `json:"shopping_cart,omitempty"`
	CustomInputs map[string]any `json:"custom_inputs,omitempty"`
}

// Device describes the customer's connection. IPAddress is the one input
// minFraud always wants.
type Device struct {
	IPAddress      netip.Addr `json:"ip_address,omitzero"`
	UserAgent      string     `json:"user_agent,omitempty"`
	AcceptLanguage string     `json:"accept_language,omitempty"`
	// SessionAge is the age of the browsing session in seconds.
	SessionAge    float64 `json:"session_age,omitempty"`
	SessionID     string  `json:"session_id,omitempty"`
	TrackingToken string  `json:"tracking_token,omitempty"`
}

// Event describes the transaction itself. TransactionID is our order id:
// it lets MaxMind's console and the Report Transactions API find it again.
type Event struct {
	Party         string    `json:"party,omitempty"` // agent or customer
	TransactionID string    `json:"transaction_id,omitempty"`
	ShopID        string    `json:"shop_id,omitempty"`
	Time          time.Time `json:"time,omitzero"`
	Type          string    `json:"type,omitempty"` // purchase, account_creation, ...
}

// Account identifies the customer's account on the storefront.
type Account struct {
	UserID      string `json:"user_id,omitempty"`
	UsernameMD5 string `json:"username_md5,omitempty"`
}

// Email is the customer's email. Address is either the plain address or the
// MD5 of its normalized form (see [HashEmail] and [HashedEmail]); Domain is
// sent in clear either way so that minFraud can judge it.
type Email struct {
	Address string `json:"address,omitempty"`
	Domain  string `json:"domain,omitempty"`
}

// Address is a billing address (and the common part of a shipping address).
// Country is an ISO 3166-1 alpha-2 code, Region the ISO 3166-2 subdivision
// code without the country prefix.
type Address struct {
	FirstName        string `json:"first_name,omitempty"`
	LastName         string `json:"last_name,omitempty"`
	Company          string `json:"company,omitempty"`
	Address          string `json:"address,omitempty"`
	Address2         string `json:"address_2,omitempty"`
	City             string `json:"city,omitempty"`
	Region           string `json:"region,omitempty"`
	Country          string `json:"country,omitempty"`
	Postal           string `json:"postal,omitempty"`
	PhoneNumber      string `json:"phone_number,omitempty"`
	PhoneCountryCode string `json:"phone_country_code,omitempty"`
}

// Shipping is a shipping address. For a VPS seller there is usually none.
type Shipping struct {
	Address
	DeliverySpeed string `json:"delivery_speed,omitempty"` // same_day, overnight, expedited, standard
}

// Payment describes how the order was paid.
type Payment struct {
	Method        string `json:"method,omitempty"`
	Processor     string `json:"processor,omitempty"`
	WasAuthorized *bool  `json:"was_authorized,omitempty"`
	DeclineCode   string `json:"decline_code,omitempty"`
}

// CreditCard describes the card, never its full number: IssuerIDNumber is
// the first 6 or 8 digits (the BIN) and LastDigits the last 4 (or 2 with an
// 8-digit IIN).
type CreditCard struct {
	IssuerIDNumber        string `json:"issuer_id_number,omitempty"`
	LastDigits            string `json:"last_digits,omitempty"`
	Token                 string `json:"token,omitempty"`
	BankName              string `json:"bank_name,omitempty"`
	BankPhoneCountryCode  string `json:"bank_phone_country_code,omitempty"`
	BankPhoneNumber       string `json:"bank_phone_number,omitempty"`
	Country               string `json:"country,omitempty"`
	AVSResult             string `json:"avs_result,omitempty"`
	CVVResult             string `json:"cvv_result,omitempty"`
	Was3DSecureSuccessful *bool  `json:"was_3d_secure_successful,omitempty"`
}

// Order describes the order's money. Amount is a decimal number written as
// text ("12.00") so that it reaches minFraud exactly as the storefront sent
// it, with no float rounding; encoding fails if it is not a JSON number.
type Order struct {
	Amount         json.Number `json:"amount,omitempty"`
	Currency       string      `json:"currency,omitempty"` // ISO 4217
	DiscountCode   string      `json:"discount_code,omitempty"`
	AffiliateID    string      `json:"affiliate_id,omitempty"`
	SubaffiliateID string      `json:"subaffiliate_id,omitempty"`
	ReferrerURI    string      `json:"referrer_uri,omitempty"`
	IsGift         *bool       `json:"is_gift,omitempty"`
	HasGiftMessage *bool       `json:"has_gift_message,omitempty"`
}

// CartItem is one line of the shopping cart. Price is per unit, a decimal
// number as text like Order.Amount.
type CartItem struct {
	Category string      `json:"category,omitempty"`
	ItemID   string      `json:"item_id,omitempty"`
	Quantity int64       `json:"quantity,omitempty"`
	Price    json.Number `json:"price,omitempty"`
}

// Report tags accepted by the Report Transactions API.
const (
	TagChargeback     = "chargeback"
	TagNotFraud       = "not_fraud"
	TagSpamOrAbuse    = "spam_or_abuse"
	TagSuspectedFraud = "suspected_fraud"
	TagClear          = "clear"
)

// ReportRequest is the body of a Report Transactions call. Tag is required,
// and at least one of IPAddress, MaxMindID, MinFraudID or TransactionID
// must identify the transaction; MinFraudID (the Response.ID of the scoring
// call) and TransactionID are the ones the gateway has.
type ReportRequest struct {
	IPAddress      netip.Addr `json:"ip_address,omitzero"`
	Tag            string     `json:"tag"`
	ChargebackCode string     `json:"chargeback_code,omitempty"`
	MaxMindID      string     `json:"maxmind_id,omitempty"`
	MinFraudID     string     `json:"minfraud_id,omitempty"`
	Notes          string     `json:"notes,omitempty"`
	TransactionID  string     `json:"transaction_id,omitempty"`
}
