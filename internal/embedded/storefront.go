package embedded

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vpsgate/gateway/internal/iso3166"
)

//go:embed templates static
var storefrontFiles embed.FS

// Storefront limits.
const (
	// maxCheckoutBody caps a checkout request body (form or JSON); larger
	// ones get 413.
	maxCheckoutBody = 64 << 10
	// maxStoredOrders bounds the in-memory order list; the oldest go first.
	maxStoredOrders = 1000
	// storefrontShutdownTimeout bounds the graceful stop of
	// ListenStorefront's server when its context ends.
	storefrontShutdownTimeout = 5 * time.Second
)

// Screening headers the gateway adds to a checkout it forwards.
const (
	HeaderScreeningID       = "X-Screening-Id"
	HeaderScreeningDecision = "X-Screening-Decision"
	HeaderScreeningScore    = "X-Screening-Score"
)

// Plan is a VPS plan sold by the demo storefront.
type Plan struct {
	SKU      string `json:"sku"`
	Name     string `json:"name"`
	Specs    string `json:"specs"`
	Price    string `json:"price"` // decimal, two places, in Currency
	Currency string `json:"currency"`
}

// DemoPlans returns the plans the demo storefront sells.
func DemoPlans() []Plan {
	return []Plan{
		{SKU: "vps-s1", Name: "VPS S1", Specs: "1 vCPU, 1 GB RAM, 25 GB NVMe, 1 TB traffic", Price: "5.00", Currency: "USD"},
		{SKU: "vps-m2", Name: "VPS M2", Specs: "2 vCPU, 4 GB RAM, 80 GB NVMe, 4 TB traffic", Price: "12.00", Currency: "USD"},
		{SKU: "vps-l4", Name: "VPS L4", Specs: "4 vCPU, 8 GB RAM, 160 GB NVMe, 8 TB traffic", Price: "24.00", Currency: "USD"},
	}
}

// Order is a checkout as the demo storefront receives it. The same names are
// used for the HTML form fields of POST /checkout
// (application/x-www-form-urlencoded) and the keys of the JSON object of
// POST /api/checkout (application/json; every value a string; unknown keys
// refused):
//
//	order_id    shop's order id; the form carries a server-generated "DEMO-XXXXXXXXXX"
//	email       customer email (required)
//	name        customer full name (required)
//	phone       customer phone
//	country     billing country, ISO 3166-1 alpha-2 (required)
//	region      billing region / state code
//	city        billing city
//	postal      billing postal code
//	address     billing street address
//	plan        plan SKU: vps-s1, vps-m2, vps-l4 (required; unknown -> 400)
//	amount      order total, decimal string such as "12.00" (must equal the plan's price; empty = the price)
//	currency    ISO 4217 code, "USD" (empty = USD)
//	card_bin    first 6 to 8 digits of the card, as a payment processor's token form returns (required)
//	card_last4  last 4 digits of the card (required)
//
// No card number, expiry or CVC is ever collected.
type Order struct {
	OrderID   string `json:"order_id"`
	Email     string `json:"email"`
	Name      string `json:"name"`
	Phone     string `json:"phone"`
	Country   string `json:"country"`
	Region    string `json:"region"`
	City      string `json:"city"`
	Postal    string `json:"postal"`
	Address   string `json:"address"`
	Plan      string `json:"plan"`
	Amount    string `json:"amount"`
	Currency  string `json:"currency"`
	CardBIN   string `json:"card_bin"`
	CardLast4 string `json:"card_last4"`
}

// Screening is what the gateway told the storefront about an order, read
// from the X-Screening-* request headers (empty when the request did not
// come through a screening gateway).
type Screening struct {
	ID       string `json:"id"`
	Decision string `json:"decision"`
	Score    string `json:"score"`
}

type receivedOrder struct {
	Order      Order     `json:"order"`
	ReceivedAt time.Time `json:"received_at"`
	Screening  Screening `json:"screening"`
}

// storefront is the demo shop. Orders live in memory only.
type storefront struct {
	logger *slog.Logger
	now    func() time.Time
	newID  func() string
	tmpl   *template.Template
	plans  []Plan

	mu     sync.Mutex
	orders []receivedOrder // oldest first, at most maxStoredOrders
	ids    map[string]bool // order ids in orders
}

// Storefront returns the handler of "Demo VPS", a small shop selling three
// VPS plans, used as the upstream in zero-config mode so that a newcomer can
// watch the gateway screen real checkouts. Routes:
//
//	GET  /                  plan list
//	GET  /checkout?plan=SKU checkout form (400 for an unknown plan)
//	POST /checkout          form checkout -> HTML confirmation
//	POST /api/checkout      JSON checkout -> 201 JSON confirmation
//	GET  /orders            orders received (HTML; emails masked)
//	GET  /api/orders        the same as JSON
//	GET  /healthz           "ok"
//
// Field names are documented on Order. Confirmations show the
// X-Screening-Id, X-Screening-Decision and X-Screening-Score headers the
// request carried. Bodies over 64 KiB get 413; invalid fields 400; a
// repeated order_id 409. Unsafe cross-origin requests are refused
// (http.CrossOriginProtection).
func Storefront(logger *slog.Logger) http.Handler {
	return newStorefront(logger, time.Now, func() string { return "DEMO-" + rand.Text()[:10] })
}

