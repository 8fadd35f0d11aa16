package ident

import (
	"errors"
	"testing"
)

func TestMailboxEmail(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"john.doe@gmail.com", "johndoe@gmail.com"},
		{"j.o.h.n.doe@googlemail.com", "johndoe@gmail.com"},
		{"johndoe@gmail.com", "johndoe@gmail.com"},
		{"a.+b@gmail.com", "a@gmail.com"},
		{"bob@pm.me", "bob@proton.me"},
		{"bob@protonmail.com", "bob@proton.me"},
		{"bob@protonmail.ch", "bob@proton.me"},
		{"b.ob@proton.me", "b.ob@proton.me"}, // Proton documents no dot rule
		{"ann@me.com", "ann@icloud.com"},
		{"ann@mac.com", "ann@icloud.com"},
		{"shop@user.fastmail.com", "user@fastmail.com"},
		{"shop@user.fastmail.fm", "user@fastmail.fm"},
		{"user@fastmail.com", "user@fastmail.com"},
		{"x@a.b.fastmail.com", "x@a.b.fastmail.com"}, // not subdomain addressing
		{"john.doe@example.com", "john.doe@example.com"},
		{"john.doe@gmail.com.evil.example", "john.doe@gmail.com.evil.example"},
		{"base-keyword@yahoo.com", "base-keyword@yahoo.com"},
		{"j.doe@outlook.com", "j.doe@outlook.com"},
	}
	for _, tt := range tests {
		if got := MailboxEmail(tt.in); got != tt.want {
			t.Errorf("MailboxEmail(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if again := MailboxEmail(tt.want); again != tt.want {
			t.Errorf("MailboxEmail(%q) = %q: not idempotent", tt.want, again)
		}
	}
}

func TestEmailRulesForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rules      EmailRules
		in         string
		key, older string
	}{
		{EmailProvider, " John.Doe+VPS@GoogleMail.com ", "johndoe@gmail.com", "john.doe@googlemail.com"},
		{EmailProvider, "ann@example.com", "ann@example.com", ""},
		{EmailProvider, "johndoe@gmail.com", "johndoe@gmail.com", ""},
		{EmailBasic, "John.Doe+VPS@GoogleMail.com", "john.doe@googlemail.com", ""},
	}
	for _, tt := range tests {
		key, older, err := tt.rules.Forms(tt.in)
		if err != nil || key != tt.key || older != tt.older {
			t.Errorf("Forms(%q) = %q, %q, %v, want %q, %q", tt.in, key, older, err, tt.key, tt.older)
		}
	}
	if _, _, err := EmailProvider.Forms("not an address"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Forms(invalid) = %v, want ErrInvalid", err)
	}
	for _, s := range []string{"provider", "basic"} {
		if _, err := ParseEmailRules(s); err != nil {
			t.Errorf("ParseEmailRules(%q) = %v", s, err)
		}
	}
	if _, err := ParseEmailRules("gmail"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseEmailRules(gmail) = %v, want ErrInvalid", err)
	}
}
