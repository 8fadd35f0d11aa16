package ident

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"sync"
)

// Kind names the domain of an identifier. It is mixed into every hash, so
// that the same string hashed as an email and as an account gives unrelated
// results, and it names blocklist kinds.
type Kind string

// The kinds of identifiers. The string values are stable: they are part of
// every stored hash, so changing one orphans the data stored under it.
const (
	KindIP          Kind = "ip"
	KindPrefix      Kind = "prefix" // an IP prefix, IPPrefix(ip).String()
	KindCIDR        Kind = "cidr"   // a blocklisted range, netip.Prefix.String()
	KindASN         Kind = "asn"
	KindEmail       Kind = "email"
	KindEmailDomain Kind = "email_domain"
	KindAccount     Kind = "account"
	KindCard        Kind = "card" // CardFingerprint's "BIN:last4"
	KindAddress     Kind = "address"
	KindOrder       Kind = "order" // an order id, used to recognise retries
	// KindScreening derives an order's screening id from its owner and
	// order id (orders.Service).
	KindScreening Kind = "screening"
)

// MinKeyLen is the shortest HMAC key NewHasher accepts.
const MinKeyLen = 16

// HashLen is the length of every string Hash returns: the first 16 bytes of
// the HMAC (128 bits, ample against collisions between the identifiers one
// deployment sees) in unpadded base64url.
const HashLen = 22

const hashBytes = 16

// Hasher computes keyed hashes of identifiers. It is safe for concurrent
// use.
type Hasher struct {
	pool sync.Pool // of *macState; an HMAC costs two SHA-256 setups to create
}

type macState struct {
	mac hash.Hash
	buf []byte // kind, 0, value
	sum []byte
}

// NewHasher returns a Hasher keyed with key, which must be at least
// MinKeyLen bytes of secret (from config, e.g. 32 random bytes). The key is
// copied.
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("hash key is %d bytes, want at least %d", len(key), MinKeyLen)
	}
	k := append([]byte(nil), key...)
	h := &Hasher{}
	h.pool.New = func() any {
		return &macState{mac: hmac.New(sha256.New, k), sum: make([]byte, 0, sha256.Size)}
	}
	return h, nil
}

// Hash returns the keyed hash of value in the domain kind: HashLen
// characters of base64url. Callers hash normalized values (see
// NormalizeEmail and friends), so that spellings of one identifier agree.
func (h *Hasher) Hash(kind Kind, value string) string {
	var b [HashLen]byte
	return string(h.AppendHash(b[:0], kind, value))
}

// AppendHash appends Hash(kind, value) to dst, for callers that build a
// key around the hash (a Redis key per identifier): the key is then the
// one string they allocate.
func (h *Hasher) AppendHash(dst []byte, kind Kind, value string) []byte {
	st := h.pool.Get().(*macState)
	defer h.pool.Put(st)
	// Kinds never contain a NUL, so "kind NUL value" is unambiguous.
	st.buf = append(st.buf[:0], kind...)
	st.buf = append(st.buf, 0)
	st.buf = append(st.buf, value...)
	st.mac.Reset()
	st.mac.Write(st.buf)
	st.sum = st.mac.Sum(st.sum[:0])
	if cap(st.buf) > 4096 {
		st.buf = nil // do not keep a huge value's buffer in the pool
	}
	return base64.RawURLEncoding.AppendEncode(dst, st.sum[:hashBytes])
}
