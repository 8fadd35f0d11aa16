package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/audit"
	"github.com/vpsgate/gateway/gateway"
	"github.com/vpsgate/gateway/geoblock"
	"github.com/vpsgate/gateway/internal/auth"
	"github.com/vpsgate/gateway/internal/config"
	"github.com/vpsgate/gateway/internal/emailverify"
	"github.com/vpsgate/gateway/internal/embedded"
	"github.com/vpsgate/gateway/internal/events"
	"github.com/vpsgate/gateway/internal/logctx"
	"github.com/vpsgate/gateway/internal/mail"
	"github.com/vpsgate/gateway/kyc"
	"github.com/vpsgate/gateway/orders"
	"github.com/vpsgate/gateway/screening"
	"github.com/vpsgate/gateway/screening/blocklist"
	"github.com/vpsgate/gateway/screening/ident"
	"github.com/vpsgate/gateway/screening/minfraud"
	"github.com/vpsgate/gateway/screening/velocity"
	"github.com/vpsgate/gateway/webhooks"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

func versionCmd(ctx context.Context, e *cmdEnv) error {
	if err := e.parse(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "gateway %s\n", versionString())
	return nil
}

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		v += " (" + bi.GoVersion + ")"
	}
	return v
}

func checkConfigCmd(ctx context.Context, e *cmdEnv) error {
	if err := e.parse(); err != nil {
		return err
	}
	cfg, err := config.Load(*e.configPath, e.env)
	if err != nil {
		return err
	}
	src := *e.configPath
	if src == "" {
		src = "built-in defaults"
	}
	fmt.Fprintf(e.stdout, "configuration OK (%s)\n", src)
	if emb := cfg.Embedded(); emb.Any() {
		fmt.Fprintf(e.stdout, "embedded: %s\n", strings.Join(embeddedList(emb), ", "))
	}
	for _, line := range screening.DescribeRoutes(cfg.Intercept) {
		fmt.Fprintf(e.stdout, "screened checkout: %s\n", line)
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(e.stderr, "WARNING: %s\n", w)
	}
	return nil
}

// newLogger builds the one logger: JSON (or text) on stderr, with the
// request's attributes added from the context.
func newLogger(w io.Writer, cfg config.LogConfig) *slog.Logger {
	level, _ := cfg.SlogLevel() // validated
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if cfg.Format == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(logctx.NewHandler(h))
}

