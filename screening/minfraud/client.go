package minfraud

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	basePath   = "/minfraud/v2.0/"
	reportPath = basePath + "transactions/report"
	userAgent  = "vpsgate-gateway minfraud-client"

	// Answers are a few KiB (an Insights answer with every field is about
	// 7 KiB); anything far larger is not minFraud talking.
	maxResponseBytes = 1 << 20
	maxErrorBytes    = 64 << 10

	serviceReport = "report"
)

// Outcomes, the values of the outcome label of
// gateway_minfraud_requests_total.
const (
	outcomeOK                = "ok"
	outcomeInvalidRequest    = "invalid_request"
	outcomeTimeout           = "timeout"
	outcomeCanceled          = "canceled"
	outcomeNetworkError      = "network_error"
	outcomeServerError       = "server_error"
	outcomeAuthError         = "auth_error"
	outcomeInsufficientFunds = "insufficient_funds"
	outcomePermissionDenied  = "permission_denied"
	outcomeUnexpectedStatus  = "unexpected_status"
	outcomeBadResponse       = "bad_response"
)

// Client calls minFraud. It is safe for concurrent use.
type Client struct {
	cfg      Config
	endpoint string
	// headers are the headers every call sends, as header values made
	// once (see post).
	headers  []header
	hc       *http.Client
	logger   *slog.Logger
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	warnings *warningLog
}

// New returns a client for cfg, which must be enabled (AccountID set) and
// valid; defaults are applied to a copy. hc may be nil for a client with a
// transport sized for many concurrent orders; a given hc is copied, never
// modified. Either way redirects are not followed: minFraud does not
// redirect, and following one would send the credentials elsewhere.
// Metrics are registered on reg (nil: not registered); registering twice
// on the same registry reuses the first collectors.
func New(cfg Config, hc *http.Client, logger *slog.Logger, reg prometheus.Registerer) (*Client, error) {
	cfg.SetDefaults()
	if !cfg.Enabled() {
		return nil, errors.New("creating minfraud client: account_id is not set (minfraud disabled)")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("creating minfraud client: %w", err)
	}
	endpoint, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("creating minfraud client: %w", err)
	}
	if hc == nil {
		hc = &http.Client{Transport: newTransport(cfg.Timeout)}
	} else {
		cp := *hc
		hc = &cp
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	requests, err := registerOrReuse(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_minfraud_requests_total",
		Help: "Calls to minFraud by service (score, insights, factors, report) and outcome.",
	}, []string{"service", "outcome"}))
	if err != nil {
		return nil, fmt.Errorf("registering minfraud metrics: %w", err)
	}
	duration, err := registerOrReuse(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gateway_minfraud_request_duration_seconds",
		Help:    "Duration of calls to minFraud, failures included, by service.",
		Buckets: []float64{.01, .025, .05, .1, .2, .3, .5, .75, 1, 2, 5, 10, 30},
	}, []string{"service"}))
	if err != nil {
		return nil, fmt.Errorf("registering minfraud metrics: %w", err)
	}
	warnings, err := registerOrReuse(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_minfraud_warnings_total",
		Help: "Warnings in minFraud's answers (inputs it could not use), by code; codes minFraud does not document count as other.",
	}, []string{"code"}))
	if err != nil {
		return nil, fmt.Errorf("registering minfraud metrics: %w", err)
	}
	return &Client{
		cfg:      cfg,
		endpoint: endpoint,
		headers: []header{
			// SetBasicAuth's header, encoded once: every order sends it.
			{"Authorization", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.AccountID+":"+cfg.LicenseKey))}},
			{"Content-Type", []string{"application/json"}},
			{"Accept", []string{"application/json"}},
			{"User-Agent", []string{userAgent}},
		},
		hc:       hc,
		logger:   logger,
		requests: requests,
		duration: duration,
		warnings: newWarningLog(logger, warnings, time.Now),
	}, nil
}

