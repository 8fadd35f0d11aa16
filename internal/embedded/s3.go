package embedded

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/spf13/afero"
)

// S3 server limits.
const (
	// maxS3Body caps one request body (a PUT or one multipart part), as S3
	// caps a single PUT at 5 GiB.
	maxS3Body = 5 << 30
	// s3ShutdownTimeout bounds Close's graceful wait for in-flight requests.
	s3ShutdownTimeout = 5 * time.Second
)

// S3Server is an in-process S3-compatible server (gofakes3) on a random
// loopback port, keeping objects as files under a directory so that they
// survive a restart:
//
//	DIR/buckets/BUCKET/KEY     object bytes, one file per object
//	DIR/metadata/...           object metadata (content type, ETag, ...)
//	DIR/tmp/                   uploads being verified, removed after each request
//
// Requests must be signed with AWS Signature V4 (header or presigned query)
// using AccessKey and SecretKey, which are random per start: gofakes3 itself
// checks no signature, so the server verifies them in front of it, including
// the per-chunk signatures of streaming uploads and the SHA-256 of signed
// payloads. An upload is written to the store only after its whole body has
// been received and verified, so a failed upload never replaces an object.
//
// Known limits (of gofakes3 and its file backend): no versioning; an object
// "a" and an object "a/b" cannot both exist (a file cannot also be a
// directory); multipart uploads in progress are held in memory and lost on
// restart; browser POST-policy uploads are not supported.
type S3Server struct {
	srv       *http.Server
	ln        net.Listener
	done      chan struct{} // closed when Serve returns
	accessKey string
	secretKey string
	logger    *slog.Logger
}

// s3Options lets tests pin the keys and the verifier's clock.
type s3Options struct {
	accessKey, secretKey string
	now                  func() time.Time
}

// StartS3 starts an in-process S3-compatible server on 127.0.0.1 with a
// random port, storing buckets and objects under dir (created with mode 0700
// if missing; the product passes data_dir/s3). Connect with
// minio.New(s.Endpoint(), &minio.Options{Creds:
// credentials.NewStaticV4(s.AccessKey(), s.SecretKey(), "")}) over plain
// HTTP. Close it when done.
func StartS3(ctx context.Context, dir string, logger *slog.Logger) (*S3Server, error) {
	return startS3(ctx, dir, logger, s3Options{})
}

func startS3(ctx context.Context, dir string, logger *slog.Logger, opts s3Options) (*S3Server, error) {
	if dir == "" {
		return nil, errors.New("starting embedded s3: empty data directory")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("starting embedded s3: resolving %q: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("starting embedded s3: creating %s: %w", dir, err)
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("starting embedded s3: %w", err)
	} else if fi.Mode().Perm()&0o077 != 0 {
		// Objects include KYC documents; other local users should not be
		// able to list or read them. The operator chose this directory, so
		// warn rather than change its mode.
		logger.Warn("embedded s3 directory is accessible to other users", "dir", dir, "mode", fi.Mode().Perm().String())
	}
	tmpDir := filepath.Join(dir, "tmp")
	if err := resetTmpDir(tmpDir); err != nil {
		return nil, fmt.Errorf("starting embedded s3: %w", err)
	}

	// s3afero refuses a bare OsFs (it could then reach /); a BasePathFs
	// confines every path to dir.
	backend, err := s3afero.MultiBucket(afero.NewBasePathFs(afero.NewOsFs(), dir))
	if err != nil {
		return nil, fmt.Errorf("starting embedded s3: opening store in %s: %w", dir, err)
	}
	faker := gofakes3.New(backend, gofakes3.WithLogger(gofakes3Logger{logger}))

	if opts.accessKey == "" {
		opts.accessKey = "EMBEDDED" + rand.Text()[:12]
	}
	if opts.secretKey == "" {
		opts.secretKey = rand.Text() + rand.Text()
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	auth := &sigV4Auth{
		accessKey: opts.accessKey,
		secretKey: opts.secretKey,
		now:       opts.now,
		tmpDir:    tmpDir,
		maxBody:   maxS3Body,
		logger:    logger,
		next:      faker.Server(),
	}

	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting embedded s3: listening: %w", err)
	}
	s := &S3Server{
		srv: &http.Server{
			Handler:           auth,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
		ln:        ln,
		done:      make(chan struct{}),
		accessKey: opts.accessKey,
		secretKey: opts.secretKey,
		logger:    logger,
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("embedded s3 stopped serving", "error", err)
		}
	}()
	logger.Info("embedded s3 started", "endpoint", s.Endpoint(), "dir", dir)
	return s, nil
}

// resetTmpDir creates dir, removing uploads a crash may have left in it.
func resetTmpDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	leftovers, err := filepath.Glob(filepath.Join(dir, uploadPattern))
	if err != nil {
		return fmt.Errorf("listing %s: %w", dir, err)
	}
	for _, f := range leftovers {
		if err := os.Remove(f); err != nil {
			return fmt.Errorf("removing stale upload: %w", err)
		}
	}
	return nil
}

// Endpoint returns the server's host:port, as minio.New wants it.
func (s *S3Server) Endpoint() string { return s.ln.Addr().String() }

// AccessKey returns the access key clients must sign with.
func (s *S3Server) AccessKey() string { return s.accessKey }

// SecretKey returns the secret key clients must sign with. Never log it.
func (s *S3Server) SecretKey() string { return s.secretKey }

// Close stops the server, waiting up to 5s for requests in flight. Objects
// stay on disk for the next start.
func (s *S3Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), s3ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.logger.Warn("embedded s3 did not stop gracefully", "error", err)
		s.srv.Close()
	}
	<-s.done
	s.logger.Info("embedded s3 stopped")
}

// gofakes3Logger sends gofakes3's messages to slog. Its "ERR" level is used
// for internal errors; its INFO messages are per-request traces.
type gofakes3Logger struct{ logger *slog.Logger }

func (l gofakes3Logger) Print(level gofakes3.LogLevel, v ...any) {
	lvl := slog.LevelDebug
	switch level {
	case gofakes3.LogErr:
		lvl = slog.LevelError
	case gofakes3.LogWarn:
		lvl = slog.LevelWarn
	}
	l.logger.Log(context.Background(), lvl, "embedded s3", "detail", fmt.Sprint(v...))
}
