package minfraud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	testAccount = "123456"
	testKey     = "1234567890ab-test-key"
	// base64("123456:1234567890ab-test-key"), written out so that the test
	// checks the header byte for byte rather than re-deriving it.
	wantAuth = "Basic MTIzNDU2OjEyMzQ1Njc4OTBhYi10ZXN0LWtleQ=="

	ctScore    = "application/vnd.maxmind.com-minfraud-score+json; charset=UTF-8; version=2.0"
	ctInsights = "application/vnd.maxmind.com-minfraud-insights+json; charset=UTF-8; version=2.0"
	ctFactors  = "application/vnd.maxmind.com-minfraud-factors+json; charset=UTF-8; version=2.0"
	ctError    = "application/vnd.maxmind.com-error+json; charset=UTF-8; version=2.0"
)

// captured is one request as the local minFraud server saw it.
type captured struct {
	Method, Path, Auth, ContentType, Accept string
	Body                                    []byte
}

// startServer runs a real HTTP server on loopback that records every
// request and answers with reply. The records arrive on the returned
// channel.
func startServer(t *testing.T, reply http.HandlerFunc) (string, <-chan captured) {
	t.Helper()
	reqs := make(chan captured, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("server reading request body: %v", err)
		}
		reqs <- captured{
			Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"),
			ContentType: r.Header.Get("Content-Type"), Accept: r.Header.Get("Accept"), Body: body,
		}
		reply(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, reqs
}

// replay answers with a fixed status, content type and body.
func replay(status int, contentType string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
}

type testClient struct {
	*Client
	logs *bytes.Buffer
	reg  *prometheus.Registry
}

func newTestClient(t *testing.T, endpoint, service string, timeout time.Duration) testClient {
	t.Helper()
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	c, err := New(Config{
		AccountID: testAccount, LicenseKey: testKey, Endpoint: endpoint,
		Service: service, Timeout: timeout,
	}, nil, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), reg)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	t.Cleanup(func() {
		if strings.Contains(logs.String(), testKey) {
			t.Errorf("logs contain the license key:\n%s", logs.String())
		}
	})
	return testClient{Client: c, logs: &logs, reg: reg}
}

// count reads gateway_minfraud_requests_total{service,outcome} from the
// registry, as a scrape would.
func (c testClient) count(service, outcome string) float64 {
	return c.metric("gateway_minfraud_requests_total", map[string]string{"service": service, "outcome": outcome})
}