// newTransport clones the default transport (proxy from environment, HTTP/2)
// and keeps enough idle connections that thousands of orders per second do
// not each pay a TLS handshake.
func newTransport(timeout time.Duration) *http.Transport {
	t, ok := http.DefaultTransport.(*http.Transport)
	if ok {
		t = t.Clone()
	} else { // someone replaced the default; start from its documented settings
		t = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
	}
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 128
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = timeout
	return t
}

func registerOrReuse[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// Service returns the configured scoring service: score, insights or factors.
func (c *Client) Service() string { return c.cfg.Service }

// Score sends req to the configured service (POST
// {endpoint}/minfraud/v2.0/{service}) within the configured timeout and
// decodes the answer. Errors wrap ErrUnavailable or ErrInvalidRequest, and
// an *APIError when minFraud answered with an error status.
func (c *Client) Score(ctx context.Context, req Request) (*Response, error) {
	service := c.cfg.Service
	var txn string
	if req.Event != nil {
		txn = req.Event.TransactionID
	}
	attrs := []slog.Attr{slog.String("service", service), slog.String("transaction_id", txn)}
	start := time.Now()

	body, err := json.Marshal(req)
	if err != nil {
		return nil, c.fail(ctx, service, start, outcomeInvalidRequest, 0,
			fmt.Errorf("encoding minfraud %s request: %w: %w", service, ErrInvalidRequest, err), attrs)
	}
	raw, f := c.post(ctx, basePath+service, body, http.StatusOK, maxResponseBytes)
	if f != nil {
		return nil, c.fail(ctx, service, start, f.outcome, f.status,
			fmt.Errorf("calling minfraud %s: %w", service, f.err), attrs)
	}
	resp, err := decodeResponse(raw)
	if err != nil {
		return nil, c.fail(ctx, service, start, outcomeBadResponse, http.StatusOK,
			fmt.Errorf("calling minfraud %s: %w: %w", service, ErrUnavailable, err), attrs)
	}
	resp.Service = service
	c.succeed(service, start)
	if c.logger.Enabled(ctx, slog.LevelDebug) {
		c.logger.LogAttrs(ctx, slog.LevelDebug, "minfraud scored", append(attrs,
			slog.String("minfraud_id", resp.ID), slog.Float64("risk_score", resp.RiskScore))...)
	}
	if len(resp.Warnings) > 0 {
		c.warnings.note(ctx, resp.Warnings, resp.ID, attrs)
	}
	return resp, nil
}

// Report sends a Report Transactions call (POST
// {endpoint}/minfraud/v2.0/transactions/report), which MaxMind answers with
// 204 No Content. The report is checked first (tag, an identifier, id
// formats); a bad one wraps ErrInvalidRequest and is not sent.
func (c *Client) Report(ctx context.Context, r ReportRequest) error {
	attrs := []slog.Attr{
		slog.String("service", serviceReport), slog.String("tag", r.Tag),
		slog.String("transaction_id", r.TransactionID), slog.String("minfraud_id", r.MinFraudID),
	}
	start := time.Now()
	if err := validateReport(r); err != nil {
		return c.fail(ctx, serviceReport, start, outcomeInvalidRequest, 0,
			fmt.Errorf("checking minfraud report: %w: %w", ErrInvalidRequest, err), attrs)
	}
	body, err := json.Marshal(r)
	if err != nil {
		return c.fail(ctx, serviceReport, start, outcomeInvalidRequest, 0,
			fmt.Errorf("encoding minfraud report: %w: %w", ErrInvalidRequest, err), attrs)
	}
	if _, f := c.post(ctx, reportPath, body, http.StatusNoContent, maxErrorBytes); f != nil {
		return c.fail(ctx, serviceReport, start, f.outcome, f.status,
			fmt.Errorf("reporting transaction to minfraud: %w", f.err), attrs)
	}
	c.succeed(serviceReport, start)
	c.logger.LogAttrs(ctx, slog.LevelInfo, "minfraud transaction reported", attrs...)
	return nil
}

func validateReport(r ReportRequest) error {
	var errs []error
	switch r.Tag {
	case TagChargeback, TagNotFraud, TagSpamOrAbuse, TagSuspectedFraud, TagClear:
	default:
		errs = append(errs, fmt.Errorf("tag %q is not one of chargeback, not_fraud, spam_or_abuse, suspected_fraud, clear", r.Tag))
	}
	if !r.IPAddress.IsValid() && r.MaxMindID == "" && r.MinFraudID == "" && r.TransactionID == "" {
		errs = append(errs, errors.New("one of ip_address, maxmind_id, minfraud_id, transaction_id is required"))
	}
	if r.MaxMindID != "" && len(r.MaxMindID) != 8 {
		errs = append(errs, errors.New("maxmind_id must be 8 characters"))
	}
	if r.MinFraudID != "" && !isUUID(r.MinFraudID) {
		errs = append(errs, errors.New("minfraud_id must be a non-nil UUID"))
	}
	return errors.Join(errs...)
}

// isUUID accepts the canonical 8-4-4-4-12 hex form minFraud returns as id,
// except the nil UUID, which MaxMind's clients refuse.
func isUUID(s string) bool {
	if len(s) != 36 || s == "00000000-0000-0000-0000-000000000000" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// header is one request header: its canonical name and its values.
type header struct {
	name  string
	value []string
}

// failure is a call that did not give the expected status.
type failure struct {
	outcome string
	status  int // 0 when no HTTP answer
	err     error
}

// post sends body and returns the answer's body if the status is want. The
// configured timeout bounds the whole exchange, body read included.
func (c *Client) post(ctx context.Context, path string, body []byte, want int, limit int64) ([]byte, *failure) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()

	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint+path, bytes.NewReader(body))
	if err != nil {
		return nil, &failure{outcome: outcomeNetworkError, err: fmt.Errorf("%w: %w", ErrUnavailable, err)}
	}
	// Header.Set would make a one-value slice per header for every order.
	// The values made in New are shared instead: net/http only reads them,
	// and each slice is full (len == cap), so an Add elsewhere would
	// append to a copy, never into the shared array.
	for _, h := range c.headers {
		hreq.Header[h.name] = h.value
	}

	resp, err := c.hc.Do(hreq)
	if err != nil {
		return nil, &failure{outcome: transportOutcome(err), err: fmt.Errorf("%w: %w", ErrUnavailable, err)}
	}
	atEOF := false
	defer func() {
		if !atEOF {
			// Drain a little so that the connection can be reused after
			// an error answer; a larger body is not worth reading.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBytes))
		}
		resp.Body.Close()
	}()

	if resp.StatusCode != want {
		return nil, statusFailure(resp)
	}
	raw, err := readBody(resp.Body, resp.ContentLength, limit)
	if err != nil {
		return nil, &failure{outcome: transportOutcome(err), status: resp.StatusCode,
			err: fmt.Errorf("%w: reading answer: %w", ErrUnavailable, err)}
	}
	if int64(len(raw)) > limit {
		return nil, &failure{outcome: outcomeBadResponse, status: resp.StatusCode,
			err: fmt.Errorf("%w: answer larger than %d bytes", ErrUnavailable, limit)}
	}
	atEOF = true // readBody stopped at the body's end, not at the limit
	return raw, nil
}

