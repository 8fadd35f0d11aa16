package geoblock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2/mmdbdata"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpsgate/gateway/internal/iso3166"
)

// ErrUnavailable is returned by lookups on a closed DB.
var ErrUnavailable = errors.New("geoip database unavailable")

// Location is what the country database says about an address.
type Location struct {
	// Country is the upper-case code the policy reads: country.iso_code,
	// the flat country_code (ip-location-db, IPinfo Lite) or IPinfo's
	// two-letter country string, falling back to registered_country.iso_code.
	// Empty when the record has none of them.
	Country string
	// RegisteredCountry is registered_country.iso_code (GeoIP2 only).
	RegisteredCountry string
	// Found reports whether the database has a record for the address.
	Found bool
}

// AnonymousIP is a GeoIP2 Anonymous IP record. The zero value means "not
// anonymous", which is also the answer without an anonymous IP database.
type AnonymousIP struct {
	IsAnonymous        bool `maxminddb:"is_anonymous" json:"is_anonymous"`
	IsAnonymousVPN     bool `maxminddb:"is_anonymous_vpn" json:"is_anonymous_vpn"`
	IsHostingProvider  bool `maxminddb:"is_hosting_provider" json:"is_hosting_provider"`
	IsPublicProxy      bool `maxminddb:"is_public_proxy" json:"is_public_proxy"`
	IsResidentialProxy bool `maxminddb:"is_residential_proxy" json:"is_residential_proxy"`
	IsTorExitNode      bool `maxminddb:"is_tor_exit_node" json:"is_tor_exit_node"`
}

// ASN is an autonomous system record; the zero value means unknown.
type ASN struct {
	Number uint32 `maxminddb:"autonomous_system_number" json:"number"`
	Org    string `maxminddb:"autonomous_system_organization" json:"org"`
}

type dbKind int

const (
	kindCountry dbKind = iota
	kindAnonymous
	kindASN
)

func (k dbKind) String() string {
	switch k {
	case kindAnonymous:
		return "anonymous_ip"
	case kindASN:
		return "asn"
	}
	return "country"
}

// DB holds the GeoIP databases and keeps them current. Each database is an
// atomic pointer to a reference-counted generation: a lookup takes a
// reference, a reload swaps in a new generation and drops the old one's base
// reference, and the old reader is closed (unmapped) by whichever of them
// lets go last. No lookup ever reads a closed reader, and lookups never
// wait for a reload.
type DB struct {
	logger   *slog.Logger
	interval time.Duration
	maxAge   time.Duration
	now      func() time.Time
	country  *dbFile
	anon     *dbFile // nil when not configured
	asn      *dbFile // nil when not configured
	metrics  *dbMetrics
}

type dbFile struct {
	kind dbKind
	path string // "" for the bundled database (never reloaded)
	cur  atomic.Pointer[generation]

	mu       sync.Mutex // serializes loads and Close; guards the fields below
	seen     fileID     // identity of the file last loaded or refused
	statErr  string     // last stat error logged, to log it once
	isClosed bool
}

type generation struct {
	r      *maxminddb.Reader
	mapped bool // backed by a memory-mapped file
	refs   atomic.Int64
}

func newGeneration(r *maxminddb.Reader, mapped bool) *generation {
	g := &generation{r: r, mapped: mapped}
	g.refs.Store(1) // the reference held by dbFile.cur
	return g
}