// metric returns the counter value, or for a histogram its sample count, of
// the series of family name with exactly the labels want.
func (c testClient) metric(name string, want map[string]string) float64 {
	families, err := c.reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if !cmp.Equal(got, want) {
				continue
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nodeFixture extracts response.<variant> from MaxMind's wrapped Node
// fixture, which bundles several answers in one file.
func nodeFixture(t *testing.T, variant string) []byte {
	t.Helper()
	var wrapped struct {
		Response map[string]json.RawMessage `json:"response"`
	}
	if err := json.Unmarshal(fixture(t, "node-score.json"), &wrapped); err != nil {
		t.Fatal(err)
	}
	b, ok := wrapped.Response[variant]
	if !ok {
		t.Fatalf("node-score.json has no response.%s", variant)
	}
	return b
}

// factorsFixture synthesizes a Factors answer, since MaxMind's clients ship
// none in shared/testdata: per MaxMind's response documentation a Factors
// answer is an Insights answer plus a top-level risk_score_reasons array
// (and the deprecated subscores object). The reasons below are the ones of
// the Factors example in MaxMind's API documentation.
func factorsFixture(t *testing.T) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fixture(t, "java-insights-response.json"), &m); err != nil {
		t.Fatal(err)
	}
	m["risk_score_reasons"] = []any{
		map[string]any{"multiplier": 45, "reasons": []any{map[string]any{
			"code": "ANONYMOUS_IP", "reason": "The IP address belongs to an anonymous network. See /ip_address/traits for more details.",
		}}},
		map[string]any{"multiplier": 1.8, "reasons": []any{map[string]any{
			"code": "TIME_OF_DAY", "reason": "The local time of day of the request raised the overall risk score",
		}}},
		map[string]any{"multiplier": 0.6, "reasons": []any{map[string]any{
			"code": "PHONE_ACTIVITY", "reason": "minFraud network activity of the phone number lowered the overall risk score",
		}}},
	}
	m["subscores"] = map[string]any{"avs_result": 0.01, "email_address": 0.02}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func scoreWarnings() []Warning {
	return []Warning{
		{Code: "INPUT_INVALID", InputPointer: "/account/user_id", Warning: "Encountered value at /account/user_id that does meet the required constraints"},
		{Code: "INPUT_INVALID", InputPointer: "/account/username_md5", Warning: "Encountered value at /account/username_md5 that does meet the required constraints"},
	}
}

// wantJavaInsights is java-insights-response.json as the gateway reads it.
func wantJavaInsights() *Response {
	return &Response{
		Service:          "insights",
		ID:               "27d26476-e2bc-11e4-92b8-962e705b4af5",
		RiskScore:        0.01,
		FundsRemaining:   10,
		QueriesRemaining: 1000,
		IPAddress: IPAddress{
			Risk: 0.01,
			RiskReasons: []Reason{
				{Code: "ANONYMOUS_IP", Reason: "The IP address belongs to an anonymous network. See /ip_address/traits for more details."},
				{Code: "MINFRAUD_NETWORK_ACTIVITY", Reason: "Suspicious activity has been seen on this IP address across minFraud customers."},
			},
			Country:           Country{ISOCode: "GB", IsInEuropeanUnion: true, Confidence: 99},
			RegisteredCountry: Country{ISOCode: "US"},
			Location:          Location{AccuracyRadius: 96, TimeZone: "Europe/London", LocalTime: "2012-04-13T00:20:50+01:00"},
			Traits: Traits{
				Network: "81.2.69.0/24", ISP: "Andrews & Arnold Ltd", Organization: "STONEHOUSE office network",
				ConnectionType: "Cable/DSL", UserType: "government",
				IsAnonymous: true, IsAnonymousVPN: true, IsHostingProvider: true, IsPublicProxy: true, IsTorExitNode: true,
			},
			Anonymizer: Anonymizer{
				Confidence: 99, IsAnonymous: true, IsAnonymousVPN: true, IsHostingProvider: true, IsPublicProxy: true,
				IsResidentialProxy: true, IsTorExitNode: true, NetworkLastSeen: "2025-01-15", ProviderName: "TestVPN",
			},
		},
		Email: EmailResult{
			IsDisposable: new(true), IsFree: new(true), IsHighRisk: new(true), FirstSeen: "2017-01-02",
			Domain: EmailDomain{FirstSeen: "2014-02-23", Classification: "education", Risk: 15.5, Volume: 630000},
		},
		CreditCard: CreditCardResult{
			Brand: "Visa", Country: "US", Type: "credit", IsBusiness: new(true), IsIssuedInBillingAddressCountry: new(true),
			IsPrepaid: new(true), IsVirtual: new(true), Issuer: CardIssuer{Name: "Bank of No Hope"},
		},
		Device:          DeviceResult{ID: "7835b099-d385-4e5b-969e-7df26181d73b", Confidence: 99, LastSeen: "2016-06-08T14:16:38Z"},
		BillingAddress:  AddressResult{IsInIPCountry: new(false), IsPostalInCity: new(false), DistanceToIPLocation: new(5465.0)},
		ShippingAddress: AddressResult{IsInIPCountry: new(false), IsPostalInCity: new(false), IsHighRisk: new(false), DistanceToIPLocation: new(7456.0), DistanceToBillingAddress: new(2227.0)},
		BillingPhone:    PhoneResult{Country: "US", IsVoIP: new(false), MatchesPostal: new(true), NetworkOperator: "Verizon/1", NumberType: "fixed"},
		ShippingPhone:   PhoneResult{Country: "CA", IsVoIP: new(true), MatchesPostal: new(false), NetworkOperator: "Telus Mobility-SVR/2", NumberType: "mobile"},
		Disposition:     Disposition{Action: "reject", Reason: "custom_rule", RuleLabel: "the label"},
		Warnings:        scoreWarnings(),
	}
}

func TestScoreReplaysMaxMindFixtures(t *testing.T) {
	t.Parallel()
	nodeScore := func(d *Disposition, w []Warning) *Response {
		r := &Response{
			Service: "score", ID: "5bc5d6c2-b2c8-40af-87f4-6d61af86b6ae", RiskScore: 0.01,
			FundsRemaining: 25, QueriesRemaining: 5000, IPAddress: IPAddress{Risk: 0.01}, Warnings: w,
		}
		if d != nil {
			r.Disposition = *d
		}
		return r
	}
	nodeWarnings := []Warning{{
		Code: "INPUT_INVALID", InputPointer: "/shipping/city",
		Warning: "Encountered value at /shipping/city that does not meet the required constraints",
	}}
	factors := wantJavaInsights()
	factors.Service = "factors"
	factors.RiskScoreReasons = []RiskScoreReason{
		{Multiplier: 45, Reasons: []Reason{{Code: "ANONYMOUS_IP", Reason: "The IP address belongs to an anonymous network. See /ip_address/traits for more details."}}},
		{Multiplier: 1.8, Reasons: []Reason{{Code: "TIME_OF_DAY", Reason: "The local time of day of the request raised the overall risk score"}}},
		{Multiplier: 0.6, Reasons: []Reason{{Code: "PHONE_ACTIVITY", Reason: "minFraud network activity of the phone number lowered the overall risk score"}}},
	}
	factors.Subscores = json.RawMessage(`{"avs_result":0.01,"email_address":0.02}`)

	tests := []struct {
		name        string
		service     string
		contentType string
		body        func(t *testing.T) []byte
		want        *Response
		// ignore drops fields a test does not pin (the Python Insights
		// fixture is checked only for the signals screening reads).
		partial bool
	}{
		{
			name: "java score", service: "score", contentType: ctScore,
			body: func(t *testing.T) []byte { return fixture(t, "java-score-response.json") },
			want: &Response{
				Service: "score", ID: "27d26476-e2bc-11e4-92b8-962e705b4af5", RiskScore: 0.01, FundsRemaining: 10,
				QueriesRemaining: 1000, IPAddress: IPAddress{Risk: 99},
				Disposition: Disposition{Action: "reject", Reason: "custom_rule", RuleLabel: "the label"},
				Warnings:    scoreWarnings(),
			},
		},
		{
			name: "python score", service: "score", contentType: ctScore,
			body: func(t *testing.T) []byte { return fixture(t, "python-score-response.json") },
			want: &Response{
				Service: "score", ID: "27d26476-e2bc-11e4-92b8-962e705b4af5", RiskScore: 0.01, FundsRemaining: 10,
				QueriesRemaining: 1000, IPAddress: IPAddress{Risk: 99},
				Disposition: Disposition{Action: "reject", Reason: "custom_rule"},
				Warnings:    scoreWarnings(),
			},
		},
		{
			name: "node score full", service: "score", contentType: ctScore,
			body: func(t *testing.T) []byte { return nodeFixture(t, "full") },
			want: nodeScore(&Disposition{Action: "accept", Reason: "default", RuleLabel: "the label"}, nodeWarnings),
		},
		{
			name: "node score no warnings", service: "score", contentType: ctScore,
			body: func(t *testing.T) []byte { return nodeFixture(t, "noWarnings") },
			want: nodeScore(&Disposition{Action: "accept", Reason: "default", RuleLabel: "the label"}, nil),
		},
		{
			name: "node score no disposition", service: "score", contentType: ctScore,
			body: func(t *testing.T) []byte { return nodeFixture(t, "noDisposition") },
			want: nodeScore(nil, nodeWarnings),
		},
		{
			name: "node score no rule label", service: "score", contentType: ctScore,
			body: func(t *testing.T) []byte { return nodeFixture(t, "noDispositionRuleLabel") },
			want: nodeScore(&Disposition{Action: "accept", Reason: "default"}, nodeWarnings),
		},
		{
			name: "java insights", service: "insights", contentType: ctInsights,
			body: func(t *testing.T) []byte { return fixture(t, "java-insights-response.json") },
			want: wantJavaInsights(),
		},
		{
			name: "python insights", service: "insights", contentType: ctInsights,
			body:    func(t *testing.T) []byte { return fixture(t, "python-insights-response.json") },
			partial: true,
			want: &Response{
				Service: "insights", ID: "27d26476-e2bc-11e4-92b8-962e705b4af5", RiskScore: 0.01,
				IPAddress: IPAddress{
					Risk:              0.01,
					Country:           Country{ISOCode: "GB", IsInEuropeanUnion: true, Confidence: 99},
					RegisteredCountry: Country{ISOCode: "US"},
					Traits: Traits{
						IsAnonymous: true, IsAnonymousVPN: true, IsHostingProvider: true, IsPublicProxy: true,
						IsResidentialProxy: true, IsTorExitNode: true,
					},
				},
				Email:          EmailResult{IsDisposable: new(true), IsFree: new(true), FirstSeen: "2017-01-02"},
				CreditCard:     CreditCardResult{IsPrepaid: new(true), Country: "US"},
				BillingAddress: AddressResult{IsInIPCountry: new(false), DistanceToIPLocation: new(5465.0)},
				Disposition:    Disposition{Action: "reject", Reason: "custom_rule"},
			},
		},
		{
			name: "factors (synthesized)", service: "factors", contentType: ctFactors,
			body: factorsFixture,
			want: factors,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, reqs := startServer(t, replay(http.StatusOK, tt.contentType, tt.body(t)))
			c := newTestClient(t, url, tt.service, 5*time.Second)

			got, err := c.Score(t.Context(), Request{
				Device: &Device{IPAddress: netip.MustParseAddr("152.216.7.110")},
				Event:  &Event{TransactionID: "INV-1001"},
			})
			if err != nil {
				t.Fatalf("Score() = %v", err)
			}
			r := <-reqs
			wantReq := captured{
				Method: "POST", Path: "/minfraud/v2.0/" + tt.service, Auth: wantAuth,
				ContentType: "application/json", Accept: "application/json",
				Body: []byte(`{"device":{"ip_address":"152.216.7.110"},"event":{"transaction_id":"INV-1001"}}`),
			}
			if diff := cmp.Diff(wantReq, r); diff != "" {
				t.Errorf("request seen by minFraud mismatch (-want +got):\n%s", diff)
			}
			if tt.partial {
				got = &Response{
					Service: got.Service, ID: got.ID, RiskScore: got.RiskScore,
					IPAddress: IPAddress{
						Risk: got.IPAddress.Risk, Country: got.IPAddress.Country,
						RegisteredCountry: got.IPAddress.RegisteredCountry,
						Traits: Traits{
							IsAnonymous: got.IPAddress.Traits.IsAnonymous, IsAnonymousVPN: got.IPAddress.Traits.IsAnonymousVPN,
							IsHostingProvider: got.IPAddress.Traits.IsHostingProvider, IsPublicProxy: got.IPAddress.Traits.IsPublicProxy,
							IsResidentialProxy: got.IPAddress.Traits.IsResidentialProxy, IsTorExitNode: got.IPAddress.Traits.IsTorExitNode,
						},
					},
					Email:          EmailResult{IsDisposable: got.Email.IsDisposable, IsFree: got.Email.IsFree, FirstSeen: got.Email.FirstSeen},
					CreditCard:     CreditCardResult{IsPrepaid: got.CreditCard.IsPrepaid, Country: got.CreditCard.Country},
					BillingAddress: AddressResult{IsInIPCountry: got.BillingAddress.IsInIPCountry, DistanceToIPLocation: got.BillingAddress.DistanceToIPLocation},
					Disposition:    got.Disposition,
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Score() mismatch (-want +got):\n%s", diff)
			}
			if n := c.count(tt.service, "ok"); n != 1 {
				t.Errorf("requests_total{service=%q,outcome=ok} = %v, want 1", tt.service, n)
			}
			if n := c.metric("gateway_minfraud_request_duration_seconds", map[string]string{"service": tt.service}); n != 1 {
				t.Errorf("request_duration_seconds{service=%q} count = %v, want 1", tt.service, n)
			}
		})
	}
}

// TestScoreIgnoresUnknownFields pins that fields minFraud adds later, at
// any depth and of any type, do not break decoding.
func TestScoreIgnoresUnknownFields(t *testing.T) {
	t.Parallel()
	var m map[string]any
	if err := json.Unmarshal(fixture(t, "java-insights-response.json"), &m); err != nil {
		t.Fatal(err)
	}
	m["brand_new_top_level"] = map[string]any{"nested": []any{1, "two", nil, true}}
	m["ip_address"].(map[string]any)["quantum_risk"] = 12.5
	m["ip_address"].(map[string]any)["traits"].(map[string]any)["is_on_mars"] = true
	m["email"].(map[string]any)["domain"].(map[string]any)["dns"] = map[string]any{"mx": []any{"a", "b"}}
	m["warnings"].([]any)[0].(map[string]any)["severity"] = "low"
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	url, _ := startServer(t, replay(http.StatusOK, ctInsights, body))
	c := newTestClient(t, url, "insights", 5*time.Second)
	got, err := c.Score(t.Context(), Request{})
	if err != nil {
		t.Fatalf("Score() = %v", err)
	}
	if diff := cmp.Diff(wantJavaInsights(), got); diff != "" {
		t.Errorf("Score() with unknown fields mismatch (-want +got):\n%s", diff)
	}
}

// javaFullRequest is MaxMind's java full-request.json written with our
// types.
func javaFullRequest() Request {
	return Request{
		Event: &Event{
			Party: "customer", TransactionID: "txn3134133", ShopID: "s2123",
			Time: time.Date(2012, 4, 12, 23, 20, 50, 520_000_000, time.UTC), Type: "purchase",
		},
		Account: &Account{UserID: "3132", UsernameMD5: "570a90bfbf8c7eab5dc5d4e26832d5b1"},
		Email:   &Email{Address: "test@maxmind.com", Domain: "maxmind.com"},
		Billing: &Address{
			FirstName: "First", LastName: "Last", Company: "Company", Address: "101 Address Rd.",
			Address2: "Unit 5", City: "City of Thorns", Region: "CT", Country: "US", Postal: "06510",
			PhoneNumber: "123-456-7890", PhoneCountryCode: "1",
		},
		Shipping: &Shipping{
			Address: Address{
				FirstName: "ShipFirst", LastName: "ShipLast", Company: "ShipCo", Address: "322 Ship Addr. Ln.",
				Address2: "St. 43", City: "Nowhere", Region: "OK", Country: "US", Postal: "73003",
				PhoneNumber: "123-456-0000", PhoneCountryCode: "1",
			},
			DeliverySpeed: "same_day",
		},
		Payment: &Payment{Method: "card", Processor: "stripe", WasAuthorized: new(false), DeclineCode: "invalid number"},
		CreditCard: &CreditCard{
			IssuerIDNumber: "411111", LastDigits: "7643", BankName: "Bank of No Hope", BankPhoneCountryCode: "1",
			BankPhoneNumber: "123-456-1234", AVSResult: "Y", CVVResult: "N", Token: "123456abc1234",
			Was3DSecureSuccessful: new(true),
		},
		CustomInputs: map[string]any{
			"float_input": 12.1, "integer_input": 3123, "string_input": "This is a string input.", "boolean_input": true,
		},
		Order: &Order{
			Amount: "323.21", Currency: "USD", DiscountCode: "FIRST", AffiliateID: "af12", SubaffiliateID: "saf42",
			IsGift: new(true), HasGiftMessage: new(false), ReferrerURI: "http://www.amazon.com/",
		},
		ShoppingCart: []CartItem{
			{Category: "pets", ItemID: "ad23232", Quantity: 2, Price: "20.43"},
			{Category: "beauty", ItemID: "bst112", Quantity: 1, Price: "100.0"},
		},
		Device: &Device{
			IPAddress:  netip.MustParseAddr("152.216.7.110"),
			UserAgent:  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/41.0.2272.89 Safari/537.36",
			SessionAge: 3600.5, SessionID: "foobar", AcceptLanguage: "en-US,en;q=0.8", TrackingToken: "tst_abc123",
		},
	}
}

// decodeJSON decodes with json.Number so that numbers compare as written
// ("323.21" must reach MaxMind as 323.21, not a rounded float).
func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return m
}