// serveCmd runs the gateway until the context is cancelled (SIGINT/SIGTERM).
// It reads as the request flow's wiring: each step opens or builds one part
// from the ones before it, and whatever a step opens is pushed on one stack
// of closers, run in reverse order on every way out (after the servers have
// stopped, or when a later step fails).
func serveCmd(ctx context.Context, e *cmdEnv) error {
	if err := e.parse(); err != nil {
		return err
	}
	cfg, err := config.Load(*e.configPath, e.env)
	if err != nil {
		return err
	}
	logger := newLogger(e.stderr, cfg.Log)
	logger.Info("starting", "version", versionString(), "config", cfg.Redacted())
	for _, w := range cfg.Warnings() {
		logger.Warn("dangerous configuration", "risk", w.Name, "key", w.Key, "value", w.Value, "detail", w.Message, "acknowledged", w.Refused)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	emb := cfg.Embedded()

	var cl closers
	defer cl.close()

	st, err := openStores(ctx, cfg, emb, logger, &cl)
	if err != nil {
		return err
	}
	geo, err := openGeoIP(cfg, emb, logger, reg, &cl)
	if err != nil {
		return err
	}
	geoPolicy, err := geoblock.NewPolicy(cfg.Geoblock)
	if err != nil {
		return fmt.Errorf("compiling geo policy: %w", err)
	}
	target, err := openUpstream(ctx, cfg, emb, logger, &cl)
	if err != nil {
		return err
	}
	sc, err := buildScreening(cfg, st.rdb, geo, geoPolicy, logger, reg)
	if err != nil {
		return err
	}
	// Embedded mode makes up an API key and a JWT secret (for the demo
	// admin token) before anything that signs with it is built.
	demo, err := demoCredentials(cfg, emb)
	if err != nil {
		return err
	}
	devPassword, err := devConsoleAdmin(cfg, emb)
	if err != nil {
		return err
	}
	// Mail and email verification come before the order lifecycle, which
	// links to the verification page and has the relay request the mail.
	// The lifecycle is told of verified emails through lc, set just below
	// and before anything is served.
	var lc *lifecycle
	mailer, verify, err := buildMail(cfg, emb, st.rdb, logger, reg, emailVerifiedFunc(func(ctx context.Context, owner, accountID, email, actor string) error {
		return lc.orders.EmailVerified(ctx, owner, accountID, email, actor)
	}))
	if err != nil {
		return err
	}
	kycSvc, err := buildKYC(cfg, emb, st, mailer, logger, reg, &lc)
	if err != nil {
		return err
	}
	if lc, err = buildOrders(cfg, emb, st, sc, verify, kycSvc, logger); err != nil {
		return err
	}
	if lc.webhooks, err = buildWebhooks(ctx, cfg, st.rdb, logger, reg); err != nil {
		return err
	}
	routes := cfg.Intercept
	if len(routes) == 0 && emb.Upstream {
		routes = screening.DemoInterceptRoutes()
	}
	gw, err := buildGateway(cfg, st, geo, geoPolicy, target, routes, sc, lc, mailer, verify, kycSvc, logger, reg)
	if err != nil {
		return err
	}
	startBackground(ctx, &cl, st, geo, mailer, lc)
	startKYC(ctx, &cl, kycSvc)

	if err := gw.Listen(); err != nil {
		return err
	}
	printBanner(e.stderr, cfg, emb, gw, target, routes, demo)
	printConsole(e.stderr, cfg, gw, devPassword)
	return gw.Serve(ctx)
}

// closers is the one stack of things to close when serve ends.
type closers []func()

func (c *closers) push(f func()) { *c = append(*c, f) }

// close runs the closers in reverse order: a part is closed before the
// parts it was built on.
func (c *closers) close() {
	for i := len(*c) - 1; i >= 0; i-- {
		(*c)[i]()
	}
	*c = nil
}

// goRun runs run in a goroutine until ctx ends or the returned stop is
// called; stop waits until run has returned.
func goRun(ctx context.Context, run func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); run(ctx) }()
	return func() { cancel(); <-done }
}

// stores is the shared state: Redis (counters, orders, queues), S3 (KYC
// documents, the audit archive) and the audit log over both.
type stores struct {
	rdb      redis.UniversalClient
	s3       *kyc.Store
	audit    *audit.Log
	archiver *audit.Archiver
}

// openStores opens Redis and S3, each embedded when not configured.
func openStores(ctx context.Context, cfg *config.Config, emb config.Embedded, logger *slog.Logger, cl *closers) (*stores, error) {
	if emb.Redis {
		srv, err := embedded.StartRedis(ctx, logger)
		if err != nil {
			return nil, err
		}
		cl.push(srv.Close)
		cfg.Redis.URL = srv.URL()
	}
	ropts, err := cfg.Redis.UniversalOptions()
	if err != nil {
		return nil, fmt.Errorf("redis options: %w", err)
	}
	rdb := redis.NewUniversalClient(ropts)
	cl.push(func() { _ = rdb.Close() })
	if err := rdb.Ping(ctx).Err(); err != nil {
		logger.Warn("redis not reachable at start; will keep trying", "error", err)
	}

	// The embedded S3 server keeps its files under data_dir.
	if emb.S3 {
		srv, err := embedded.StartS3(ctx, filepath.Join(cfg.DataDir, "s3"), logger)
		if err != nil {
			return nil, err
		}
		cl.push(srv.Close)
		cfg.S3.Endpoint, cfg.S3.AccessKey, cfg.S3.SecretKey, cfg.S3.Secure = srv.Endpoint(), srv.AccessKey(), srv.SecretKey(), false
	}
	store, err := kyc.OpenStore(ctx, cfg.S3, logger)
	if err != nil {
		return nil, err
	}

	// Audit log: a hash chain in Redis, archived to S3 by whichever
	// process holds the archiver's lease.
	auditLog, err := audit.New(rdb, cfg.Screening.KeyPrefix, logger)
	if err != nil {
		return nil, err
	}
	archiver := audit.NewArchiver(auditLog, store.Client(), cfg.Audit, time.Now, logger)
	return &stores{rdb: rdb, s3: store, audit: auditLog, archiver: archiver}, nil
}

