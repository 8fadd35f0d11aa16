package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary YAML to the loader: it must answer with a
// configuration or an error, never panic (a config file is operator input,
// but an operator's typo must not crash the gateway with a stack trace).
func FuzzLoad(f *testing.F) {
	if data, err := os.ReadFile("../../configs/gateway.example.yaml"); err == nil {
		f.Add(data)
	}
	for _, s := range []string{
		"listen: \":9090\"\n",
		"geoblock:\n  countries: [EU, XX]\n",
		"intercept:\n  - method: POST\n    path: /c\n    fields: {order_id: id}\n",
		"redis: {url: \"redis://:pw@h:1?addr=x:2\"}\n",
		"auth:\n  api_keys: [{name: a, key_hash: sha256:00}]\n",
		"screening: {velocity: {windows: [1h, -1s]}}\n",
		"---\n---\n", "[1, 2]", "listen: [1]", "\x00",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "fuzz.yaml")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(p, map[string]string{})
		if err == nil && cfg == nil {
			t.Fatal("Load returned neither a config nor an error")
		}
	})
}