// normalizeEventTime rewrites event.time as an instant in UTC, since the
// Python fixture writes "+00:00" where Go writes "Z".
func normalizeEventTime(t *testing.T, m map[string]any) {
	t.Helper()
	ev, ok := m["event"].(map[string]any)
	if !ok {
		return
	}
	ts, err := time.Parse(time.RFC3339Nano, ev["time"].(string))
	if err != nil {
		t.Fatal(err)
	}
	ev["time"] = ts.UTC().Format(time.RFC3339Nano)
}

// TestScoreRequestMatchesMaxMindFixtures sends typed requests equivalent to
// the full requests in MaxMind's client test suites and compares what
// reaches the server with those fixtures: our mapping produces the JSON
// MaxMind's own clients produce.
func TestScoreRequestMatchesMaxMindFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fixture  string
		req      func() Request
		normTime bool
	}{
		{name: "java plain email", fixture: "java-full-request.json", req: javaFullRequest},
		{
			name: "java hashed email", fixture: "java-full-request-email-md5.json",
			req: func() Request {
				r := javaFullRequest()
				r.Email = HashedEmail("test@maxmind.com")
				return r
			},
		},
		{
			name: "python hashed email", fixture: "python-full-transaction-request.json", normTime: true,
			req: func() Request {
				r := javaFullRequest()
				r.Event.Time = time.Date(2014, 4, 12, 23, 20, 50, 52_000_000, time.UTC)
				r.Email = HashedEmail(" Test+alias@MaxMind.com ")
				r.CreditCard.Country = "US"
				r.Device.SessionAge = 3600.8
				r.CustomInputs = nil
				return r
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, reqs := startServer(t, replay(http.StatusOK, ctScore, fixture(t, "java-score-response.json")))
			c := newTestClient(t, url, "score", 5*time.Second)
			if _, err := c.Score(t.Context(), tt.req()); err != nil {
				t.Fatalf("Score() = %v", err)
			}
			got := decodeJSON(t, (<-reqs).Body)
			want := decodeJSON(t, fixture(t, tt.fixture))
			if tt.normTime {
				normalizeEventTime(t, got)
				normalizeEventTime(t, want)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("request body differs from MaxMind's %s (-want +got):\n%s", tt.fixture, diff)
			}
			if strings.Contains(c.logs.String(), "test@maxmind.com") {
				t.Errorf("logs contain the email address:\n%s", c.logs.String())
			}
		})
	}
}

