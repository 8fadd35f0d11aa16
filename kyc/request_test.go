package kyc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestSendKYCRequest: the kyc_request mail goes to the order's address
// with its link, the order's id and the link's lifetime; asking again for
// the same order gives the same message id (the outbox queues an id
// once), another order another id; a request missing a part is refused.
func TestSendKYCRequest(t *testing.T) {
	rdb, prefix := standalone(t)
	e := newEnv(t, rdb, prefix, Config{LinkTTL: 72 * time.Hour}, "", "p1")
	ctx := context.Background()
	link, err := e.svc.KYCEmailLink("checkout", "HASH", "Ann Lee", "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the orders relay delivers at least once
		if err := e.svc.SendKYCRequest(ctx, "checkout", "1042", "ann@example.com", link, "scr_A"); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.svc.SendKYCRequest(ctx, "checkout", "1043", "ann@example.com", link, "scr_B"); err != nil {
		t.Fatal(err)
	}
	msgs := e.mail.msgs
	if len(msgs) != 3 || msgs[0].ID != msgs[1].ID || msgs[0].ID == msgs[2].ID || !strings.HasPrefix(msgs[0].ID, "kyc-request:") {
		t.Fatalf("messages %+v: want the same id for one order, another for the next", msgs)
	}
	m := msgs[0]
	if m.To != "ann@example.com" || !strings.Contains(m.Subject, "Test Shop") {
		t.Errorf("to %q, subject %q", m.To, m.Subject)
	}
	for _, want := range []string{link, "1042", "3 days", "Test Shop"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	for _, bad := range [][5]string{
		{"", "1", "a@example.com", link, "scr_C"},
		{"checkout", "1", "", link, "scr_C"},
		{"checkout", "1", "a@example.com", "", "scr_C"},
		{"checkout", "1", "a@example.com", link, ""},
	} {
		if err := e.svc.SendKYCRequest(ctx, bad[0], bad[1], bad[2], bad[3], bad[4]); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("SendKYCRequest%q = %v, want ErrInvalidInput", bad, err)
		}
	}
}
