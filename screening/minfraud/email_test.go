package minfraud

import (
	"crypto/md5"
	"encoding/hex"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// The vectors below are MaxMind's, from minfraud-api-python
// tests/test_request.py (test_clean_email and test_maybe_hash_email),
// the client that MaxMind's "Normalizing Email Addresses for minFraud" page
// links to as a reference implementation.

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{in: "", wantOK: false},
		{in: "fasfs", wantOK: false},
		{in: "e4d909c290d0fb1ca068ffaddf22cbd0", wantOK: false},
		{in: "test@gmail", want: "test@gmail", wantOK: true},
		{in: "Test@maxmind", want: "test@maxmind", wantOK: true},
		{in: "Test@maxmind.com", want: "test@maxmind.com", wantOK: true},
		{in: "Test+007@maxmind.com", want: "test@maxmind.com", wantOK: true},
		{in: "Test+007+008@maxmind.com", want: "test@maxmind.com", wantOK: true},
		{in: "Test+@maxmind.com", want: "test@maxmind.com", wantOK: true},
		{in: "+@maxmind.com", want: "+@maxmind.com", wantOK: true},
		{in: "  Test@maxmind.com", want: "test@maxmind.com", wantOK: true},
		{in: "Test@maxmind.com|abc124472372", want: "test@maxmind.com|abc124472372", wantOK: true},
		{in: "Test+foo@yahoo.com", want: "test+foo@yahoo.com", wantOK: true},
		{in: "Test-foo@yahoo.com", want: "test@yahoo.com", wantOK: true},
		{in: "Test-foo-foo2@yahoo.com", want: "test@yahoo.com", wantOK: true},
		{in: "Test-foo@gmail.com", want: "test-foo@gmail.com", wantOK: true},
		{in: "gamil.com@gamil.com", want: "gamilcom@gmail.com", wantOK: true},
		{in: "Test+alias@bücher.com", want: "test@xn--bcher-kva.com", wantOK: true},
		{in: "foo@googlemail.com", want: "foo@gmail.com", wantOK: true},
		{in: "foo.bar@gmail.com", want: "foobar@gmail.com", wantOK: true},
		{in: "alias@user.fastmail.com", want: "user@fastmail.com", wantOK: true},
		{in: "foo-bar@ymail.com", want: "foo@ymail.com", wantOK: true},
		{in: "foo@example.com.com", want: "foo@example.com", wantOK: true},
		{in: "foo@example.comfoo", want: "foo@example.comfoo", wantOK: true},
		{in: "foo@example.cam", want: "foo@example.cam", wantOK: true},
		{in: "foo@10000gmail.com", want: "foo@gmail.com", wantOK: true},
		{in: "foo@example.comcom", want: "foo@example.com", wantOK: true},
		{in: "foo@example.com.", want: "foo@example.com", wantOK: true},
		{in: "foo@example.com...", want: "foo@example.com", wantOK: true},
		{in: "example@bu\u0308cher.com", want: "example@xn--bcher-kva.com", wantOK: true},
		{in: "example@b\u00fccher.com", want: "example@xn--bcher-kva.com", wantOK: true},
	}
	for _, tt := range tests {
		got, _, ok := NormalizeEmail(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("NormalizeEmail(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestHashedEmail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want *Email
	}{
		{name: "empty", in: "", want: nil},
		{name: "not an email", in: "fasfs", want: nil},
		{name: "already hashed", in: "757402e689152e0889ab9cf2c5984c65", want: &Email{Address: "757402e689152e0889ab9cf2c5984c65"}},
		{name: "simple", in: "test@maxmind.com", want: &Email{Address: "977577b140bfb7c516e4746204fbdb01", Domain: "maxmind.com"}},
		{name: "extra whitespace", in: "   test@   maxmind.com   ", want: &Email{Address: "977577b140bfb7c516e4746204fbdb01", Domain: "maxmind.com"}},
		{name: "uppercase and alias", in: "Test+ignored@MaxMind.com", want: &Email{Address: "977577b140bfb7c516e4746204fbdb01", Domain: "maxmind.com"}},
		{name: "multiple +", in: "Test+ignored+more@maxmind.com", want: &Email{Address: "977577b140bfb7c516e4746204fbdb01", Domain: "maxmind.com"}},
		{name: "empty alias", in: "test+@maxmind.com", want: &Email{Address: "977577b140bfb7c516e4746204fbdb01", Domain: "maxmind.com"}},
		{name: "yahoo alias", in: "basename-keyword@yahoo.com", want: &Email{Address: "667a28047b6caade43c7e75f66aab5f5", Domain: "yahoo.com"}},
		{name: "yahoo with +", in: "Test+foo@yahoo.com", want: &Email{Address: "a5f830c699fd71ad653aa59fa688c6d9", Domain: "yahoo.com"}},
		{name: "IDN domain", in: "test@bücher.com", want: &Email{Address: "24948acabac551360cd510d5e5e2b464", Domain: "xn--bcher-kva.com"}},
		{name: "only +", in: "+@MaxMind.com", want: &Email{Address: "aa57884e48f0dda9fc6f4cb2bffb1dd2", Domain: "maxmind.com"}},
		{name: "no domain", in: "test@", want: &Email{Address: "246a848af2f8394e3adbc738dbe43720"}},
		{name: "NFC form 1", in: "bu\u0308cher@example.com", want: &Email{Address: "53550c712b146287a2d0dd30e5ed6f4b", Domain: "example.com"}},
		{name: "NFC form 2", in: "b\u00fccher@example.com", want: &Email{Address: "53550c712b146287a2d0dd30e5ed6f4b", Domain: "example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, HashedEmail(tt.in)); diff != "" {
				t.Errorf("HashedEmail(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
			wantHash := ""
			if tt.want != nil {
				wantHash = tt.want.Address
			}
			if got := HashEmail(tt.in); got != wantHash {
				t.Errorf("HashEmail(%q) = %q, want %q", tt.in, got, wantHash)
			}
		})
	}
}

// FuzzNormalizeEmail checks that normalization never panics (it runs on
// customer input) and that HashEmail gives an MD5 of the normalized form.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"test@maxmind.com", "Test+x@yahoo.com", "a@b\u0308.com", "@", "x@.", "\xff@\xfe", "a@xn--", "a@" + string(rune(0x130))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		n, domain, ok := NormalizeEmail(in)
		h := HashEmail(in)
		if !ok {
			if h != "" && len(h) != 32 {
				t.Fatalf("HashEmail(%q) = %q, want empty or 32 hex digits", in, h)
			}
			return
		}
		sum := md5.Sum([]byte(n))
		if want := hex.EncodeToString(sum[:]); h != want {
			t.Fatalf("HashEmail(%q) = %q, want md5(%q) = %q", in, h, n, want)
		}
		if utf8.ValidString(in) && !utf8.ValidString(domain) {
			t.Fatalf("NormalizeEmail(%q) domain %q is not UTF-8", in, domain)
		}
	})
}