func TestScoreRefusesUnencodableRequest(t *testing.T) {
	t.Parallel()
	url, reqs := startServer(t, replay(http.StatusOK, ctScore, fixture(t, "java-score-response.json")))
	c := newTestClient(t, url, "score", 5*time.Second)
	_, err := c.Score(t.Context(), Request{Order: &Order{Amount: "12,00"}})
	if !errors.Is(err, ErrInvalidRequest) || errors.Is(err, ErrUnavailable) {
		t.Errorf("Score(amount 12,00) = %v, want ErrInvalidRequest only", err)
	}
	if len(reqs) != 0 {
		t.Errorf("server saw %d requests, want 0", len(reqs))
	}
	if n := c.count("score", "invalid_request"); n != 1 {
		t.Errorf("requests_total{outcome=invalid_request} = %v, want 1", n)
	}
}

func TestScoreErrors(t *testing.T) {
	t.Parallel()
	errBody := func(code, msg string) []byte {
		b, _ := json.Marshal(map[string]string{"code": code, "error": msg})
		return b
	}
	tests := []struct {
		name        string
		reply       http.HandlerFunc
		wantSent    error // the sentinel
		wantAPI     *APIError
		wantOutcome string
		wantLevel   string
	}{
		{
			name: "500 without body", reply: replay(http.StatusInternalServerError, "", nil),
			wantSent: ErrUnavailable, wantAPI: &APIError{Status: 500}, wantOutcome: "server_error", wantLevel: "WARN",
		},
		{
			name:     "503 html from a proxy",
			reply:    replay(http.StatusServiceUnavailable, "text/html", []byte("<h1>Service Unavailable</h1>")),
			wantSent: ErrUnavailable, wantAPI: &APIError{Status: 503}, wantOutcome: "server_error", wantLevel: "WARN",
		},
		{
			name:     "401 AUTHORIZATION_INVALID",
			reply:    replay(http.StatusUnauthorized, ctError, errBody("AUTHORIZATION_INVALID", "You have supplied an invalid MaxMind account ID and/or license key in the Authorization header.")),
			wantSent: ErrUnavailable,
			wantAPI: &APIError{Status: 401, Code: "AUTHORIZATION_INVALID",
				Message: "You have supplied an invalid MaxMind account ID and/or license key in the Authorization header."},
			wantOutcome: "auth_error", wantLevel: "ERROR",
		},
		{
			name:     "401 LICENSE_KEY_REQUIRED",
			reply:    replay(http.StatusUnauthorized, ctError, errBody("LICENSE_KEY_REQUIRED", "You have not supplied a MaxMind license key in the Authorization header.")),
			wantSent: ErrUnavailable,
			wantAPI: &APIError{Status: 401, Code: "LICENSE_KEY_REQUIRED",
				Message: "You have not supplied a MaxMind license key in the Authorization header."},
			wantOutcome: "auth_error", wantLevel: "ERROR",
		},
		{
			name:     "402 INSUFFICIENT_FUNDS",
			reply:    replay(http.StatusPaymentRequired, ctError, errBody("INSUFFICIENT_FUNDS", "The license key you have provided does not have sufficient funds to use this service.")),
			wantSent: ErrUnavailable,
			wantAPI: &APIError{Status: 402, Code: "INSUFFICIENT_FUNDS",
				Message: "The license key you have provided does not have sufficient funds to use this service."},
			wantOutcome: "insufficient_funds", wantLevel: "ERROR",
		},
		{
			name:     "403 PERMISSION_REQUIRED",
			reply:    replay(http.StatusForbidden, ctError, errBody("PERMISSION_REQUIRED", "You do not have permission to use this service.")),
			wantSent: ErrUnavailable,
			wantAPI: &APIError{Status: 403, Code: "PERMISSION_REQUIRED",
				Message: "You do not have permission to use this service."},
			wantOutcome: "permission_denied", wantLevel: "ERROR",
		},
		{
			name:     "400 IP_ADDRESS_INVALID",
			reply:    replay(http.StatusBadRequest, ctError, errBody("IP_ADDRESS_INVALID", `The value "1.2.3" is not a valid IP address.`)),
			wantSent: ErrInvalidRequest,
			wantAPI: &APIError{Status: 400, Code: "IP_ADDRESS_INVALID",
				Message: `The value "1.2.3" is not a valid IP address.`},
			wantOutcome: "invalid_request", wantLevel: "WARN",
		},
		{
			name:     "400 quoting an email is redacted",
			reply:    replay(http.StatusBadRequest, ctError, errBody("EMAIL_INVALID", `The value "ann.lee@example.com" is not a valid email.`)),
			wantSent: ErrInvalidRequest,
			wantAPI: &APIError{Status: 400, Code: "EMAIL_INVALID",
				Message: `The value "[redacted]" is not a valid email.`},
			wantOutcome: "invalid_request", wantLevel: "WARN",
		},
		{
			name:        "400 without JSON",
			reply:       replay(http.StatusBadRequest, "text/plain", []byte("bad request")),
			wantSent:    ErrInvalidRequest,
			wantAPI:     &APIError{Status: 400},
			wantOutcome: "invalid_request", wantLevel: "WARN",
		},
		{
			name:        "404 from a wrong endpoint",
			reply:       replay(http.StatusNotFound, "text/plain", []byte("404 page not found")),
			wantSent:    ErrUnavailable,
			wantAPI:     &APIError{Status: 404},
			wantOutcome: "unexpected_status", wantLevel: "WARN",
		},
		{
			name:        "200 garbage",
			reply:       replay(http.StatusOK, ctScore, []byte("<html>not json")),
			wantSent:    ErrUnavailable,
			wantOutcome: "bad_response", wantLevel: "WARN",
		},
		{
			name:        "200 truncated JSON",
			reply:       replay(http.StatusOK, ctScore, []byte(`{"risk_score": 12.5, "id": "x`)),
			wantSent:    ErrUnavailable,
			wantOutcome: "bad_response", wantLevel: "WARN",
		},
		{
			name:        "200 without risk_score",
			reply:       replay(http.StatusOK, ctScore, []byte(`{"id": "27d26476-e2bc-11e4-92b8-962e705b4af5"}`)),
			wantSent:    ErrUnavailable,
			wantOutcome: "bad_response", wantLevel: "WARN",
		},
		{
			name:        "200 risk_score out of range",
			reply:       replay(http.StatusOK, ctScore, []byte(`{"risk_score": 250}`)),
			wantSent:    ErrUnavailable,
			wantOutcome: "bad_response", wantLevel: "WARN",
		},
		{
			name:        "200 risk_score of the wrong type",
			reply:       replay(http.StatusOK, ctScore, []byte(`{"risk_score": "high"}`)),
			wantSent:    ErrUnavailable,
			wantOutcome: "bad_response", wantLevel: "WARN",
		},
		{
			name:        "200 JSON array",
			reply:       replay(http.StatusOK, ctScore, []byte(`[]`)),
			wantSent:    ErrUnavailable,
			wantOutcome: "bad_response", wantLevel: "WARN",
		},
		{
			name:        "200 over 1 MiB",
			reply:       replay(http.StatusOK, ctScore, append([]byte(`{"risk_score": 1, "pad": "`), bytes.Repeat([]byte("x"), 1<<20)...)),
			wantSent:    ErrUnavailable,
			wantOutcome: "bad_response", wantLevel: "WARN",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, reqs := startServer(t, tt.reply)
			c := newTestClient(t, url, "score", 5*time.Second)
			resp, err := c.Score(t.Context(), Request{
				Device: &Device{IPAddress: netip.MustParseAddr("152.216.7.110")},
				Email:  &Email{Address: "ann.lee@example.com"},
				Event:  &Event{TransactionID: "INV-1001"},
			})
			if resp != nil {
				t.Errorf("Score() response = %+v, want nil", resp)
			}
			if !errors.Is(err, tt.wantSent) {
				t.Fatalf("Score() = %v, want an error wrapping %v", err, tt.wantSent)
			}
			other := ErrInvalidRequest
			if tt.wantSent == ErrInvalidRequest {
				other = ErrUnavailable
			}
			if errors.Is(err, other) {
				t.Errorf("Score() = %v wraps both sentinels", err)
			}
			ae, _ := errors.AsType[*APIError](err)
			if diff := cmp.Diff(tt.wantAPI, ae); diff != "" {
				t.Errorf("Score() APIError mismatch (-want +got):\n%s", diff)
			}
			if ae != nil && ae.Code != "" && !strings.Contains(err.Error(), ae.Code) {
				t.Errorf("Score() error %q does not name MaxMind's code %s", err, ae.Code)
			}
			if len(reqs) != 1 {
				t.Errorf("server saw %d requests, want 1", len(reqs))
			}
			if n := c.count("score", tt.wantOutcome); n != 1 {
				t.Errorf("requests_total{outcome=%s} = %v, want 1", tt.wantOutcome, n)
			}
			checkFailureLog(t, c.logs, tt.wantLevel, tt.wantOutcome)
		})
	}
}