// openGeoIP opens the country database (and optional anonymous-IP and ASN
// databases). The bundled demo database stands in when none is configured.
func openGeoIP(cfg *config.Config, emb config.Embedded, logger *slog.Logger, reg prometheus.Registerer, cl *closers) (*geoblock.DB, error) {
	var bundled []byte
	if emb.GeoIP {
		bundled = embedded.GeoIPCountryDB()
	}
	geo, err := geoblock.OpenDB(cfg.GeoIP, bundled, logger, reg)
	if err != nil {
		return nil, fmt.Errorf("opening GeoIP databases: %w", err)
	}
	cl.push(func() { _ = geo.Close() })
	return geo, nil
}

// openUpstream returns the storefront's URL, starting the demo storefront
// when none is configured.
func openUpstream(ctx context.Context, cfg *config.Config, emb config.Embedded, logger *slog.Logger, cl *closers) (*url.URL, error) {
	upstream := cfg.Upstream
	if emb.Upstream {
		shop, ln, err := embedded.ListenStorefront(ctx, "127.0.0.1:0", logger)
		if err != nil {
			return nil, err
		}
		cl.push(func() { _ = shop.Close() })
		upstream = "http://" + ln.Addr().String()
	}
	target, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("parsing upstream: %w", err)
	}
	return target, nil
}

// scoring is screening's parts: keyed hashes, velocity counters and
// blocklists in Redis, minFraud when configured, and the screener that
// runs the rules over the signals.
type scoring struct {
	counter  *velocity.Counter
	blocks   *blocklist.List
	fraud    *minfraud.Client
	screener *screening.Screener
}

func buildScreening(cfg *config.Config, rdb redis.UniversalClient, geo *geoblock.DB, geoPolicy *geoblock.Policy, logger *slog.Logger, reg prometheus.Registerer) (*scoring, error) {
	hasher, err := ident.NewHasher([]byte(cfg.Screening.HashKey))
	if err != nil {
		return nil, fmt.Errorf("screening.hash_key: %w", err)
	}
	counter, err := velocity.New(cfg.Screening.Velocity, rdb, hasher)
	if err != nil {
		return nil, fmt.Errorf("building velocity counters: %w", err)
	}
	emailRules, err := cfg.Screening.EmailRules()
	if err != nil {
		return nil, fmt.Errorf("screening.email_normalization: %w", err)
	}
	s := &scoring{counter: counter, blocks: blocklist.New(rdb, hasher, cfg.Screening.KeyPrefix+"bl:", emailRules)}
	if cfg.MinFraud.Enabled() {
		if s.fraud, err = minfraud.New(cfg.MinFraud, nil, logger, reg); err != nil {
			return nil, fmt.Errorf("building minFraud client: %w", err)
		}
	}
	s.screener, err = screening.New(cfg.Screening, screening.Deps{
		Locator:   gateway.GeoLocator{DB: geo},
		Policy:    geoPolicy,
		Velocity:  counter,
		Blocklist: s.blocks,
		MinFraud:  minfraudScorer(s.fraud),
		Redis:     rdb,
	}, logger, reg)
	if err != nil {
		return nil, fmt.Errorf("building screener: %w", err)
	}
	return s, nil
}

