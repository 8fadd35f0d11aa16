package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vpsgate/gateway/internal/configerr"
)

// EnvPrefix starts every environment variable that sets a configuration key.
const EnvPrefix = "GATEWAY_"

var durationType = reflect.TypeFor[time.Duration]()

// leaf is one settable configuration key.
type leaf struct {
	key   string // dotted YAML path: geoblock.countries
	value reflect.Value
}

// leaves lists every key of v (a pointer to a struct) by walking its yaml
// tags, so the environment variable names can never drift from the YAML keys.
func leaves(v reflect.Value, prefix string) []leaf {
	var out []leaf
	v = reflect.Indirect(v)
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		fv := v.Field(i)
		if strings.Contains(opts, "inline") {
			out = append(out, leaves(fv.Addr(), prefix)...)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		if f.Type.Kind() == reflect.Struct && f.Type != durationType {
			out = append(out, leaves(fv.Addr(), key)...)
			continue
		}
		out = append(out, leaf{key: key, value: fv})
	}
	return out
}

// EnvName is the environment variable that sets key.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// applyEnv sets every key that has an environment variable. GATEWAY_ variables
// that name no key are errors, like unknown YAML keys: a typo must not leave a
// setting silently at its default.
func applyEnv(cfg *Config, env map[string]string) error {
	known := map[string]leaf{}
	for _, l := range leaves(reflect.ValueOf(cfg), "") {
		known[EnvName(l.key)] = l
	}
	var errs []error
	for name, raw := range env {
		if !strings.HasPrefix(name, EnvPrefix) || name == EnvPrefix+"CONFIG" || strings.HasPrefix(name, EnvPrefix+"TEST_") {
			continue
		}
		// An empty variable counts as unset. Compose files and shells turn
		// an unset ${X} into "", and an explicitly empty list would, for
		// example, switch geo-blocking off without a word.
		if strings.TrimSpace(raw) == "" {
			continue
		}
		l, ok := known[name]
		if !ok {
			errs = append(errs, fmt.Errorf("environment variable %s: no configuration key of that name", name))
			continue
		}
		if err := setFromString(l.value, raw); err != nil {
			problem := fmt.Sprintf("from %s: %v", name, err)
			if isSecretKey(l.key) {
				// YAML's messages quote (the start of) an offending
				// value, which may be a secret (GATEWAY_WEBHOOKS).
				problem = yamlQuoted.ReplaceAllString(problem, "`[redacted]`")
			}
			errs = append(errs, configerr.Field(l.key, shown(l.key, raw), problem))
		}
	}
	return joinSorted(errs)
}

// setFromString parses raw into v: scalars as themselves, lists of scalars
// comma-separated, anything structured as YAML (JSON is YAML).
func setFromString(v reflect.Value, raw string) error {
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("not a duration such as 750ms or 24h")
		}
		v.SetInt(int64(d))
		return nil
	case v.Kind() == reflect.String:
		v.SetString(raw)
		return nil
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("not true or false")
		}
		v.SetBool(b)
		return nil
	case v.CanInt():
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil || v.OverflowInt(n) {
			return fmt.Errorf("not a whole number")
		}
		v.SetInt(n)
		return nil
	case v.CanUint():
		n, err := strconv.ParseUint(strings.TrimSpace(raw), 10, 64)
		if err != nil || v.OverflowUint(n) {
			return fmt.Errorf("not a non-negative whole number")
		}
		v.SetUint(n)
		return nil
	case v.Kind() == reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil {
			return fmt.Errorf("not a number")
		}
		v.SetFloat(f)
		return nil
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		var items []string
		for item := range strings.SplitSeq(raw, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		s := reflect.MakeSlice(v.Type(), len(items), len(items))
		for i, item := range items {
			s.Index(i).SetString(item)
		}
		v.Set(s)
		return nil
	case v.Kind() == reflect.Slice && v.Type().Elem() == durationType:
		var items []time.Duration
		for item := range strings.SplitSeq(raw, ",") {
			if item = strings.TrimSpace(item); item == "" {
				continue
			}
			d, err := time.ParseDuration(item)
			if err != nil {
				return fmt.Errorf("%q is not a duration such as 1h", item)
			}
			items = append(items, d)
		}
		v.Set(reflect.ValueOf(items))
		return nil
	default:
		// Lists of objects and maps: YAML or JSON text, decoded strictly.
		p := reflect.New(v.Type())
		dec := yaml.NewDecoder(strings.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(p.Interface()); err != nil {
			return fmt.Errorf("not valid YAML/JSON for this key: %v", err)
		}
		v.Set(p.Elem())
		return nil
	}
}

// yamlQuoted is a value quoted in a YAML decoding error: `whsec_M...`.
var yamlQuoted = regexp.MustCompile("`[^`]*`")

var secretRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandSecrets replaces ${VAR} in every string value of the file with the
// variable's value, so secrets stay out of the file. A missing variable is an
// error: an empty secret would start the gateway with, say, an empty HMAC key.
func expandSecrets(cfg *Config, env map[string]string) error {
	var errs []error
	var walk func(key string, v reflect.Value)
	walk = func(key string, v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			s := v.String()
			if !strings.Contains(s, "${") {
				return
			}
			out := secretRef.ReplaceAllStringFunc(s, func(m string) string {
				name := secretRef.FindStringSubmatch(m)[1]
				val, ok := env[name]
				if !ok {
					errs = append(errs, configerr.Field(key, m, "environment variable "+name+" is not set"))
				}
				return val
			})
			v.SetString(out)
		case reflect.Slice:
			for i := range v.Len() {
				walk(fmt.Sprintf("%s[%d]", key, i), v.Index(i))
			}
		case reflect.Map:
			for _, k := range v.MapKeys() {
				e := reflect.New(v.Type().Elem()).Elem()
				e.Set(v.MapIndex(k))
				walk(fmt.Sprintf("%s.%v", key, k), e)
				v.SetMapIndex(k, e)
			}
		case reflect.Struct:
			for _, l := range leaves(v.Addr(), key) {
				walk(l.key, l.value)
			}
		}
	}
	for _, l := range leaves(reflect.ValueOf(cfg), "") {
		walk(l.key, l.value)
	}
	return joinSorted(errs)
}

// secretKeys are never echoed back in error messages or the start-up log.
func isSecretKey(key string) bool {
	for _, s := range []string{"secret", "password", "license_key", "hash_key", "key_hash", "api_keys", "users", "webhooks"} {
		if strings.Contains(key, s) {
			return true
		}
	}
	return false
}

// shown is the value to print for key: nothing for a secret.
func shown(key, value string) any {
	if isSecretKey(key) {
		return nil
	}
	return value
}

// Environ turns os.Environ into a map; Load takes the map so that tests can
// pass their own environment.
func Environ() map[string]string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// joinSorted joins errors in a stable order so messages do not shuffle
// between runs (map iteration feeds some of them).
func joinSorted(errs []error) error {
	var flat []error
	for _, e := range errs {
		flat = append(flat, configerr.Flatten(e)...)
	}
	sort.SliceStable(flat, func(i, j int) bool { return flat[i].Error() < flat[j].Error() })
	return errors.Join(flat...)
}