// checkFailureLog asserts the one failure log line: its level, outcome and
// transaction id, and that it carries no email address.
func checkFailureLog(t *testing.T, logs *bytes.Buffer, level, outcome string) {
	t.Helper()
	if strings.Contains(logs.String(), "@example.com") {
		t.Errorf("logs contain an email address:\n%s", logs)
	}
	var found int
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] != "minfraud call failed" {
			continue
		}
		found++
		if rec["level"] != level || rec["outcome"] != outcome {
			t.Errorf("failure log level=%v outcome=%v, want %s %s", rec["level"], rec["outcome"], level, outcome)
		}
	}
	if found != 1 {
		t.Errorf("found %d failure log lines, want 1:\n%s", found, logs)
	}
}

// TestScoreDoesNotFollowRedirects: a redirect would carry the credentials
// to another URL; it must count as minFraud unavailable.
func TestScoreDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	body := fixture(t, "java-score-response.json")
	url, reqs := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			replay(http.StatusOK, ctScore, body)(w, r)
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	})
	c := newTestClient(t, url, "score", 5*time.Second)
	_, err := c.Score(t.Context(), Request{})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Score() = %v, want ErrUnavailable", err)
	}
	if ae, ok := errors.AsType[*APIError](err); !ok || ae.Status != http.StatusTemporaryRedirect {
		t.Errorf("Score() = %v, want an APIError with status 307", err)
	}
	if r := <-reqs; r.Path != "/minfraud/v2.0/score" {
		t.Errorf("first request path = %s", r.Path)
	}
	if len(reqs) != 0 {
		t.Errorf("the redirect was followed: %+v", <-reqs)
	}
	if n := c.count("score", "unexpected_status"); n != 1 {
		t.Errorf("requests_total{outcome=unexpected_status} = %v, want 1", n)
	}
}

