package integrations_test

import (
	"path/filepath"
	"testing"
)

// TestWHMCSModule runs the WHMCS addon's php-cli test (whmcs/tests) against
// a real gateway: the checkout hook screens the order, PreModuleCreate
// aborts while it is held, lets WHMCS create the service once the customer
// has verified the email address (through mailpit and the gateway's page),
// aborts for a rejected order (an EU billing country), and aborts whenever
// the gateway cannot decide: a wrong API key, Redis down behind the
// gateway (503), the gateway stopped, garbage or no answer at all.
func TestWHMCSModule(t *testing.T) {
	// The servers first: without them the test skips (or fails under CI)
	// before spending a build.
	b := newBackend(t)
	g := b.start(t, buildGateway(t))
	const script = "whmcs/tests/whmcs_test.php"
	ann, bo, cy := uniqueEmail("ann"), uniqueEmail("bo"), uniqueEmail("cy")
	// WHMCS's database, as far as the module's table goes, lives across
	// the php runs of this test.
	db := filepath.Join(t.TempDir(), "whmcs.json")
	base := func(order, email, country string) phpCase {
		return with(baseCase(g)(order, email, country), "WHMCS_DB", db)
	}

	// Checkout: screened and held (email verification); no service.
	runPHP(t, script, with(base("1", ann, "US"), "STEP", "checkout", "EXPECT_ABORT", "yes", "EXPECT_REMEMBERED", "yes",
		"EXPECT_LOG", "order 1 is held (waiting for email_verification)", "EXPECT_STATUS", "held"))
	// Still held on a retry of the activation, and on the cron's.
	runPHP(t, script, with(base("1", ann, "US"), "STEP", "activate", "EXPECT_ABORT", "yes", "EXPECT_LOG", "is held"))
	runPHP(t, script, with(base("1", ann, "US"), "STEP", "cron", "EXPECT_CREATED", "no", "EXPECT_REMEMBERED", "yes"))
	// An EU billing country: rejected, never activated.
	runPHP(t, script, with(base("2", bo, "DE"), "STEP", "checkout", "EXPECT_ABORT", "yes", "EXPECT_REMEMBERED", "no",
		"EXPECT_LOG", "order 2 is rejected", "EXPECT_STATUS", "rejected"))
	// The gateway unreachable at checkout: nothing screened, no service.
	runPHP(t, script, with(base("3", cy, "US"), "VPSGATE_URL", deadURL(t), "STEP", "checkout", "EXPECT_ABORT", "yes",
		"EXPECT_LOG", "could not ask the gateway"))
	// ... and once it answers, the activation submits the order first
	// (nothing lost), which is then held.
	runPHP(t, script, with(base("3", cy, "US"), "STEP", "activate", "EXPECT_ABORT", "yes",
		"EXPECT_LOG", "order 3 is held", "EXPECT_STATUS", "held"))

	// With "Gateway in front of WHMCS" the checkout's X-Screening-Id is
	// linked; a screening the gateway does not have (or no link route)
	// makes the module screen the order itself: nothing goes unscreened.
	runPHP(t, script, with(base("4", cy, "US"), "STEP", "checkout", "SCREENING_ID", "scr_AAAAAAAAAAAAAAAAAAAAAA",
		"EXPECT_ABORT", "yes", "EXPECT_LOG", "order 4 is held", "EXPECT_STATUS", "held"))

	// The customer verifies the address: order 1 clears, the next cron run
	// creates the service (ModuleCreate, let through by PreModuleCreate).
	verifyEmail(t, b, g, ann)
	runPHP(t, script, with(base("1", ann, "US"), "STEP", "cron", "EXPECT_CREATED", "yes", "EXPECT_REMEMBERED", "no",
		"EXPECT_LOG", "order 1 cleared: ModuleCreate for service 10 done", "EXPECT_STATUS", "cleared"))
	// An admin's Create goes through too.
	runPHP(t, script, with(base("1", ann, "US"), "STEP", "activate", "EXPECT_ABORT", "no",
		"EXPECT_LOG", "order 1 cleared", "EXPECT_STATUS", "cleared"))

	// Whatever the gateway cannot vouch for refuses the cleared order too.
	cleared := with(base("1", ann, "US"), "STEP", "activate", "EXPECT_ABORT", "yes", "VPSGATE_TIMEOUT", "1")
	runPHP(t, script, with(cleared, "VPSGATE_KEY", "wrong-key-0123456789abcdefghij", "EXPECT_LOG", "401 unauthenticated"))
	for name, u := range brokenGateways(t, g.admin) {
		t.Run(name, func(t *testing.T) {
			runPHP(t, script, with(cleared, "VPSGATE_URL", u, "EXPECT_LOG", "could not ask the gateway"))
		})
	}
	b.redis.Stop()
	// Redis down behind the gateway: its 503 (given the time to answer).
	runPHP(t, script, with(cleared, "VPSGATE_TIMEOUT", "30", "EXPECT_LOG", "503"))
	b.redis.Start()
	g.waitReady(t)
	runPHP(t, script, with(base("1", ann, "US"), "STEP", "activate", "EXPECT_ABORT", "no", "EXPECT_LOG", "order 1 cleared"))
	g.stop()
	runPHP(t, script, with(cleared, "EXPECT_LOG", "no answer from the gateway"))
}
