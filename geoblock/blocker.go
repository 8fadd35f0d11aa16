package geoblock

import (
	"bytes"
	_ "embed"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpsgate/gateway/internal/clientip"
	"github.com/vpsgate/gateway/internal/iso3166"
	"github.com/vpsgate/gateway/internal/logctx"
	"github.com/vpsgate/gateway/internal/negotiate"
)

//go:embed blocked.html
var defaultPage string

// Reason says which rule decided.
type Reason int

const (
	// ReasonCountry: the database gave a country and the list decided.
	ReasonCountry Reason = iota
	// ReasonExemptPath: the path is in exempt_paths (or is the policy page).
	ReasonExemptPath
	// ReasonAllowCIDR: the client is in allow_cidrs.
	ReasonAllowCIDR
	// ReasonUnknown: no country known; geoblock.unknown decided.
	ReasonUnknown
	// ReasonLookupError: the lookup failed; geoblock.unknown decided.
	ReasonLookupError
)

func (r Reason) String() string {
	switch r {
	case ReasonExemptPath:
		return "exempt_path"
	case ReasonAllowCIDR:
		return "allow_cidr"
	case ReasonUnknown:
		return "unknown_country"
	case ReasonLookupError:
		return "lookup_error"
	}
	return "country"
}

// Decision is the verdict for one client address and path.
type Decision struct {
	// Block is the policy's verdict. In report mode the Blocker lets a
	// blocked request through anyway.
	Block bool
	// Reason is the rule that decided.
	Reason Reason
	// Country is the client's ISO 3166-1 alpha-2 code, "" when it was not
	// looked up (exempt path, allow_cidrs), is unknown, or is not an ISO
	// code (such codes follow geoblock.unknown).
	Country string
	// Err is the lookup error behind ReasonLookupError.
	Err error
}

// Blocker is the geo-blocking middleware: it refuses requests from blocked
// countries with 451 and passes the rest to next with X-Client-Country set.
type Blocker struct {
	policy  *Policy
	db      *DB
	logger  *slog.Logger
	next    http.Handler
	metrics *blockerMetrics
	// blockedPages caches the rendered 451 page per country code: the
	// template's output depends only on the country, and rendering it was
	// a tenth of the blocked path's CPU. Bounded by the ISO code list.
	blockedPages sync.Map // string -> []byte
}

var _ http.Handler = (*Blocker)(nil)

// New returns the middleware in front of next, judging by p: the one
// compiled policy (NewPolicy), shared with the order screening's
// billing-country rule so both judge a country alike. Metrics are
// registered with reg when it is not nil.
func New(p *Policy, db *DB, logger *slog.Logger, reg prometheus.Registerer, next http.Handler) (*Blocker, error) {
	if p == nil {
		return nil, fmt.Errorf("geoblock: nil policy")
	}
	if db == nil {
		return nil, fmt.Errorf("geoblock: nil DB")
	}
	if next == nil {
		return nil, fmt.Errorf("geoblock: nil next handler")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := newBlockerMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Blocker{policy: p, db: db, logger: logger, next: next, metrics: m}, nil
}

// Policy returns the compiled policy, for rules that must judge a country
// the same way (the order screening's billing country).
func (b *Blocker) Policy() *Policy { return b.policy }

// Decide applies the policy to a client address and request path: exempt
// paths, then allow_cidrs, then the country lookup. It does not look at the
// mode: in report mode the caller decides what to do with Block.
func (b *Blocker) Decide(ip netip.Addr, path string) Decision {
	p := b.policy
	if p.exempt(path) {
		return Decision{Reason: ReasonExemptPath}
	}
	ip = ip.Unmap()
	if p.allowed(ip) {
		return Decision{Reason: ReasonAllowCIDR}
	}
	loc, err := b.db.Country(ip)
	if err != nil {
		return Decision{Block: p.unknownBlock, Reason: ReasonLookupError, Err: err}
	}
	code, ok := iso3166.Canonical(loc.Country)
	if !ok {
		return Decision{Block: p.unknownBlock, Reason: ReasonUnknown}
	}
	return Decision{Block: p.blocked[iso3166.Index(code)], Reason: ReasonCountry, Country: code}
}

// ServeHTTP implements http.Handler.
func (b *Blocker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ip, ok := clientip.FromContext(r.Context())
	if !ok {
		// Not behind clientip.Middleware (tests, other wiring): the socket
		// peer is the only address that cannot be forged.
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			ip = ap.Addr().Unmap()
		}
	}
	d := b.Decide(ip, r.URL.Path)
	// Only the gateway says where a client is; a client-sent value must not
	// reach the storefront.
	delete(r.Header, "X-Client-Country")

	countryLabel := d.Country
	if countryLabel == "" {
		countryLabel = "unknown"
	}
	if d.Err != nil {
		b.metrics.lookupErrors.Inc()
		b.logger.WarnContext(r.Context(), "geoip lookup failed, applying geoblock.unknown",
			"error", d.Err, "block", d.Block)
	}

	outcome := "allowed"
	switch {
	case d.Reason == ReasonExemptPath:
		outcome = "exempt"
	case d.Reason == ReasonAllowCIDR:
		outcome = "allow_cidr"
	case d.Block && b.policy.report:
		outcome = "would_block"
	case d.Block:
		outcome = "blocked"
	}
	b.metrics.decisions.WithLabelValues(outcome, countryLabel).Inc()

	if d.Country != "" {
		r = r.WithContext(logctx.With(r.Context(), slog.String("country", d.Country)))
	}
	switch outcome {
	case "blocked":
		b.logger.DebugContext(r.Context(), "geoblock refused request", "reason", d.Reason.String())
		b.writeBlocked(w, r, d.Country)
		return
	case "would_block":
		b.logger.InfoContext(r.Context(), "geoblock would refuse request (report mode)", "reason", d.Reason.String())
	}

	if b.policy.policyPath != "" && r.URL.Path == b.policy.policyPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		// The Link target of every 451: explain the policy to anyone.
		b.writePage(w, r, http.StatusOK, PageData{Country: d.Country, PolicyURL: b.policy.policyURL})
		return
	}
	if d.Country != "" {
		r.Header.Set("X-Client-Country", d.Country)
	}
	b.next.ServeHTTP(w, r)
}