// blockingServer holds every request until the client gives up (its
// request context ends) and signals on arrived when one comes in.
func blockingServer(t *testing.T) (string, <-chan struct{}) {
	t.Helper()
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	// Close release before srv.Close (cleanups run last-in first-out) so
	// that a handler can never hold Close up.
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	return srv.URL, arrived
}

func TestScoreTimeout(t *testing.T) {
	t.Parallel()
	url, _ := blockingServer(t)
	c := newTestClient(t, url, "score", 50*time.Millisecond)

	_, err := c.Score(t.Context(), Request{Event: &Event{TransactionID: "INV-1001"}})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Score() = %v, want ErrUnavailable and context.DeadlineExceeded", err)
	}
	if n := c.count("score", "timeout"); n != 1 {
		t.Errorf("requests_total{outcome=timeout} = %v, want 1", n)
	}
	checkFailureLog(t, c.logs, "WARN", "timeout")
}

func TestScoreCallerCancels(t *testing.T) {
	t.Parallel()
	url, arrived := blockingServer(t)
	c := newTestClient(t, url, "score", 10*time.Second)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		select {
		case <-arrived:
			cancel()
		case <-ctx.Done():
		}
	}()
	_, err := c.Score(ctx, Request{})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Score() = %v, want ErrUnavailable and context.Canceled", err)
	}
	if n := c.count("score", "canceled"); n != 1 {
		t.Errorf("requests_total{outcome=canceled} = %v, want 1", n)
	}
}

func TestScoreConnectionRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := newTestClient(t, "http://"+addr, "score", 5*time.Second)

	_, err = c.Score(t.Context(), Request{})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Score() = %v, want ErrUnavailable", err)
	}
	if n := c.count("score", "network_error"); n != 1 {
		t.Errorf("requests_total{outcome=network_error} = %v, want 1", n)
	}
	checkFailureLog(t, c.logs, "WARN", "network_error")
}

func TestReport(t *testing.T) {
	t.Parallel()
	url, reqs := startServer(t, replay(http.StatusNoContent, "", nil))
	c := newTestClient(t, url, "insights", 5*time.Second)

	// MaxMind's python full-report-request.json, with our types.
	err := c.Report(t.Context(), ReportRequest{
		IPAddress:      netip.MustParseAddr("152.216.7.110"),
		Tag:            TagChargeback,
		ChargebackCode: "UA01 Fraud - Card Present Transaction",
		MaxMindID:      "a1b2c3d4",
		MinFraudID:     "c8ce89f9-734d-4411-a174-91560f5ec07a",
		Notes:          "Fraudster was wearing a clown outfit.",
		TransactionID:  "txn3134133",
	})
	if err != nil {
		t.Fatalf("Report() = %v", err)
	}
	r := <-reqs
	if r.Method != "POST" || r.Path != "/minfraud/v2.0/transactions/report" || r.Auth != wantAuth || r.ContentType != "application/json" {
		t.Errorf("report request = %s %s auth=%q type=%q, want POST /minfraud/v2.0/transactions/report with basic auth and JSON",
			r.Method, r.Path, r.Auth, r.ContentType)
	}
	if diff := cmp.Diff(decodeJSON(t, fixture(t, "python-full-report-request.json")), decodeJSON(t, r.Body)); diff != "" {
		t.Errorf("report body differs from MaxMind's fixture (-want +got):\n%s", diff)
	}
	if n := c.count("report", "ok"); n != 1 {
		t.Errorf("requests_total{service=report,outcome=ok} = %v, want 1", n)
	}

	// The minimum the gateway sends for a chargeback event.
	if err := c.Report(t.Context(), ReportRequest{Tag: TagChargeback, TransactionID: "INV-1001"}); err != nil {
		t.Fatalf("Report(minimal) = %v", err)
	}
	if diff := cmp.Diff(`{"tag":"chargeback","transaction_id":"INV-1001"}`, string((<-reqs).Body)); diff != "" {
		t.Errorf("minimal report body mismatch (-want +got):\n%s", diff)
	}
}

func TestReportErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		reply       http.HandlerFunc
		report      ReportRequest
		wantSent    error
		wantCalls   int
		wantOutcome string
	}{
		{
			name:     "401",
			reply:    replay(http.StatusUnauthorized, ctError, []byte(`{"code":"AUTHORIZATION_INVALID","error":"Invalid account ID or license key."}`)),
			report:   ReportRequest{Tag: TagChargeback, TransactionID: "INV-1001"},
			wantSent: ErrUnavailable, wantCalls: 1, wantOutcome: "auth_error",
		},
		{
			name:     "400 from MaxMind",
			reply:    replay(http.StatusBadRequest, ctError, []byte(`{"code":"MINFRAUD_ID_INVALID","error":"The minfraud_id is not valid."}`)),
			report:   ReportRequest{Tag: TagChargeback, TransactionID: "INV-1001"},
			wantSent: ErrInvalidRequest, wantCalls: 1, wantOutcome: "invalid_request",
		},
		{
			name:     "500",
			reply:    replay(http.StatusInternalServerError, "", nil),
			report:   ReportRequest{Tag: TagChargeback, TransactionID: "INV-1001"},
			wantSent: ErrUnavailable, wantCalls: 1, wantOutcome: "server_error",
		},
		{
			name:     "200 is not the documented 204",
			reply:    replay(http.StatusOK, "application/json", []byte(`{}`)),
			report:   ReportRequest{Tag: TagChargeback, TransactionID: "INV-1001"},
			wantSent: ErrUnavailable, wantCalls: 1, wantOutcome: "unexpected_status",
		},
		{
			name:     "unknown tag",
			reply:    replay(http.StatusNoContent, "", nil),
			report:   ReportRequest{Tag: "fraud", TransactionID: "INV-1001"},
			wantSent: ErrInvalidRequest, wantOutcome: "invalid_request",
		},
		{
			name:     "no identifier",
			reply:    replay(http.StatusNoContent, "", nil),
			report:   ReportRequest{Tag: TagChargeback, Notes: "who?"},
			wantSent: ErrInvalidRequest, wantOutcome: "invalid_request",
		},
		{
			name:     "minfraud_id not a UUID",
			reply:    replay(http.StatusNoContent, "", nil),
			report:   ReportRequest{Tag: TagChargeback, MinFraudID: "27d26476"},
			wantSent: ErrInvalidRequest, wantOutcome: "invalid_request",
		},
		{
			name:     "nil minfraud_id",
			reply:    replay(http.StatusNoContent, "", nil),
			report:   ReportRequest{Tag: TagChargeback, MinFraudID: "00000000-0000-0000-0000-000000000000"},
			wantSent: ErrInvalidRequest, wantOutcome: "invalid_request",
		},
		{
			name:     "maxmind_id not 8 characters",
			reply:    replay(http.StatusNoContent, "", nil),
			report:   ReportRequest{Tag: TagChargeback, MaxMindID: "abc"},
			wantSent: ErrInvalidRequest, wantOutcome: "invalid_request",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, reqs := startServer(t, tt.reply)
			c := newTestClient(t, url, "score", 5*time.Second)
			err := c.Report(t.Context(), tt.report)
			if !errors.Is(err, tt.wantSent) {
				t.Fatalf("Report() = %v, want an error wrapping %v", err, tt.wantSent)
			}
			if len(reqs) != tt.wantCalls {
				t.Errorf("server saw %d requests, want %d", len(reqs), tt.wantCalls)
			}
			if n := c.count("report", tt.wantOutcome); n != 1 {
				t.Errorf("requests_total{service=report,outcome=%s} = %v, want 1", tt.wantOutcome, n)
			}
		})
	}
}