func newStorefront(logger *slog.Logger, now func() time.Time, newID func() string) http.Handler {
	tmpl := template.Must(template.New("").Funcs(template.FuncMap{
		"maskEmail": maskEmail,
	}).ParseFS(storefrontFiles, "templates/*.html"))
	s := &storefront{
		logger: logger,
		now:    now,
		newID:  newID,
		tmpl:   tmpl,
		plans:  DemoPlans(),
		ids:    map[string]bool{},
	}
	static, err := fs.Sub(storefrontFiles, "static")
	if err != nil {
		panic(fmt.Sprintf("embedded static files: %v", err)) // the embed pattern guarantees the directory
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleProducts)
	mux.HandleFunc("GET /checkout", s.handleCheckoutForm)
	mux.HandleFunc("POST /checkout", s.handleCheckoutPost)
	mux.HandleFunc("POST /api/checkout", s.handleCheckoutAPI)
	mux.HandleFunc("GET /orders", s.handleOrders)
	mux.HandleFunc("GET /api/orders", s.handleOrdersAPI)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, http.StatusNotFound, "There is no such page in this shop.")
	})
	return securityHeaders(http.NewCrossOriginProtection().Handler(mux))
}

// securityHeaders sets headers that keep the shop's pages from being framed,
// sniffed or made to load anything from elsewhere.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

func (s *storefront) handleProducts(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "products.html", map[string]any{"Plans": s.plans})
}

func (s *storefront) plan(sku string) (Plan, bool) {
	i := slices.IndexFunc(s.plans, func(p Plan) bool { return p.SKU == sku })
	if i < 0 {
		return Plan{}, false
	}
	return s.plans[i], true
}

// checkoutPage is what checkout.html shows.
type checkoutPage struct {
	Plan      Plan
	Order     Order
	Countries []country
	Error     *fieldError
}

type country struct{ Code, Name string }

// countries offered by the form; the API accepts any ISO code.
var formCountries = [...]country{
	{"US", "United States"}, {"CA", "Canada"}, {"GB", "United Kingdom"}, {"DE", "Germany"},
	{"FR", "France"}, {"NL", "Netherlands"}, {"JP", "Japan"}, {"AU", "Australia"},
}

func (s *storefront) handleCheckoutForm(w http.ResponseWriter, r *http.Request) {
	p, ok := s.plan(r.URL.Query().Get("plan"))
	if !ok {
		s.renderError(w, r, http.StatusBadRequest, "Unknown plan: choose one on the plan list.")
		return
	}
	// Filled with demo values so a newcomer can submit at once; they are
	// documentation values (example.com, 555 numbers, a test card BIN).
	o := Order{
		OrderID: s.newID(), Plan: p.SKU, Amount: p.Price, Currency: p.Currency,
		Email: "ann@example.com", Name: "Ann Lee", Phone: "+1 415 555 0100",
		Country: "US", Region: "CA", City: "San Francisco", Postal: "94107", Address: "1 Main St",
		CardBIN: "411111", CardLast4: "1111",
	}
	s.render(w, r, http.StatusOK, "checkout.html", checkoutPage{Plan: p, Order: o, Countries: formCountries[:]})
}

func (s *storefront) handleCheckoutPost(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		s.renderError(w, r, http.StatusUnsupportedMediaType, "The checkout form must be sent as application/x-www-form-urlencoded.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxCheckoutBody)
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			s.renderError(w, r, http.StatusRequestEntityTooLarge, "The form is too large.")
			return
		}
		s.renderError(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	f := r.PostForm // not r.Form: query parameters must not stand in for fields
	o := Order{
		OrderID: f.Get("order_id"), Email: f.Get("email"), Name: f.Get("name"), Phone: f.Get("phone"),
		Country: f.Get("country"), Region: f.Get("region"), City: f.Get("city"), Postal: f.Get("postal"),
		Address: f.Get("address"), Plan: f.Get("plan"), Amount: f.Get("amount"), Currency: f.Get("currency"),
		CardBIN: f.Get("card_bin"), CardLast4: f.Get("card_last4"),
	}
	rec, err := s.accept(r, o)
	if err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			if p, ok := s.plan(o.Plan); ok {
				s.render(w, r, http.StatusBadRequest, "checkout.html", checkoutPage{Plan: p, Order: o, Countries: formCountries[:], Error: fe})
				return
			}
			s.renderError(w, r, http.StatusBadRequest, fe.Error())
			return
		}
		s.renderError(w, r, http.StatusConflict, "This order was already placed.")
		return
	}
	s.render(w, r, http.StatusOK, "confirmation.html", rec)
}