// buildMail builds the mail outbox (SMTP, or the development outbox
// without smtp.url) and email verification, which queues its mail there
// and tells the order lifecycle (verified) of verified emails.
func buildMail(cfg *config.Config, emb config.Embedded, rdb redis.UniversalClient, logger *slog.Logger, reg prometheus.Registerer, verified emailVerifiedFunc) (*mailParts, *emailverify.Service, error) {
	mailer, err := openMail(cfg, rdb, logger, reg)
	if err != nil {
		return nil, nil, err
	}
	verify, err := openVerification(cfg, emb, rdb, logger, verified, verificationMail{mailer})
	if err != nil {
		return nil, nil, err
	}
	return mailer, verify, nil
}

// lifecycle is the order lifecycle: the orders service that makes order_id
// an idempotency key and commits every state change, and the relay that
// carries its events, audit entries and mail requests out.
type lifecycle struct {
	orders *orders.Service
	relay  *orders.Relay
	// webhooks delivers the events (nil: no endpoint configured).
	webhooks *webhooks.Service
}

func buildOrders(cfg *config.Config, emb config.Embedded, st *stores, sc *scoring, verify *emailverify.Service, kycSvc *kyc.Service, logger *slog.Logger) (*lifecycle, error) {
	policy, err := orders.NewPolicy(cfg.Holds)
	if err != nil {
		return nil, fmt.Errorf("holds: %w", err)
	}
	var links interface {
		VerifyEmailLink(owner, accountID, email string) (string, error)
	}
	if verify != nil {
		links = verify
	}
	var kycLinks interface {
		KYCLink(owner, accountID, name, email string) (string, error)
		KYCEmailLink(owner, emailHash, name, email string) (string, error)
	}
	if kycSvc != nil {
		kycLinks = kycSvc
	}
	svc, err := orders.New(cfg.Screening, st.rdb, orders.Deps{
		Screener:  sc.screener,
		Links:     links,
		KYCLinks:  kycLinks,
		Effects:   orders.ScoringEffects{Velocity: sc.counter, Blocklist: sc.blocks, MinFraud: minfraudReporter(sc.fraud), Logger: logger},
		Policy:    policy,
		Logger:    logger,
		PublicURL: publicURL(cfg, emb),
		Refunds:   cfg.Refunds,
	}, time.Now)
	if err != nil {
		return nil, fmt.Errorf("building orders service: %w", err)
	}
	relay, err := svc.NewRelay(orders.RelayDeps{
		Outbox:    events.New(st.rdb, eventsKey(cfg), outboxLen(cfg)),
		Audit:     orderAudit{st.audit},
		Mailer:    verificationMailer(verify),
		KYCMailer: kycMailer(kycSvc),
		Logger:    logger,
		Consumer:  workerName(),
	})
	if err != nil {
		return nil, err
	}
	return &lifecycle{orders: svc, relay: relay}, nil
}