// blockedMessage is the human sentence in both answers.
const blockedMessage = "This service is not available in your region."

// writeBlocked answers 451 Unavailable For Legal Reasons (RFC 7725) with a
// Link to the policy, as JSON for clients that prefer it, HTML otherwise.
func (b *Blocker) writeBlocked(w http.ResponseWriter, r *http.Request, country string) {
	h := w.Header()
	h.Set("Link", "<"+b.policy.policyURL+`>; rel="blocked-by"`)
	if negotiate.PrefersJSON(r.Header.Values("Accept")) {
		h.Set("Cache-Control", "no-store")
		h.Set("Vary", "Accept")
		h.Set("Content-Type", "application/json")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusUnavailableForLegalReasons)
		_, _ = w.Write([]byte(`{"error":{"code":"unavailable_in_region","message":` + strconv.Quote(blockedMessage) + `}}` + "\n"))
		return
	}
	data := PageData{Country: country, PolicyURL: b.policy.policyURL, Blocked: true}
	if _, iso := iso3166.Canonical(country); !iso && country != "" {
		b.writePage(w, r, http.StatusUnavailableForLegalReasons, data)
		return
	}
	if page, ok := b.blockedPages.Load(country); ok {
		writeHTML(w, r, http.StatusUnavailableForLegalReasons, "text/html; charset=utf-8", page.([]byte))
		return
	}
	var buf bytes.Buffer
	if err := b.policy.page.Execute(&buf, data); err != nil {
		b.writePage(w, r, http.StatusUnavailableForLegalReasons, data)
		return
	}
	b.blockedPages.Store(country, buf.Bytes())
	writeHTML(w, r, http.StatusUnavailableForLegalReasons, "text/html; charset=utf-8", buf.Bytes())
}

func (b *Blocker) writePage(w http.ResponseWriter, r *http.Request, status int, data PageData) {
	var buf bytes.Buffer
	ctype := "text/html; charset=utf-8"
	if err := b.policy.page.Execute(&buf, data); err != nil {
		// NewPolicy executed the template once; failing now is a bug in it.
		b.logger.ErrorContext(r.Context(), "rendering geoblock page", "error", err)
		buf.Reset()
		buf.WriteString(blockedMessage + "\n")
		ctype = "text/plain; charset=utf-8"
	}
	writeHTML(w, r, status, ctype, buf.Bytes())
}

func writeHTML(w http.ResponseWriter, r *http.Request, status int, ctype string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "Accept")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

type blockerMetrics struct {
	decisions    *prometheus.CounterVec
	lookupErrors prometheus.Counter
}

func newBlockerMetrics(reg prometheus.Registerer) (*blockerMetrics, error) {
	m := &blockerMetrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_geoblock_decisions_total",
			Help: "Geo-block decisions by outcome (allowed, blocked, would_block, exempt, allow_cidr) and ISO country (\"unknown\" when none).",
		}, []string{"outcome", "country"}),
		lookupErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_geoblock_lookup_errors_total",
			Help: "Country lookups that failed; geoblock.unknown decided those requests.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.decisions, m.lookupErrors} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering geoblock metrics: %w", err)
		}
	}
	return m, nil
}
