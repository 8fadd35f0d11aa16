package config

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpsgate/gateway/internal/configerr"
)

// RedisConfig is the `redis` section. One URL describes a standalone server,
// a Sentinel-managed primary or a Cluster, so operators move between them by
// editing one key; go-redis's UniversalClient then hides the difference from
// the rest of the code.
type RedisConfig struct {
	// URL is redis://[user:password@]host:port[/db] (rediss:// for TLS).
	// ?master_name=NAME makes it a Sentinel address; ?addr=host:port (repeated)
	// adds seeds and, with mode cluster or auto, makes it a Cluster.
	// Empty: the embedded in-process server.
	URL          string        `yaml:"url"`
	Mode         string        `yaml:"mode"` // auto | standalone | sentinel | cluster
	DialTimeout  time.Duration `yaml:"dial_timeout"`
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	PoolSize     int           `yaml:"pool_size"`
}

// SetDefaults fills unset values.
func (c *RedisConfig) SetDefaults() {
	if c.Mode == "" {
		c.Mode = "auto"
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 2 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = time.Second
	}
}

// Validate reports every bad value.
func (c *RedisConfig) Validate() error {
	var errs []error
	switch c.Mode {
	case "auto", "standalone", "sentinel", "cluster":
	default:
		errs = append(errs, configerr.Field("mode", c.Mode, "must be auto, standalone, sentinel or cluster"))
	}
	if c.URL != "" {
		if _, err := c.UniversalOptions(); err != nil {
			// The URL may hold a password: show only the problem.
			errs = append(errs, configerr.Field("url", nil, err.Error()))
		}
	}
	for key, d := range map[string]time.Duration{"dial_timeout": c.DialTimeout, "read_timeout": c.ReadTimeout, "write_timeout": c.WriteTimeout} {
		if d < 0 {
			errs = append(errs, configerr.Field(key, d, "must not be negative"))
		}
	}
	if c.PoolSize < 0 {
		errs = append(errs, configerr.Field("pool_size", c.PoolSize, "must not be negative"))
	}
	return joinSorted(errs)
}

// UniversalOptions turns the URL into options for redis.NewUniversalClient.
func (c *RedisConfig) UniversalOptions() (*redis.UniversalOptions, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("not a URL")
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("scheme must be redis or rediss, not %q", u.Scheme)
	}
	q := u.Query()
	mode := c.Mode
	if mode == "auto" || mode == "" {
		switch {
		case q.Has("master_name"):
			mode = "sentinel"
		case q.Has("addr"):
			mode = "cluster"
		default:
			mode = "standalone"
		}
	}
	var o redis.UniversalOptions
	switch mode {
	case "standalone":
		so, err := redis.ParseURL(c.URL)
		if err != nil {
			return nil, err
		}
		o = redis.UniversalOptions{
			Addrs: []string{so.Addr}, Username: so.Username, Password: so.Password,
			DB: so.DB, TLSConfig: so.TLSConfig,
		}
	case "sentinel":
		fo, err := redis.ParseFailoverURL(c.URL)
		if err != nil {
			return nil, err
		}
		if fo.MasterName == "" {
			return nil, fmt.Errorf("sentinel mode needs ?master_name=")
		}
		o = redis.UniversalOptions{
			Addrs: fo.SentinelAddrs, MasterName: fo.MasterName, DB: fo.DB,
			Username: fo.Username, Password: fo.Password,
			SentinelUsername: fo.SentinelUsername, SentinelPassword: fo.SentinelPassword,
			TLSConfig: fo.TLSConfig,
		}
	case "cluster":
		co, err := redis.ParseClusterURL(c.URL)
		if err != nil {
			return nil, err
		}
		o = redis.UniversalOptions{
			Addrs: co.Addrs, Username: co.Username, Password: co.Password,
			TLSConfig: co.TLSConfig, IsClusterMode: true,
		}
	}
	if o.TLSConfig != nil && o.TLSConfig.MinVersion == 0 {
		o.TLSConfig.MinVersion = tls.VersionTLS12
	}
	o.DialTimeout = c.DialTimeout
	o.ReadTimeout = c.ReadTimeout
	o.WriteTimeout = c.WriteTimeout
	o.PoolSize = c.PoolSize
	// Honour the caller's context deadlines: every Redis call in the product
	// carries its own timeout and must not wait for ReadTimeout instead.
	o.ContextTimeoutEnabled = true
	return &o, nil
}