// buildGateway builds the request flow: client IP, geo-block, the
// gateway's own pages, the screened order routes, the API and the reverse
// proxy to the storefront (gateway.New puts them in order).
func buildGateway(cfg *config.Config, st *stores, geo *geoblock.DB, geoPolicy *geoblock.Policy, target *url.URL, routes []screening.InterceptRoute, sc *scoring, lc *lifecycle, mailer *mailParts, verify *emailverify.Service, kycSvc *kyc.Service, logger *slog.Logger, reg *prometheus.Registry) (*gateway.Gateway, error) {
	authn, err := auth.New(cfg.Auth, time.Now)
	if err != nil {
		return nil, fmt.Errorf("building authenticator: %w", err)
	}
	// Failed authentications are counted in the shared Redis, so that every
	// gateway process enforces one limit per client address.
	authLimit, err := auth.NewLimiter(cfg.Auth, st.rdb, cfg.Screening.KeyPrefix+"authfail:", time.Now, logger, reg)
	if err != nil {
		return nil, fmt.Errorf("building authentication limiter: %w", err)
	}
	authn = authn.WithLimiter(authLimit)
	apiDeps := gateway.APIDeps{Auth: authn, Orders: lc.orders, Blocklist: sc.blocks, Audit: st.audit, Logger: logger}
	apiDeps.Accounts = lc.orders // account standing and refund eligibility (issue 11)
	apiDeps.Links = lc.orders
	if mailer.Dev != nil {
		apiDeps.DevMail = mailer.Dev
	}
	if lc.webhooks != nil {
		apiDeps.Webhooks = lc.webhooks
	}
	kycUpload, err := kycPage(kycSvc)
	if err != nil {
		return nil, err
	}
	if kycSvc != nil {
		apiDeps.KYC = kycSvc
	}
	customer := customerPages(nil, kycUpload)
	if verify != nil {
		page, err := verify.Handler()
		if err != nil {
			return nil, fmt.Errorf("building the email verification page: %w", err)
		}
		customer = customerPages(page, kycUpload)
		apiDeps.Verification = verify
	}
	apiDeps.Console = buildConsole(cfg, st.rdb, lc.orders)
	adminAPI := gateway.NewAPI(apiDeps)
	rdb := st.rdb
	intercept, err := gateway.NewCountingInterceptor(routes, lc.orders, logger, reg)
	if err != nil {
		return nil, err
	}
	return gateway.New(cfg.Config, gateway.Deps{
		Logger:    logger,
		Registry:  reg,
		Upstream:  target,
		AccessLog: cfg.Log.Access,
		Geoblock: func(next http.Handler) (http.Handler, error) {
			return geoblock.New(geoPolicy, geo, logger, reg, next)
		},
		Intercept: intercept,
		API:       adminAPI,
		Console:   consoleHandler(apiDeps.Console, adminAPI),
		Ready: []gateway.ReadyCheck{
			{Name: "redis", Check: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }},
			{Name: "s3", Check: st.s3.Ready},
			{Name: "audit", Check: st.archiver.Ready},
			{Name: "geoip", Check: func(context.Context) error { return geo.Ready() }},
		},

		// The geo-block answers its policy page itself; no upgrade passes
		// on the paths it exempts.
		PolicyPath: geoPolicy.PolicyPath(),
		Customer:   customer,
		GeoExempt:  geoPolicy.Exempt,
	})
}

// startBackground starts this process's share of the background work and
// pushes its stops, which run before the closers of what it uses: the
// audit archiver (initializes the chain head first; appends wait for it),
// the GeoIP reloader, the mail worker, the order relay and the hold
// expiry (a lease shared by all processes).
func startBackground(ctx context.Context, cl *closers, st *stores, geo *geoblock.DB, mailer *mailParts, lc *lifecycle) {
	cl.push(goRun(ctx, st.archiver.Run))
	cl.push(goRun(ctx, geo.Run))
	cl.push(goRun(ctx, mailer.Outbox.Run))
	cl.push(goRun(ctx, func(ctx context.Context) { lc.relay.Run(ctx, time.Second) }))
	cl.push(goRun(ctx, func(ctx context.Context) { lc.orders.RunExpiry(ctx, time.Minute, workerName()) }))
	if lc.webhooks != nil {
		cl.push(goRun(ctx, lc.webhooks.Run))
	}
}