// tryAcquire takes a reference unless the generation is already released.
func (g *generation) tryAcquire() bool {
	for {
		n := g.refs.Load()
		if n <= 0 {
			return false
		}
		if g.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a reference and closes the reader with the last one.
func (g *generation) release() error {
	if g.refs.Add(-1) == 0 {
		return g.r.Close()
	}
	return nil
}

func (f *dbFile) acquire() *generation {
	for {
		g := f.cur.Load()
		if g == nil {
			return nil
		}
		if g.tryAcquire() {
			return g
		}
		// Swapped out and drained between Load and tryAcquire: the current
		// pointer has already moved on, so load it again.
	}
}

// OpenDB opens the configured databases. An empty cfg.CountryDB uses
// bundled (the demo database's bytes). A file that cannot be opened or does
// not hold the kind of records its key asks for is an error. Metrics are
// registered with reg when it is not nil. Call Run to follow file changes
// and Close when done.
func OpenDB(cfg GeoIPConfig, bundled []byte, logger *slog.Logger, reg prometheus.Registerer) (_ *DB, err error) {
	cfg.SetDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := newDBMetrics(reg)
	if err != nil {
		return nil, err
	}
	d := &DB{
		logger:   logger,
		interval: cfg.ReloadInterval,
		maxAge:   cfg.MaxAge,
		now:      time.Now,
		metrics:  m,
		country:  &dbFile{kind: kindCountry, path: cfg.CountryDB},
	}
	if cfg.AnonymousIPDB != "" {
		d.anon = &dbFile{kind: kindAnonymous, path: cfg.AnonymousIPDB}
	}
	if cfg.ASNDB != "" {
		d.asn = &dbFile{kind: kindASN, path: cfg.ASNDB}
	}
	defer func() {
		if err != nil {
			// Leave nothing behind, so that a retry on the same registry works.
			d.Close()
			m.unregister(reg)
		}
	}()

	if cfg.CountryDB == "" {
		if len(bundled) == 0 {
			return nil, errors.New("opening country database: no geoip.country_db and no bundled database")
		}
		r, err := maxminddb.OpenBytes(bundled)
		if err != nil {
			return nil, fmt.Errorf("opening bundled country database: %w", err)
		}
		if err := checkShape(r, kindCountry); err != nil {
			return nil, fmt.Errorf("opening bundled country database: %w", err)
		}
		d.country.cur.Store(newGeneration(r, false))
		d.observe(d.country, r)
	}
	for _, f := range d.files() {
		if f.path == "" {
			continue
		}
		f.mu.Lock()
		_, err := d.load(f)
		f.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (d *DB) files() []*dbFile {
	out := []*dbFile{d.country}
	if d.anon != nil {
		out = append(out, d.anon)
	}
	if d.asn != nil {
		out = append(out, d.asn)
	}
	return out
}

// statError is a file that cannot even be stat'ed (deleted, permissions).
type statError struct{ err error }

func (e *statError) Error() string { return e.err.Error() }
func (e *statError) Unwrap() error { return e.err }

// errFileMoving means the file changed while it was being opened.
var errFileMoving = errors.New("file changed while being opened")

// load opens f.path when it differs from what was last seen, checks it, and
// swaps it in. The caller holds f.mu. changed reports a swap.
func (d *DB) load(f *dbFile) (changed bool, err error) {
	for attempt := 0; ; attempt++ {
		changed, err = d.loadOnce(f)
		// A file being replaced under us is retried a few times right away
		// (at start-up there is no older generation to fall back on).
		if !errors.Is(err, errFileMoving) || attempt == 2 {
			return changed, err
		}
	}
}

func (d *DB) loadOnce(f *dbFile) (bool, error) {
	before, err := statID(f.path)
	if err != nil {
		return false, &statError{fmt.Errorf("checking %s database %s: %w", f.kind, f.path, err)}
	}
	if before == f.seen {
		return false, nil
	}
	r, err := maxminddb.Open(f.path)
	if err != nil {
		f.seen = before // refuse this version until the file changes again
		return false, fmt.Errorf("opening %s database %s: %w", f.kind, f.path, err)
	}
	if after, err := statID(f.path); err != nil || after != before {
		r.Close()
		return false, fmt.Errorf("opening %s database %s: %w", f.kind, f.path, errFileMoving)
	}
	if err := checkShape(r, f.kind); err != nil {
		r.Close()
		f.seen = before
		return false, fmt.Errorf("opening %s database %s: %w", f.kind, f.path, err)
	}
	f.seen = before
	if old := f.cur.Swap(newGeneration(r, true)); old != nil {
		old.release()
	}
	d.observe(f, r)
	return true, nil
}

// observe records a newly loaded database in the metrics and warns when
// its build is older than max_age. The bundled demo database has a fixed,
// old build date on purpose and is not warned about.
func (d *DB) observe(f *dbFile, r *maxminddb.Reader) {
	md := r.Metadata
	d.metrics.buildEpoch.DeletePartialMatch(prometheus.Labels{"db": f.kind.String()})
	d.metrics.buildEpoch.WithLabelValues(f.kind.String(), md.DatabaseType).Set(float64(md.BuildEpoch))
	built := md.BuildTime()
	if age := d.now().Sub(built); f.path != "" && age > d.maxAge {
		d.logger.Warn("geoip database is older than max_age",
			"db", f.kind.String(), "path", f.path, "type", md.DatabaseType,
			"build_time", built.UTC(), "age", age.Round(time.Hour).String(), "max_age", d.maxAge.String())
	}
	d.logger.Info("geoip database loaded",
		"db", f.kind.String(), "path", f.path, "type", md.DatabaseType, "build_time", built.UTC(),
		"ip_version", md.IPVersion, "node_count", md.NodeCount)
}

// Run checks the database files every reload interval and swaps in any that
// changed, until ctx is done. A changed file that cannot be used is refused
// with an error log and the previous database stays in service.
func (d *DB) Run(ctx context.Context) {
	t := time.NewTicker(d.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.reloadIfChanged()
		}
	}
}

// reloadIfChanged is one round of Run; tests call it directly.
func (d *DB) reloadIfChanged() {
	for _, f := range d.files() {
		if f.path == "" {
			continue
		}
		f.mu.Lock()
		if f.isClosed {
			f.mu.Unlock()
			continue
		}
		changed, err := d.load(f)
		// A missing or unreadable file is logged when it becomes so, not
		// every round; a refused file is logged once per version because
		// load remembers it in f.seen.
		var se *statError
		quiet := false
		if errors.As(err, &se) {
			quiet = f.statErr == se.Error()
			f.statErr = se.Error()
		} else {
			f.statErr = ""
		}
		f.mu.Unlock()

		switch {
		case err != nil && !quiet:
			d.metrics.reloadErrors.WithLabelValues(f.kind.String()).Inc()
			d.logger.Error("geoip database refused, keeping the loaded one",
				"db", f.kind.String(), "path", f.path, "error", err)
		case changed:
			d.metrics.reloads.WithLabelValues(f.kind.String()).Inc()
		}
	}
}

// Close releases the databases. Lookups still running finish on the
// readers they hold; later lookups fail with ErrUnavailable.
func (d *DB) Close() error {
	var errs []error
	for _, f := range d.files() {
		f.mu.Lock()
		f.isClosed = true
		old := f.cur.Swap(nil)
		f.mu.Unlock()
		if old != nil {
			errs = append(errs, old.release())
		}
	}
	return errors.Join(errs...)
}

// Ready reports whether the country database can answer lookups.
func (d *DB) Ready() error {
	if d.country.cur.Load() == nil {
		return fmt.Errorf("country database: %w", ErrUnavailable)
	}
	return nil
}

// Country looks up the country of ip. An IPv4-mapped IPv6 address is looked
// up as IPv4. An address the database does not know gives Found false and
// no error; so does the invalid Addr.
func (d *DB) Country(ip netip.Addr) (Location, error) {
	var rec countryRecord
	found, err := d.country.lookup(ip, &rec)
	if err != nil || !found {
		return Location{}, err
	}
	loc := Location{Country: rec.country, RegisteredCountry: rec.registered, Found: true}
	if rec.flat != "" {
		loc.Country = rec.flat
	}
	if loc.Country == "" {
		loc.Country = rec.registered
	}
	return loc, nil
}

// Anonymous looks up ip in the anonymous IP database. Without one, and for
// addresses it does not list or lists with an empty record, the answer is
// the zero value.
func (d *DB) Anonymous(ip netip.Addr) (AnonymousIP, error) {
	var a AnonymousIP
	if _, err := d.anon.lookup(ip, &a); err != nil {
		return AnonymousIP{}, err
	}
	return a, nil
}

// ASN looks up ip in the ASN database. Without one, and for unknown
// addresses, the answer is the zero value.
func (d *DB) ASN(ip netip.Addr) (ASN, error) {
	var a ASN
	if _, err := d.asn.lookup(ip, &a); err != nil {
		return ASN{}, err
	}
	return a, nil
}

// lookup decodes the record for ip into v. A nil f (database not
// configured) finds nothing.
func (f *dbFile) lookup(ip netip.Addr, v any) (found bool, err error) {
	if f == nil {
		return false, nil
	}
	ip = ip.Unmap()
	if !ip.IsValid() {
		return false, nil
	}
	g := f.acquire()
	if g == nil {
		return false, fmt.Errorf("%s database: %w", f.kind, ErrUnavailable)
	}
	defer g.release()
	if g.r.Metadata.IPVersion == 4 && ip.Is6() {
		return false, nil // an IPv4-only database knows no IPv6 address
	}
	if g.mapped {
		// A file rewritten in place (cp over it, instead of a rename)
		// truncates the mapping under us, and touching it raises SIGBUS.
		// Turn that fault into an error for this lookup instead of a crash;
		// the next reload round picks up the new file.
		prev := debug.SetPanicOnFault(true)
		defer func() {
			debug.SetPanicOnFault(prev)
			if r := recover(); r != nil {
				if _, fault := r.(interface{ Addr() uintptr }); !fault {
					panic(r)
				}
				found, err = false, fmt.Errorf("reading %s database %s: memory fault (was the file overwritten in place instead of renamed?): %v", f.kind, f.path, r)
			}
		}()
	}
	res := g.r.Lookup(ip)
	if err := res.Decode(v); err != nil {
		// No address in the message: it is logged, and logs get client
		// addresses only masked.
		return false, fmt.Errorf("decoding a record of the %s database: %w", f.kind, err)
	}
	return res.Found(), nil
}

// countryRecord decodes only the country codes of a record, whatever its
// schema: GeoIP2 maps (country.iso_code, registered_country.iso_code), the
// flat ip-location-db and IPinfo Lite country_code, and IPinfo's country
// string. Everything else (names in eight languages, continents, traits) is
// skipped without being decoded.
type countryRecord struct {
	country, registered, flat string
}

// UnmarshalMaxMindDBCursor implements mmdbdata.CursorUnmarshaler.
func (c *countryRecord) UnmarshalMaxMindDBCursor(cur mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	m, err := cur.Map()
	if err != nil {
		return mmdbdata.Cursor{}, mmdbdata.NormalizeUnmarshalError[countryRecord](err)
	}
	var next mmdbdata.Cursor
	for {
		key, val, ok := m.Next(next)
		if !ok {
			break
		}
		switch string(key) {
		case "country_code":
			c.flat, next, err = readCode(val)
		case "country":
			c.country, next, err = readCountry(val)
		case "registered_country":
			c.registered, next, err = readCountry(val)
		default:
			next, err = val.Skip()
		}
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return m.End()
}

// readCode reads a two-letter code. Values of other kinds or lengths are
// skipped and give "".
func readCode(val mmdbdata.Cursor) (string, mmdbdata.Cursor, error) {
	kind, err := val.Kind()
	if err != nil {
		return "", mmdbdata.Cursor{}, err
	}
	if kind != mmdbdata.KindString {
		next, err := val.Skip()
		return "", next, err
	}
	s, next, err := val.ReadString()
	if err != nil {
		return "", mmdbdata.Cursor{}, err
	}
	return normCode(s), next, nil
}

// readCountry reads a GeoIP2 country map's iso_code, or a plain string
// (IPinfo's country field, a code in its country file and a name in IPinfo
// Lite, where readCode drops it for not being two letters).
func readCountry(val mmdbdata.Cursor) (string, mmdbdata.Cursor, error) {
	kind, err := val.Kind()
	if err != nil {
		return "", mmdbdata.Cursor{}, err
	}
	if kind != mmdbdata.KindMap {
		return readCode(val)
	}
	m, err := val.Map()
	if err != nil {
		return "", mmdbdata.Cursor{}, err
	}
	var (
		code string
		next mmdbdata.Cursor
	)
	for {
		key, v, ok := m.Next(next)
		if !ok {
			break
		}
		if string(key) == "iso_code" {
			code, next, err = readCode(v)
		} else {
			next, err = v.Skip()
		}
		if err != nil {
			return "", mmdbdata.Cursor{}, err
		}
	}
	end, err := m.End()
	return code, end, err
}

// normCode returns s upper-cased when it is two ASCII letters, else "".
// ISO codes come back as substrings of a constant, so upper-casing a
// lower-case database costs nothing per lookup.
func normCode(s string) string {
	if iso, ok := iso3166.Canonical(s); ok {
		return iso
	}
	if iso3166.Index(s) < 0 {
		return ""
	}
	if s[0] >= 'a' || s[1] >= 'a' {
		return string([]byte{s[0] &^ 0x20, s[1] &^ 0x20})
	}
	return s
}

// probeLimit bounds how many networks checkShape reads looking for one
// record of the expected kind. Real databases have one within the first few.
const probeLimit = 4096

// checkShape refuses a database that does not hold the records its key
// asks for (an ASN file configured as country_db, say). The database_type
// metadata is not trusted for this: third-party files use their own names.
func checkShape(r *maxminddb.Reader, kind dbKind) error {
	n := 0
	for res := range r.Networks() {
		if err := res.Err(); err != nil {
			return fmt.Errorf("reading networks: %w", err)
		}
		ok, err := probe(res, kind)
		if err != nil {
			return fmt.Errorf("decoding record of %s: %w", res.Prefix(), err)
		}
		if ok {
			return nil
		}
		if n++; n >= probeLimit {
			break
		}
	}
	return fmt.Errorf("no %s record in the first %d networks: wrong kind of database (database_type %q)",
		kind, n, r.Metadata.DatabaseType)
}

func probe(res maxminddb.Result, kind dbKind) (bool, error) {
	switch kind {
	case kindAnonymous:
		var p struct {
			A *bool `maxminddb:"is_anonymous"`
			V *bool `maxminddb:"is_anonymous_vpn"`
			H *bool `maxminddb:"is_hosting_provider"`
			P *bool `maxminddb:"is_public_proxy"`
			R *bool `maxminddb:"is_residential_proxy"`
			T *bool `maxminddb:"is_tor_exit_node"`
		}
		err := res.Decode(&p)
		return p.A != nil || p.V != nil || p.H != nil || p.P != nil || p.R != nil || p.T != nil, err
	case kindASN:
		var p struct {
			N *uint32 `maxminddb:"autonomous_system_number"`
		}
		err := res.Decode(&p)
		return p.N != nil, err
	}
	var rec countryRecord
	err := res.Decode(&rec)
	return rec.country != "" || rec.registered != "" || rec.flat != "", err
}

type dbMetrics struct {
	buildEpoch   *prometheus.GaugeVec
	reloads      *prometheus.CounterVec
	reloadErrors *prometheus.CounterVec
}

func newDBMetrics(reg prometheus.Registerer) (*dbMetrics, error) {
	m := &dbMetrics{
		buildEpoch: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_geoip_build_epoch_seconds",
			Help: "Build time of the loaded GeoIP database (metadata build_epoch), by database and database_type.",
		}, []string{"db", "type"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_geoip_reloads_total",
			Help: "GeoIP database files reloaded after a change.",
		}, []string{"db"}),
		reloadErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_geoip_reload_errors_total",
			Help: "Changed GeoIP database files refused (unreadable, corrupt or the wrong kind); the previous one stays.",
		}, []string{"db"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.buildEpoch, m.reloads, m.reloadErrors} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering geoip metrics: %w", err)
		}
	}
	return m, nil
}

// unregister undoes newDBMetrics when OpenDB fails, so that a retry on the
// same registry works.
func (m *dbMetrics) unregister(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	for _, c := range []prometheus.Collector{m.buildEpoch, m.reloads, m.reloadErrors} {
		reg.Unregister(c)
	}
}
