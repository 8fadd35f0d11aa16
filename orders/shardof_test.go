package orders

import (
	"hash/fnv"
	"testing"
)

// FuzzShardOf: shardOf is hash/fnv's FNV-1a modulo Shards, as it was when
// it used hash/fnv: stored orders and pending entries stay in their shard.
func FuzzShardOf(f *testing.F) {
	for _, s := range []string{"", "a", "sc_3f9a1c0b7d2e4f6a", "key:shop/42", "email:key:shop/\xff\x00é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h := fnv.New32a()
		h.Write([]byte(s))
		if got, want := shardOf(s), int(h.Sum32()%Shards); got != want {
			t.Fatalf("shardOf(%q) = %d, want %d", s, got, want)
		}
	})
}