// openVerification builds email verification, or nil (with a warning) when
// it cannot make links: no auth.jwt_secret, or no public_url outside
// embedded mode (a link to localhost in a real customer's mailbox helps
// nobody). The order lifecycle (Verifier) and the mail outbox are wired
// when those parts are merged; until then confirming and sending answer
// 503 and change nothing.
func openVerification(cfg *config.Config, emb config.Embedded, rdb redis.UniversalClient, logger *slog.Logger, verifier emailVerifiedFunc, m verificationMail) (*emailverify.Service, error) {
	public := publicURL(cfg, emb)
	if cfg.Auth.JWTSecret == "" || public == "" {
		logger.Warn("email verification is off: set auth.jwt_secret and public_url")
		return nil, nil
	}
	svc, err := emailverify.New(cfg.EmailVerification, emailverify.Deps{
		Redis:     rdb,
		Prefix:    cfg.Screening.KeyPrefix + "verify:",
		Secret:    []byte(cfg.Auth.JWTSecret),
		PublicURL: public,
		Verifier:  verifier,
		Outbox:    m,
		Templates: m,
		Logger:    logger,
		Now:       time.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("building email verification: %w", err)
	}
	return svc, nil
}

func embeddedList(emb config.Embedded) []string {
	var parts []string
	if emb.Redis {
		parts = append(parts, "redis (in-process, memory only)")
	}
	if emb.S3 {
		parts = append(parts, "s3 (in-process, files under data_dir)")
	}
	if emb.GeoIP {
		parts = append(parts, "geoip (bundled demo database)")
	}
	if emb.Upstream {
		parts = append(parts, "upstream (demo storefront)")
	}
	if emb.Mail {
		parts = append(parts, "mail (development outbox: nothing is sent; GET /api/v1/dev/mail and the log show it)")
	}
	return parts
}

// printBanner tells a person what is running where; loud on purpose when
// anything is embedded, because nothing of the embedded Redis survives a
// restart and the demo GeoIP database knows only documentation ranges.
func printBanner(w io.Writer, cfg *config.Config, emb config.Embedded, gw *gateway.Gateway, upstream *url.URL, routes []screening.InterceptRoute, demo *demoCreds) {
	pub := "http://" + hostPort(gw.PublicAddr().String())
	adm := "http://" + hostPort(gw.AdminAddr().String())
	var b strings.Builder
	if emb.Any() {
		b.WriteString("\n==================================================================\n")
		b.WriteString(" EMBEDDED MODE: for trying the gateway out, not for production.\n")
		for _, p := range embeddedList(emb) {
			b.WriteString("   - " + p + "\n")
		}
		if emb.Redis {
			b.WriteString(" Redis state (counters, orders, sessions) is LOST on exit.\n")
		}
		if emb.S3 {
			fmt.Fprintf(&b, " Files persist only under %s.\n", cfg.DataDir)
		}
		b.WriteString(" Set redis.url, s3.*, geoip.country_db and upstream for production.\n")
		b.WriteString("==================================================================\n")
	}
	if ws := cfg.Warnings(); len(ws) > 0 {
		b.WriteString("\n!!! DANGEROUS CONFIGURATION:\n")
		for _, w := range ws {
			b.WriteString("!!!   " + w.String() + "\n")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, " storefront (public):  %s/\n", pub)
	fmt.Fprintf(&b, " upstream:             %s\n", upstream)
	fmt.Fprintf(&b, " health:               %s/healthz  %s/readyz\n", adm, adm)
	fmt.Fprintf(&b, " metrics:              %s/metrics\n", adm)
	fmt.Fprintf(&b, " order API:            %s/api/v1/orders\n", adm)
	if emb.Mail {
		fmt.Fprintf(&b, " development mail:     %s/api/v1/dev/mail (officer)\n", adm)
	}
	for _, line := range screening.DescribeRoutes(routes) {
		fmt.Fprintf(&b, " screened checkout:    %s%s\n", pub, line)
	}
	if demo != nil {
		fmt.Fprintf(&b, " demo credentials:     %s (source it: . %s)\n", demo.File, demo.File)
	}
	for _, k := range cfg.Generated() {
		fmt.Fprintf(&b, " generated secret:     %s (random per start; set it for production)\n", k)
	}
	b.WriteString("\n")
	_, _ = io.WriteString(w, b.String())
}

// hostPort turns ":8080" or "[::]:8080" into something a person can click.
func hostPort(addr string) string {
	for _, wildcard := range []string{"[::]:", "0.0.0.0:"} {
		if rest, ok := strings.CutPrefix(addr, wildcard); ok {
			return "localhost:" + rest
		}
	}
	return addr
}

// demoStorefrontCmd runs only the demo storefront, for docker-compose, where
// it stands in for the seller's shop behind the gateway.
func demoStorefrontCmd(ctx context.Context, e *cmdEnv) error {
	listen := e.flags.String("listen", "127.0.0.1:8090", "`address` to serve the demo storefront on")
	if err := e.parse(); err != nil {
		return err
	}
	cfg, err := config.Load(*e.configPath, e.env)
	if err != nil {
		return err
	}
	logger := newLogger(e.stderr, cfg.Log)
	if _, _, err := embedded.ListenStorefront(ctx, *listen, logger); err != nil {
		return err
	}
	// ListenStorefront shuts the server down when ctx ends.
	<-ctx.Done()
	return nil
}

// workerName names this process among the gateway processes sharing Redis
// (relay consumer, expiry lease holder).
func workerName() string {
	host, _ := os.Hostname()
	return host + ":" + strconv.Itoa(os.Getpid())
}

// customerPages serves the gateway's own pages under /_gateway/ on the
// public side, each at its exact path (no ServeMux: it would redirect
// other spellings rather than refuse them): the KYC upload page and the
// email verification page when they are on, 404 for anything else.
func customerPages(verifyPage, kycUpload http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == kyc.PagePath && kycUpload != nil:
			kycUpload.ServeHTTP(w, r)
			return
		case r.URL.Path == emailverify.PagePath && verifyPage != nil:
			verifyPage.ServeHTTP(w, r)
			return
		}
		http.Error(w, "There is no page at this address.", http.StatusNotFound)
	})
}

