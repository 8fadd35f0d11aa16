package mail

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vpsgate/gateway/internal/testenv"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir and
// returns their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test SMTP server"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestSMTPTransportSecurity: each smtp.url form against a mailpit that
// offers, requires or lacks TLS. Mail goes out only as the URL allows: a
// URL that requires STARTTLS never sends in the clear, and a certificate
// that does not verify gets no mail.
func TestSMTPTransportSecurity(t *testing.T) {
	cert, key, trusted := selfSigned(t, t.TempDir())
	tests := []struct {
		name      string
		server    []string // mailpit flags
		scheme    string   // the URL's, with the server's host:port after it
		query     string
		untrusted bool // the client does not trust the certificate
		sent      bool
	}{
		{name: "smtp, server without TLS", scheme: "smtp://", sent: true},
		{name: "smtp upgrades when offered", server: []string{"--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-starttls"}, scheme: "smtp://", sent: true},
		{name: "smtp+starttls, server without TLS", scheme: "smtp+starttls://", sent: false},
		{name: "starttls=required, server without TLS", scheme: "smtp://", query: "?starttls=required", sent: false},
		{name: "smtp+starttls", server: []string{"--smtp-tls-cert", cert, "--smtp-tls-key", key}, scheme: "smtp+starttls://", sent: true},
		{name: "starttls with an untrusted certificate", server: []string{"--smtp-tls-cert", cert, "--smtp-tls-key", key}, scheme: "smtp://", untrusted: true, sent: false},
		{name: "smtps", server: []string{"--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-tls"}, scheme: "smtps://", sent: true},
		{name: "smtps, server without TLS", scheme: "smtps://", sent: false},
		{name: "auth over STARTTLS", server: []string{"--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-starttls", "--smtp-auth-accept-any"}, scheme: "smtp+starttls://gateway:pa55@", sent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rdb := testenv.RedisClient(t)
			prefix := testenv.KeyPrefix(t)
			mp := testenv.StartMailpit(t, tt.server...)
			s := smtpSender(t, tt.scheme+strings.TrimPrefix(mp.SMTPURL(), "smtp://")+tt.query)
			if !tt.untrusted {
				s.rootCAs = trusted
			}
			w := startWorker(t, rdb, s, testOptions(prefix, time.Minute))
			to := recipient(t, 0)
			if err := w.Enqueue(t.Context(), message("tls", to)); err != nil {
				t.Fatal(err)
			}
			if tt.sent {
				waitFor(t, 20*time.Second, "the mail", received(t, mp.API(), 1, to))
				return
			}
			waitFor(t, 20*time.Second, "failed attempts", func() bool { return testutil.ToFloat64(w.m.failed) >= 2 })
			if got := testenv.MailpitMessages(t, mp.API(), to); len(got) != 0 {
				t.Errorf("mailpit received %d messages; want none", len(got))
			}
		})
	}
}