func (s *storefront) handleCheckoutAPI(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeJSONError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json", "")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxCheckoutBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	var o Order
	err := dec.Decode(&o)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err == nil {
		// Read to the end so that trailing bytes over the limit are caught.
		if _, cerr := io.Copy(io.Discard, r.Body); cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeJSONError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body exceeds %d bytes", maxCheckoutBody), "")
			return
		}
		writeJSONError(w, http.StatusBadRequest, "invalid_json", "the body is not a JSON order object: "+err.Error(), "")
		return
	}
	rec, err := s.accept(r, o)
	if err != nil {
		if fe, ok := errors.AsType[*fieldError](err); ok {
			writeJSONError(w, http.StatusBadRequest, "invalid_field", fe.Message, fe.Field)
			return
		}
		writeJSONError(w, http.StatusConflict, "duplicate_order", "an order with this order_id was already placed", "order_id")
		return
	}
	writeJSON(w, http.StatusCreated, rec)
}

var errDuplicateOrder = errors.New("duplicate order id")

// accept validates an order and records it with the screening headers of
// the request.
func (s *storefront) accept(r *http.Request, o Order) (receivedOrder, error) {
	o, err := s.validate(o)
	if err != nil {
		return receivedOrder{}, err
	}
	rec := receivedOrder{
		Order:      o,
		ReceivedAt: s.now().UTC(),
		Screening: Screening{
			ID:       cleanHeader(r.Header.Get(HeaderScreeningID)),
			Decision: cleanHeader(r.Header.Get(HeaderScreeningDecision)),
			Score:    cleanHeader(r.Header.Get(HeaderScreeningScore)),
		},
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids[o.OrderID] {
		return receivedOrder{}, errDuplicateOrder
	}
	if len(s.orders) == maxStoredOrders {
		delete(s.ids, s.orders[0].Order.OrderID)
		s.orders = slices.Delete(s.orders, 0, 1)
	}
	s.orders = append(s.orders, rec)
	s.ids[o.OrderID] = true
	s.logger.InfoContext(r.Context(), "demo storefront order received",
		"order_id", o.OrderID, "plan", o.Plan, "amount", o.Amount, "country", o.Country,
		"screening_id", rec.Screening.ID, "screening_decision", rec.Screening.Decision)
	return rec, nil
}

// cleanHeader keeps a header value short and printable for display.
func cleanHeader(v string) string {
	v = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, v)
	if len(v) > 100 {
		v = v[:100]
	}
	return strings.ToValidUTF8(v, "")
}

// fieldError is a checkout field that failed validation.
type fieldError struct {
	Field   string
	Message string
}

func (e *fieldError) Error() string { return e.Field + ": " + e.Message }

var (
	orderIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	phonePattern   = regexp.MustCompile(`^[0-9 +()./-]{0,40}$`)
	amountPattern  = regexp.MustCompile(`^[0-9]{1,7}(\.[0-9]{1,2})?$`)
	binPattern     = regexp.MustCompile(`^[0-9]{6,8}$`)
	last4Pattern   = regexp.MustCompile(`^[0-9]{4}$`)
)

// validate trims and checks every field and fills amount and currency from
// the plan when they are empty. It reports the first problem.
func (s *storefront) validate(o Order) (Order, error) {
	fields := []struct {
		name string
		v    *string
		max  int
	}{
		{"order_id", &o.OrderID, 64}, {"email", &o.Email, 254}, {"name", &o.Name, 200},
		{"phone", &o.Phone, 40}, {"country", &o.Country, 2}, {"region", &o.Region, 100},
		{"city", &o.City, 100}, {"postal", &o.Postal, 20}, {"address", &o.Address, 300},
		{"plan", &o.Plan, 40}, {"amount", &o.Amount, 12}, {"currency", &o.Currency, 3},
		{"card_bin", &o.CardBIN, 8}, {"card_last4", &o.CardLast4, 4},
	}
	for _, f := range fields {
		*f.v = strings.TrimSpace(*f.v)
		if !utf8Printable(*f.v) {
			return o, &fieldError{f.name, "contains control characters or invalid UTF-8"}
		}
		if n := len([]rune(*f.v)); n > f.max {
			return o, &fieldError{f.name, fmt.Sprintf("is longer than %d characters", f.max)}
		}
	}
	o.Country = strings.ToUpper(o.Country)
	o.Currency = strings.ToUpper(o.Currency)
	p, ok := s.plan(o.Plan)
	switch {
	case !ok:
		return o, &fieldError{"plan", "is not one of the shop's plans"}
	case !orderIDPattern.MatchString(o.OrderID):
		return o, &fieldError{"order_id", "must be 1-64 letters, digits, '.', '_' or '-'"}
	case !validEmail(o.Email):
		return o, &fieldError{"email", "is not an email address"}
	case o.Name == "":
		return o, &fieldError{"name", "is required"}
	case !phonePattern.MatchString(o.Phone):
		return o, &fieldError{"phone", "may contain only digits, spaces and + ( ) . / -"}
	case !iso3166.IsCountry(o.Country):
		return o, &fieldError{"country", "must be an upper-case ISO 3166-1 alpha-2 country code"}
	case o.Amount != "" && !sameAmount(o.Amount, p.Price):
		return o, &fieldError{"amount", "does not match the plan's price " + p.Price}
	case o.Currency != "" && o.Currency != p.Currency:
		return o, &fieldError{"currency", "must be " + p.Currency}
	case !binPattern.MatchString(o.CardBIN):
		return o, &fieldError{"card_bin", "must be the card's first 6 to 8 digits"}
	case !last4Pattern.MatchString(o.CardLast4):
		return o, &fieldError{"card_last4", "must be the card's last 4 digits"}
	}
	o.Amount, o.Currency = p.Price, p.Currency
	return o, nil
}

