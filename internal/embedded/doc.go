// Package embedded is the gateway's zero-config mode: with no configuration
// at all, `gateway serve` runs the whole product on one machine with nothing
// installed, using in-process stand-ins for the services production points
// at:
//
//   - StartRedis: a Redis-protocol server (miniredis) on a random loopback
//     port, password-protected, for velocity counters and other state. Its
//     data lives in memory only and is lost when the process stops.
//   - StartS3: an S3-compatible server (gofakes3) on a random loopback port,
//     keeping objects as files under a directory (the product passes
//     data_dir/s3, ./data/s3 by default), so KYC documents survive a
//     restart. Requests must carry AWS Signature V4 with the keys of that
//     start.
//   - GeoIPCountryDB: a small bundled GeoIP country database mapping only
//     documentation ranges to made-up countries (see geoip/README.md).
//   - Storefront / ListenStorefront: "Demo VPS", a small shop used as the
//     upstream when none is configured, showing the screening headers the
//     gateway adds to checkouts. Its orders are kept in memory only.
//
// The same client code talks to these servers as to real ones: go-redis v9
// with the URL from RedisServer.URL (no special options: miniredis accepts
// HELLO 3 with AUTH and ignores CLIENT SETINFO the way go-redis expects), and
// minio-go v7 with S3Server.Endpoint, AccessKey and SecretKey over plain
// HTTP.
//
// Nothing persists outside the data directory given to StartS3: Redis
// state and demo orders are memory-only. Everything listens on 127.0.0.1
// only.
//
// Place in the flow: cmd/gateway starts these at start-up when the matching
// keys (redis.url, s3.endpoint, geoip.country_db, upstream) are empty, and
// hands their addresses to the same constructors it uses in production.
package embedded