// readBody reads body as io.ReadAll(io.LimitReader(body, limit+1)) does:
// all of it, or limit+1 bytes to tell a larger one. With a length (the
// Content-Length, -1 when unknown) within the limit, the buffer is made
// that size at once, one byte more for the read that finds the end:
// io.ReadAll reads into growing chunks and copies them into a final
// slice, four allocations for a Score answer of about 650 bytes. A length
// that is wrong costs growing the buffer, not a different result.
func readBody(body io.Reader, length, limit int64) ([]byte, error) {
	if length < 0 || length > limit {
		return io.ReadAll(io.LimitReader(body, limit+1))
	}
	// A LimitedReader of its own, read by its method, stays on the stack.
	r := io.LimitedReader{R: body, N: limit + 1}
	b := make([]byte, 0, length+1)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // told too little: let append grow it
		}
	}
}

func transportOutcome(err error) string {
	if errors.Is(err, context.Canceled) {
		return outcomeCanceled
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return outcomeTimeout
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return outcomeTimeout
	}
	return outcomeNetworkError
}

// statusFailure classifies an error answer. MaxMind's error body is a JSON
// object {"code", "error"} sent with a JSON content type; many 5xx and
// proxy errors have no such body, so it is optional.
func statusFailure(resp *http.Response) *failure {
	ae := &APIError{Status: resp.StatusCode}
	if strings.Contains(resp.Header.Get("Content-Type"), "json") {
		var body struct {
			Code  string `json:"code"`
			Error string `json:"error"`
		}
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
		if json.Unmarshal(raw, &body) == nil {
			ae.Code = sanitizeCode(body.Code)
			ae.Message = sanitizeMessage(body.Error)
		}
	}

	outcome := outcomeUnexpectedStatus
	switch ae.Code {
	case "ACCOUNT_ID_REQUIRED", "ACCOUNT_ID_UNKNOWN", "AUTHORIZATION_INVALID", "LICENSE_KEY_REQUIRED", "USER_ID_REQUIRED":
		outcome = outcomeAuthError
	case "INSUFFICIENT_FUNDS":
		outcome = outcomeInsufficientFunds
	case "PERMISSION_REQUIRED":
		outcome = outcomePermissionDenied
	default:
		switch s := resp.StatusCode; {
		case s == http.StatusBadRequest:
			return &failure{outcome: outcomeInvalidRequest, status: s, err: fmt.Errorf("%w: %w", ErrInvalidRequest, ae)}
		case s == http.StatusUnauthorized:
			outcome = outcomeAuthError
		case s == http.StatusPaymentRequired:
			outcome = outcomeInsufficientFunds
		case s == http.StatusForbidden:
			outcome = outcomePermissionDenied
		case s >= 500:
			outcome = outcomeServerError
		}
	}
	return &failure{outcome: outcome, status: resp.StatusCode, err: fmt.Errorf("%w: %w", ErrUnavailable, ae)}
}