func TestReportTimeout(t *testing.T) {
	t.Parallel()
	url, _ := blockingServer(t)
	c := newTestClient(t, url, "score", 50*time.Millisecond)
	err := c.Report(t.Context(), ReportRequest{Tag: TagChargeback, TransactionID: "INV-1001"})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Report() = %v, want ErrUnavailable and context.DeadlineExceeded", err)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{}, nil, nil, nil); err == nil {
		t.Error("New(disabled config) = nil error, want one")
	}
	if _, err := New(Config{AccountID: "123456"}, nil, nil, nil); err == nil {
		t.Error("New(config without license key) = nil error, want one")
	}

	// A caller's client is copied, not changed, and redirects are still
	// refused with it.
	hc := &http.Client{Timeout: time.Minute}
	reg := prometheus.NewRegistry()
	cfg := Config{AccountID: testAccount, LicenseKey: testKey, Endpoint: "http://127.0.0.1:1"}
	c1, err := New(cfg, hc, nil, reg)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	if hc.CheckRedirect != nil {
		t.Error("New() modified the caller's http.Client")
	}
	if c1.hc.CheckRedirect == nil || c1.hc.Timeout != time.Minute {
		t.Error("New() did not keep the caller's client settings and refuse redirects")
	}
	if c1.Service() != "score" || c1.cfg.Timeout != time.Second || c1.cfg.Endpoint != "http://127.0.0.1:1" {
		t.Errorf("New() did not apply defaults: %v", c1.cfg)
	}
	// A second client on the same registry (e.g. after a config reload)
	// shares the collectors instead of failing.
	c2, err := New(cfg, nil, nil, reg)
	if err != nil {
		t.Fatalf("second New() on the same registry = %v", err)
	}
	if c1.requests != c2.requests || c1.duration != c2.duration {
		t.Error("second New() did not reuse the registered collectors")
	}
}

// BenchmarkScore measures one Score call against a local server replaying
// the Insights fixture: the client's share of screening an order.
func BenchmarkScore(b *testing.B) {
	c := benchClient(b, "insights", "java-insights-response.json", func(w http.ResponseWriter, body []byte) {
		replay(http.StatusOK, ctInsights, body)(w, nil)
	})
	req := javaFullRequest()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Score(b.Context(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkScoreService is Score against a server answering as the load
// benchmark's stub does (scripts/loadorders): the Score fixture, with a
// Content-Length.
func BenchmarkScoreService(b *testing.B) {
	c := benchClient(b, "score", "python-score-response.json", func(w http.ResponseWriter, body []byte) {
		w.Header().Set("Content-Type", ctScore)
		_, _ = w.Write(body) // small and unflushed: net/http sets Content-Length
	})
	req := javaFullRequest()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Score(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// benchClient returns a client of service on a local server that answers
// every call with answer and the fixture's bytes.
func benchClient(b *testing.B, service, fixture string, answer func(http.ResponseWriter, []byte)) *Client {
	b.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", fixture))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { answer(w, body) }))
	b.Cleanup(srv.Close)
	c, err := New(Config{AccountID: testAccount, LicenseKey: testKey, Endpoint: srv.URL, Service: service},
		nil, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func BenchmarkHashEmail(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		HashEmail(" Ann.Lee+shop@GoogleMail.com ")
	}
}

// TestReadBody: readBody reads what io.ReadAll(io.LimitReader(body,
// limit+1)) reads, whatever the length it is told, and sizes its buffer by
// a length within the limit.
func TestReadBody(t *testing.T) {
	t.Parallel()
	const limit = 1000
	for _, tc := range []struct {
		name   string
		size   int   // bytes sent
		length int64 // length told
	}{
		{"exact", 650, 650},
		{"unknown", 650, -1},
		{"told less", 650, 100},
		{"told more", 650, 900},
		{"empty", 0, 0},
		{"at the limit", limit, limit},
		{"over the limit", 5000, 5000},
		{"over the limit, told within", 5000, 10},
		{"larger than 512, unknown", 1500, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := bytes.Repeat([]byte("x"), tc.size)
			want, _ := io.ReadAll(io.LimitReader(bytes.NewReader(body), limit+1))
			// One byte per Read: the hardest case for the loop.
			got, err := readBody(iotest.OneByteReader(bytes.NewReader(body)), tc.length, limit)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("readBody(%d bytes, length %d) = %d bytes, %v; want %d bytes", tc.size, tc.length, len(got), err, len(want))
			}
			if tc.length == int64(tc.size) && tc.size <= limit && cap(got) != tc.size+1 {
				t.Errorf("readBody(%d bytes, length %d): buffer of %d bytes, want %d", tc.size, tc.length, cap(got), tc.size+1)
			}
		})
	}
	sentinel := errors.New("connection reset")
	if _, err := readBody(io.MultiReader(strings.NewReader("{"), iotest.ErrReader(sentinel)), 10, limit); !errors.Is(err, sentinel) {
		t.Errorf("readBody(failing reader) = %v, want the reader's error", err)
	}
}
