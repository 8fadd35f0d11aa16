// Command gen builds the bundled demo GeoIP country database from its YAML
// source. It is run by `go generate ./internal/embedded/geoip`:
//
//	go run ./gen -src source.yaml -out country.mmdb
//
// The build logic lives in package geoip (geoip.Build) so that a test there
// can prove the committed country.mmdb still matches source.yaml.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vpsgate/gateway/internal/embedded/geoip"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	src := fs.String("src", "source.yaml", "YAML source of the database")
	out := fs.String("out", "country.mmdb", "MaxMind DB file to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	in, err := os.ReadFile(*src)
	if err != nil {
		return fmt.Errorf("reading source: %w", err)
	}
	db, err := geoip.Build(in)
	if err != nil {
		return fmt.Errorf("building %s: %w", *src, err)
	}
	// Write next to the target and rename, so a failed run never leaves a
	// truncated database behind for go:embed to pick up.
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".country-*.mmdb")
	if err != nil {
		return fmt.Errorf("creating temporary file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(db); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp.Name(), err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("setting mode of %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return fmt.Errorf("replacing %s: %w", *out, err)
	}
	fmt.Printf("wrote %s (%d bytes) from %s\n", *out, len(db), *src)
	return nil
}
