package geoblock

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vpsgate/gateway/internal/testenv"
)

// MaxMind's test databases, copied into testdata/ (see testdata/README.md).
const (
	maxmindDir    = "testdata/"
	geoIP2Country = maxmindDir + "GeoIP2-Country-Test.mmdb"
	geoLite2Cntry = maxmindDir + "GeoLite2-Country-Test.mmdb"
	geoIP2City    = maxmindDir + "GeoIP2-City-Test.mmdb"
	geoLite2City  = maxmindDir + "GeoLite2-City-Test.mmdb"
	geoIP2Ent     = maxmindDir + "GeoIP2-Enterprise-Test.mmdb"
	anonymousIPDB = maxmindDir + "GeoIP2-Anonymous-IP-Test.mmdb"
	asnDB         = maxmindDir + "GeoLite2-ASN-Test.mmdb"
	ispDB         = maxmindDir + "GeoIP2-ISP-Test.mmdb"
)

// geoWhoisDB and ipToASNDB write small databases in the format of the free
// ip-location-db files (flat country_code records, no IPv4 aliases) with
// the answers the real ones give for the addresses the tests ask about. The
// real 13 MB files stay outside the repository, read by benchmarks only
// (testenv.SharedTestdata).
func geoWhoisDB(t testing.TB) string {
	t.Helper()
	return writeTemp(t, testenv.FlatCountryDB(t, testenv.GeoWhoisNetworks(), 0))
}

func ipToASNDB(t testing.TB) string {
	t.Helper()
	return writeTemp(t, testenv.FlatCountryDB(t, testenv.IPToASNNetworks(), 0))
}

func openDB(t testing.TB, cfg GeoIPConfig) *DB {
	t.Helper()
	d, err := OpenDB(cfg, nil, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("OpenDB(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// copyFile copies src into dir under name and returns the path.
func copyFile(t testing.TB, src, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, name)
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// replace puts the content of src at dst the way geoipupdate does: write
// a temporary file next to it, then rename it over dst.
func replace(t testing.TB, src []byte, dst string) {
	t.Helper()
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, src, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// buildDB writes a small database whose records are given per network, to
// cover schemas the shared test data lacks (IPinfo, odd values).
func buildDB(t testing.TB, ipVersion int, dbType string, recs map[string]mmdbtype.DataType) []byte {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            dbType,
		IPVersion:               ipVersion,
		RecordSize:              24,
		IncludeReservedNetworks: true,
		BuildEpoch:              1767225600,
	})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, v := range recs {
		p := netip.MustParsePrefix(cidr)
		n := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
		if err := tree.Insert(n, v); err != nil {
			t.Fatalf("insert %s: %v", cidr, err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeTemp(t testing.TB, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "db.mmdb")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// logBuffer is a concurrency-safe log sink for asserting on log lines.
type logBuffer struct {
	testenv.Buffer
}

func (l *logBuffer) count(substr string) int { return strings.Count(l.String(), substr) }

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// metricValue returns the value of the series of name with exactly labels,
// or -1 when there is none.
func metricValue(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			return value(m)
		}
	}
	return -1
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return -1
}

// seriesCount counts the series of a metric family.
func seriesCount(t testing.TB, reg *prometheus.Registry, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

func cleanPath(p string) string { return path.Clean(p) }