// sanitizeCode keeps MaxMind's code if it looks like one (UPPER_SNAKE, short),
// since it ends up in logs and errors verbatim.
func sanitizeCode(s string) string {
	if len(s) > 64 {
		return "INVALID_CODE"
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return "INVALID_CODE"
		}
	}
	return s
}

func (c *Client) succeed(service string, start time.Time) {
	c.requests.WithLabelValues(service, outcomeOK).Inc()
	c.duration.WithLabelValues(service).Observe(time.Since(start).Seconds())
}

// fail records and logs a failed call once and returns err.
func (c *Client) fail(ctx context.Context, service string, start time.Time, outcome string, status int, err error, attrs []slog.Attr) error {
	elapsed := time.Since(start)
	c.requests.WithLabelValues(service, outcome).Inc()
	c.duration.WithLabelValues(service).Observe(elapsed.Seconds())

	level := slog.LevelWarn
	switch outcome {
	case outcomeAuthError, outcomeInsufficientFunds, outcomePermissionDenied:
		level = slog.LevelError // an operator must fix the account
	case outcomeCanceled:
		level = slog.LevelDebug // our caller gave up; not minFraud's failure
	}
	var code string
	if ae, ok := errors.AsType[*APIError](err); ok {
		code = ae.Code
	}
	c.logger.LogAttrs(ctx, level, "minfraud call failed", append(attrs,
		slog.String("outcome", outcome), slog.Int("status", status), slog.String("code", code),
		slog.Duration("elapsed", elapsed), slog.String("error", err.Error()))...)
	return err
}