func utf8Printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// validEmail accepts a bare address (no display name) that net/mail parses.
func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

// sameAmount compares decimal strings by value ("12", "12.0", "12.00").
func sameAmount(a, price string) bool {
	if !amountPattern.MatchString(a) {
		return false
	}
	toCents := func(s string) int64 {
		whole, frac, _ := strings.Cut(s, ".")
		w, _ := strconv.ParseInt(whole, 10, 64)
		f, _ := strconv.ParseInt((frac + "00")[:2], 10, 64)
		return w*100 + f
	}
	return toCents(a) == toCents(price)
}

// maskEmail shows enough of an address to recognise a test order without
// listing customers' addresses: "a***@example.com".
func maskEmail(e string) string {
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" {
		return "***"
	}
	return string([]rune(local)[:1]) + "***@" + domain
}

func (s *storefront) snapshot() []receivedOrder {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.orders)
	slices.Reverse(out) // newest first
	return out
}

func (s *storefront) handleOrders(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "orders.html", map[string]any{"Orders": s.snapshot()})
}

// ordersJSON is the /api/orders answer: like the HTML list, emails are
// masked and neither phone nor address is shown.
type ordersJSON struct {
	Orders []orderSummary `json:"orders"`
}

type orderSummary struct {
	OrderID    string    `json:"order_id"`
	ReceivedAt time.Time `json:"received_at"`
	Plan       string    `json:"plan"`
	Amount     string    `json:"amount"`
	Currency   string    `json:"currency"`
	Country    string    `json:"country"`
	Email      string    `json:"email"`
	Screening  Screening `json:"screening"`
}

func (s *storefront) handleOrdersAPI(w http.ResponseWriter, _ *http.Request) {
	out := ordersJSON{Orders: []orderSummary{}}
	for _, o := range s.snapshot() {
		out.Orders = append(out.Orders, orderSummary{
			OrderID: o.Order.OrderID, ReceivedAt: o.ReceivedAt, Plan: o.Order.Plan,
			Amount: o.Order.Amount, Currency: o.Order.Currency, Country: o.Order.Country,
			Email: maskEmail(o.Order.Email), Screening: o.Screening,
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// render executes a page into a buffer first, so that a template error
// becomes a clean 500 instead of half a page.
func (s *storefront) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		s.logger.ErrorContext(r.Context(), "demo storefront page failed", "template", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *storefront) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, r, status, "error.html", map[string]any{"Status": status, "StatusText": http.StatusText(status), "Message": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"internal error"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeJSONError(w http.ResponseWriter, status int, code, msg, field string) {
	type apiError struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	}
	writeJSON(w, status, map[string]apiError{"error": {Code: code, Message: msg, Field: field}})
}

// ListenStorefront listens on addr (for example "127.0.0.1:0" or ":8090")
// and serves Storefront in a goroutine. The server shuts down gracefully
// (for up to 5s) when ctx ends, or when the caller calls Shutdown on it. The
// listener's Addr tells the port actually chosen.
func ListenStorefront(ctx context.Context, addr string, logger *slog.Logger) (*http.Server, net.Listener, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listening for demo storefront on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           Storefront(logger),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), storefrontShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			logger.Warn("demo storefront did not stop gracefully", "error", err)
			srv.Close()
		}
	})
	srv.RegisterOnShutdown(func() { stop() })
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("demo storefront stopped serving", "error", err)
		}
	}()
	logger.Info("demo storefront listening", "addr", ln.Addr().String())
	return srv, ln, nil
}
