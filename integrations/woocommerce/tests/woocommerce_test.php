<?php
/**
 * php-cli test of the WooCommerce plugin against a running gateway.
 *
 * Environment: VPSGATE_URL, VPSGATE_KEY, VPSGATE_TIMEOUT (optional; set
 * as the wp-config.php constants, or with SETTINGS=option as the options
 * page stores them), ORDER (WooCommerce order id), EMAIL, COUNTRY, STEP:
 *  - classic | blocks: the checkout hook of that checkout, then the
 *    payment (WC_Order::payment_complete);
 *  - paid: an order already screened is paid (payment_complete only);
 *  - poll: a held paid order, then the plugin's WP-Cron run;
 *  - admin: a held paid order an admin sets to processing;
 *  - bacs: an unpaid order set on-hold awaiting a bank transfer, then the
 *    WP-Cron run (the plugin must leave it alone);
 *  - exempt: an order the shop exempts with the vpsgate_guard_order
 *    filter (created in wp-admin) is paid;
 * EXPECT_FINAL (the order's status at the end), EXPECT_PROVISIONED
 * (yes|no: whether woocommerce_order_status_processing fired, where
 * provisioning plugins start), EXPECT_NOTE (a fragment an order note must
 * contain), EXPECT_STATUS (optional: the status the gateway reports
 * afterwards, read with GATEWAY_CHECK_URL/GATEWAY_CHECK_KEY),
 * EXPECT_SCREENING (optional: the screening id it reports, "!<id>" for
 * any other), SCREENING_ID (optional: the checkout request's
 * X-Screening-Id, as the gateway in front forwards it), RESUBMIT=on
 * (optional, with SETTINGS=option: "Screen every order again").
 */

declare(strict_types=1);

require __DIR__ . '/../../php/tests/harness.php';
require __DIR__ . '/bootstrap.php';

$key = need('VPSGATE_KEY');
if (opt('SETTINGS') === 'option') {
    $GLOBALS['wp']['options']['vpsgate_settings'] = [
        'url' => need('VPSGATE_URL'), 'api_key' => $key, 'timeout' => (int) opt('VPSGATE_TIMEOUT', '5'),
        'resubmit_checkout' => opt('RESUBMIT') === 'on',
    ];
} else {
    define('VPSGATE_URL', need('VPSGATE_URL'));
    define('VPSGATE_API_KEY', $key);
    define('VPSGATE_TIMEOUT', (float) opt('VPSGATE_TIMEOUT', '5'));
}

if (opt('SCREENING_ID') !== '') {
    // The header the gateway in front adds to the checkout request.
    $_SERVER['HTTP_X_SCREENING_ID'] = opt('SCREENING_ID');
}

require __DIR__ . '/../vpsgate-screening/vpsgate-screening.php';

$provisioned = 0;
add_action('woocommerce_order_status_processing', function () use (&$provisioned) {
    $provisioned++;
});

$id = (int) need('ORDER');
$step = need('STEP');
// A WooCommerce order as the checkout leaves it (WC_Checkout::create_order
// and the Store API's CheckoutTrait both set these from the billing address
// and the request).
$order = new WC_Order([
    'id' => $id, 'status' => in_array($step, ['poll', 'admin'], true) ? 'on-hold' : 'pending', 'customer_id' => 0,
    'billing_first_name' => 'Ann', 'billing_last_name' => 'Lee', 'billing_company' => '',
    'billing_address_1' => '1 Main St', 'billing_address_2' => '', 'billing_city' => 'San Francisco',
    'billing_state' => 'CA', 'billing_postcode' => '94107', 'billing_country' => need('COUNTRY'),
    'billing_email' => need('EMAIL'), 'billing_phone' => '+1 415 555 0100',
    'customer_ip_address' => opt('IP', '192.0.2.7'), 'customer_user_agent' => 'Mozilla/5.0 (X11; Linux x86_64)',
    'payment_method' => 'stripe', 'total' => '12.00', 'currency' => 'USD',
    'items' => [['sku' => 'vps-s1', 'product_id' => 11, 'quantity' => 1, 'total' => '12.00']],
    'meta' => in_array($step, ['poll', 'admin'], true) ? ['_vpsgate_held' => 'yes'] : [],
]);
$GLOBALS['wp']['orders'][$id] = $order;

switch ($step) {
    case 'classic':
        // WC_Checkout::process_checkout:
        // do_action('woocommerce_checkout_order_processed', $order_id, $posted_data, $order)
        do_action('woocommerce_checkout_order_processed', $id, ['billing_country' => need('COUNTRY')], $order);
        $order->payment_complete('txn_' . $id);
        break;
    case 'blocks':
        // The Store API's checkout route:
        // do_action('woocommerce_store_api_checkout_order_processed', $order)
        do_action('woocommerce_store_api_checkout_order_processed', $order);
        $order->payment_complete('txn_' . $id);
        break;
    case 'paid':
        $order->payment_complete('txn_' . $id);
        break;
    case 'exempt':
        add_filter('vpsgate_guard_order', function ($guard, $o) use ($id) {
            return $o->get_id() === $id ? false : $guard;
        }, 10, 2);
        do_action('woocommerce_checkout_order_processed', $id, [], $order);
        $order->payment_complete('txn_' . $id);
        break;
    case 'poll':
        do_action('vpsgate_poll_held_orders');
        break;
    case 'admin':
        $order->update_status('processing', '', true);
        break;
    case 'bacs':
        $order->update_status('on-hold', 'Awaiting BACS payment');
        check($order->get_meta('_vpsgate_held') === '', 'an unpaid on-hold order was marked held by the gateway');
        do_action('vpsgate_poll_held_orders');
        break;
    default:
        fwrite(STDERR, "unknown STEP $step\n");
        exit(2);
}

$order = wc_get_order($id);
check($order->get_status() === need('EXPECT_FINAL'), 'order ' . $id . ' ends ' . $order->get_status() . ', want ' . need('EXPECT_FINAL'));
$wantProv = need('EXPECT_PROVISIONED') === 'yes';
check(($provisioned === 1) === $wantProv && $provisioned <= 1,
    'woocommerce_order_status_processing fired ' . $provisioned . ' times, want ' . ($wantProv ? 'once' : 'never'));
$frag = opt('EXPECT_NOTE');
if ($frag !== '') {
    check((bool) array_filter($order->notes, function ($n) use ($frag) {
        return strpos($n, $frag) !== false;
    }), 'no order note contains "' . $frag . '"');
}
checkNoSecret($order->notes, $key);
if ($order->get_status() === 'on-hold' && $step !== 'bacs') {
    $final = in_array($order->get_meta('_vpsgate_status'), ['rejected', 'expired'], true);
    check($final || $order->get_meta('_vpsgate_held') === 'yes', 'a held order is not marked for the WP-Cron run');
}

checkGatewayStatus((string) $id);
note('status', $order->get_status());
note('provisioned', $provisioned);
note('notes', $order->notes);
note('meta', ['held' => $order->get_meta('_vpsgate_held'), 'status' => $order->get_meta('_vpsgate_status')]);
finish();