// orderAudit hands the order relay's audit entries to the audit log (the
// relay delivers at least once; Append is idempotent by entry id).
type orderAudit struct{ log *audit.Log }

func (a orderAudit) Append(ctx context.Context, e orders.AuditEntry) error {
	_, err := a.log.Append(ctx, auditEntry(e))
	return err
}

// AppendBatch appends a relay batch's entries in one compare-and-set.
// Their documents are json.Marshal's output (the orders package encodes
// them when it commits and the relay carries them byte for byte), so the
// log takes them without scanning them as JSON again
// (AppendBatchMarshaled); a batch that fails is appended one by one
// through Append, which checks everything.
func (a orderAudit) AppendBatch(ctx context.Context, es []orders.AuditEntry) error {
	batch := make([]audit.Entry, len(es))
	for i, e := range es {
		batch[i] = auditEntry(e)
	}
	_, err := a.log.AppendBatchMarshaled(ctx, batch)
	return err
}

func auditEntry(e orders.AuditEntry) audit.Entry {
	return audit.Entry{
		ID: e.ID, Time: e.Time, Actor: e.Actor, Action: e.Action, Order: e.Order,
		Account: e.Account, Addr: e.Addr, Before: e.Before, After: e.After,
	}
}

// emailVerifiedFunc tells the order lifecycle that a customer verified an
// email (emailverify's Verifier).
type emailVerifiedFunc func(ctx context.Context, owner, accountID, email, actor string) error

func (f emailVerifiedFunc) EmailVerified(ctx context.Context, owner, accountID, email, actor string) error {
	return f(ctx, owner, accountID, email, actor)
}

// verificationMail is the mail package seen from emailverify: its
// verification message goes into the mail outbox, rendered by the mail
// templates (which take the link and its lifetime).
type verificationMail struct{ m *mailParts }

func (v verificationMail) Enqueue(ctx context.Context, m emailverify.Message) error {
	return v.m.Outbox.Enqueue(ctx, mail.Message(m))
}

func (v verificationMail) Render(name string, data any) (subject, text, html string, err error) {
	if d, ok := data.(emailverify.MailData); ok {
		data = mail.VerifyEmail{Link: d.Link, Expires: d.TTL}
	}
	return v.m.Templates.Render(name, data)
}

// verificationMailer is the relay's mailer: none when email verification
// is off (the relay then requests no mail, and the answer has no link).
func verificationMailer(v *emailverify.Service) interface {
	SendVerification(ctx context.Context, owner, accountID, email, ref string) error
} {
	if v == nil {
		return nil
	}
	return v
}

// publicURL is how customers reach the public side, for the links in mail
// and answers: public_url, or in embedded mode the local listener.
func publicURL(cfg *config.Config, emb config.Embedded) string {
	if cfg.PublicURL != "" || !emb.Redis {
		return cfg.PublicURL
	}
	host := hostPort(cfg.Listen)
	if strings.HasPrefix(host, ":") {
		host = "localhost" + host
	}
	return "http://" + host
}
