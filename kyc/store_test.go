package kyc

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpsgate/gateway/internal/testenv"
)

func TestOpenStoreCreatesBucket(t *testing.T) {
	env := testenv.S3(t)
	client, bucket := testenv.Bucket(t)
	// testenv made the bucket; use a fresh name under it so OpenStore must
	// create one, and remove it afterwards.
	name := bucket + "-new"
	t.Cleanup(func() { _ = client.RemoveBucket(context.Background(), name) })
	cfg := StoreConfig{Endpoint: env.Endpoint, AccessKey: env.AccessKey, SecretKey: env.SecretKey, Bucket: name}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ok, err := client.BucketExists(context.Background(), name)
	if err != nil || !ok {
		t.Fatalf("bucket %s exists = %v, %v; want created by OpenStore", name, ok, err)
	}
	if err := s.Ready(context.Background()); err != nil {
		t.Errorf("Ready() = %v, want nil", err)
	}
}

func TestStoreNotReadyWhenServerDown(t *testing.T) {
	cfg := StoreConfig{Endpoint: testenv.FreeAddr(t), AccessKey: "a", SecretKey: "b"}
	cfg.SetDefaults()
	s, err := OpenStore(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("OpenStore with the server down = %v, want a store that reports not ready", err)
	}
	if err := s.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "checking bucket") {
		t.Errorf("Ready() = %v, want a bucket check error", err)
	}
}

func TestStoreConfigValidate(t *testing.T) {
	tests := []struct {
		cfg  StoreConfig
		want string
	}{
		{StoreConfig{Bucket: "ok-bucket"}, ""},
		{StoreConfig{Endpoint: "http://minio:9000", AccessKey: "a", SecretKey: "b", Bucket: "kyc"}, "without a scheme"},
		{StoreConfig{Endpoint: "minio:9000", Bucket: "kyc"}, "access_key: is required"},
		{StoreConfig{Bucket: "Bad_Name"}, "valid S3 bucket name"},
		{StoreConfig{Bucket: "ab"}, "valid S3 bucket name"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

// An S3 server that accepts connections and never answers must not hold up
// start-up: OpenStore gives up on its check and returns a store that is
// not ready.
func TestOpenStoreDoesNotHangOnSilentServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})

	cfg := StoreConfig{Endpoint: ln.Addr().String(), AccessKey: "a", SecretKey: "b"}
	cfg.SetDefaults()
	done := make(chan error, 1)
	go func() {
		_, err := OpenStore(context.Background(), cfg, slog.New(slog.DiscardHandler))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("OpenStore = %v, want a store that reports not ready", err)
		}
	case <-time.After(4 * startCheckTimeout):
		t.Fatalf("OpenStore still waiting for a silent S3 server after %s", 4*startCheckTimeout)
	}
}
