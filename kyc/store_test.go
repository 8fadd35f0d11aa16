package kyc

import (
	"context"
	"log/slog"
	"strings"
	"testing"

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
