package screening

// Signals is everything the rules see about one order. The expr tags are the
// names used in configs/rules.yaml. Absent facts keep their zero value: an
// unknown country is "", a database that is not configured leaves its flags
// false, an unknown velocity counter reads 0.
type Signals struct {
	// IP is the customer's address in standard text form.
	IP string `expr:"ip"`
	// IPLocated is false when the IP could not be looked up (the GeoIP
	// reader failed); IPCountry is then "" for that reason, not because
	// the address is unknown to the database.
	IPLocated           bool   `expr:"ip_located"`
	IPCountry           string `expr:"ip_country"`
	IPRegisteredCountry string `expr:"ip_registered_country"`
	// IPCountryBlocked: the geo policy blocks the IP's country, the field
	// geoblock's middleware judges too. The public listener already
	// answers 451 to such clients; an order submitted by API from there
	// reaches the rules.
	IPCountryBlocked bool   `expr:"ip_country_blocked"`
	ASN              uint32 `expr:"asn"`
	ASNOrg           string `expr:"asn_org"`
	// Anonymous-IP flags, set only when geoip.anonymous_ip_db is set.
	IPAnonymous        bool `expr:"ip_anonymous"`
	IPVPN              bool `expr:"ip_vpn"`
	IPHosting          bool `expr:"ip_hosting"`
	IPTor              bool `expr:"ip_tor"`
	IPPublicProxy      bool `expr:"ip_public_proxy"`
	IPResidentialProxy bool `expr:"ip_residential_proxy"`

	BillingCountry        string `expr:"billing_country"`
	BillingCountryBlocked bool   `expr:"billing_country_blocked"`
	// CountryMismatch: both countries are known and differ.
	CountryMismatch bool `expr:"country_mismatch"`

	EmailDomain     string `expr:"email_domain"`
	EmailSyntaxOK   bool   `expr:"email_syntax_ok"`
	EmailDisposable bool   `expr:"email_disposable"`
	EmailFree       bool   `expr:"email_free"`

	Blocklisted bool `expr:"blocklisted"`
	// BlocklistHits lists the kinds that matched (ip, cidr, email,
	// email_domain, account, card), without duplicates.
	BlocklistHits []string `expr:"blocklist_hits"`

	// Velocity holds the counters after this order was counted, named
	// "<dimension>_<window>" ("ip_1h", "email_24h",
	// "accounts_per_ip_24h", "chargeback_account_7d").
	Velocity map[string]int64 `expr:"velocity"`
	// FirstOrder: no earlier order from this account (or, without an
	// account id, this email) within the longest velocity window.
	FirstOrder bool `expr:"first_order"`

	// MinFraudEnabled: minFraud is configured. MinFraudAvailable: it
	// answered this time. Enabled but not available forces review.
	MinFraudEnabled   bool    `expr:"minfraud_enabled"`
	MinFraudAvailable bool    `expr:"minfraud_available"`
	MinFraudRiskScore float64 `expr:"minfraud_risk_score"`
	MinFraudIPRisk    float64 `expr:"minfraud_ip_risk"`
	// MinFraudDisposition is the action of a custom rule set up in
	// MaxMind's account ("accept", "manual_review", "reject") or "".
	MinFraudDisposition string `expr:"minfraud_disposition"`

	// Amount is for comparisons in rules only; money is kept as text.
	Amount         float64  `expr:"amount"`
	Currency       string   `expr:"currency"`
	ItemCategories []string `expr:"item_categories"`
	SKUs           []string `expr:"skus"`
	ItemCount      int      `expr:"item_count"`
	HasCard        bool     `expr:"has_card"`
	HasAccountID   bool     `expr:"has_account_id"`

	// AccountRefunds is how many refunds the account received before
	// this order (the orders service's account standing; 0 without an
	// account id). AccountRestricted: the account is restricted (after a
	// chargeback); the orders service rejects such an order whatever the
	// rules say (reason account_restricted).
	AccountRefunds    int  `expr:"account_refunds"`
	AccountRestricted bool `expr:"account_restricted"`
}
