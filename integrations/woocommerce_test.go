package integrations_test

import (
	"testing"
)

// TestWooCommercePlugin runs the WooCommerce plugin's php-cli test
// (woocommerce/tests) against a real gateway: both checkouts (classic and
// blocks) screen the order; a paid order that has not cleared is saved
// on-hold instead of processing, so provisioning (hooked on
// woocommerce_order_status_processing) does not start; the WP-Cron run
// moves it on once the customer has verified the email address; a
// rejected order (EU billing country) and every gateway failure keep it on
// hold; an unpaid bank-transfer order on hold is left alone.
func TestWooCommercePlugin(t *testing.T) {
	// The servers first: without them the test skips (or fails under CI)
	// before spending a build.
	b := newBackend(t)
	g := b.start(t, buildGateway(t))
	const script = "woocommerce/tests/woocommerce_test.php"
	ann, bo, cy, di := uniqueEmail("ann"), uniqueEmail("bo"), uniqueEmail("cy"), uniqueEmail("di")
	base := baseCase(g)
	held := func(c phpCase, kv ...string) phpCase {
		return with(c, append([]string{"EXPECT_FINAL", "on-hold", "EXPECT_PROVISIONED", "no"}, kv...)...)
	}

	// Classic checkout (settings as wp-config.php constants) and block
	// checkout (settings from the options page): screened, paid, held.
	runPHP(t, script, held(base("101", ann, "US"), "STEP", "classic",
		"EXPECT_NOTE", "order 101 is held (waiting for email_verification)", "EXPECT_STATUS", "held"))
	runPHP(t, script, held(base("102", cy, "US"), "STEP", "blocks", "SETTINGS", "option",
		"EXPECT_NOTE", "order 102 is held", "EXPECT_STATUS", "held"))
	// The WP-Cron run while still held, and an admin forcing processing:
	// both stay on hold.
	runPHP(t, script, held(base("101", ann, "US"), "STEP", "poll"))
	runPHP(t, script, held(base("101", ann, "US"), "STEP", "admin", "EXPECT_NOTE", "order 101 is held"))
	// An EU billing country: rejected at checkout, never provisioned; the
	// WP-Cron run stops asking and says why.
	runPHP(t, script, held(base("103", bo, "DE"), "STEP", "blocks",
		"EXPECT_NOTE", "order 103 is rejected", "EXPECT_STATUS", "rejected"))
	runPHP(t, script, held(base("103", bo, "DE"), "STEP", "poll", "EXPECT_NOTE", "order 103 is rejected"))
	// A bank transfer awaiting payment is on hold for another reason: the
	// plugin neither asks the gateway nor releases it.
	runPHP(t, script, held(base("104", di, "US"), "STEP", "bacs", "EXPECT_NOTE", "Awaiting BACS payment"))
	// An order the shop exempts (vpsgate_guard_order) is neither screened
	// nor held, even with the gateway unreachable.
	runPHP(t, script, with(base("106", di, "US"), "VPSGATE_URL", deadURL(t), "STEP", "exempt",
		"EXPECT_FINAL", "processing", "EXPECT_PROVISIONED", "yes"))
	// The gateway unreachable at checkout: held; the WP-Cron run, once it
	// answers, submits the order (nothing lost).
	runPHP(t, script, held(base("105", di, "US"), "VPSGATE_URL", deadURL(t), "STEP", "classic",
		"EXPECT_NOTE", "could not ask the gateway"))
	runPHP(t, script, held(base("105", di, "US"), "STEP", "poll", "EXPECT_STATUS", "held"))

	// The customer verifies the address: the WP-Cron run moves order 101
	// to processing, and provisioning starts, once.
	verifyEmail(t, b, g, ann)
	runPHP(t, script, with(base("101", ann, "US"), "STEP", "poll", "EXPECT_FINAL", "processing", "EXPECT_PROVISIONED", "yes",
		"EXPECT_NOTE", "order 101 cleared", "EXPECT_STATUS", "cleared"))
	// A cleared order pays straight through to processing.
	runPHP(t, script, with(base("101", ann, "US"), "STEP", "paid", "EXPECT_FINAL", "processing", "EXPECT_PROVISIONED", "yes"))

	// Whatever the gateway cannot vouch for keeps even a cleared order on
	// hold.
	cleared := held(base("101", ann, "US"), "STEP", "paid", "VPSGATE_TIMEOUT", "1", "EXPECT_NOTE", "could not ask the gateway")
	runPHP(t, script, with(cleared, "VPSGATE_KEY", "wrong-key-0123456789abcdefghij", "EXPECT_NOTE", "401 unauthenticated"))
	for name, u := range brokenGateways(t, g.admin) {
		t.Run(name, func(t *testing.T) {
			runPHP(t, script, with(cleared, "VPSGATE_URL", u))
		})
	}
	b.redis.Stop()
	// Redis down behind the gateway: its 503 (given the time to answer).
	runPHP(t, script, with(cleared, "VPSGATE_TIMEOUT", "30", "EXPECT_NOTE", "503"))
	b.redis.Start()
	g.waitReady(t)
	g.stop()
	runPHP(t, script, with(cleared, "EXPECT_NOTE", "no answer from the gateway"))
}
