<?php
/**
 * php-cli test of the WHMCS module against a running gateway.
 *
 * Environment: VPSGATE_URL, VPSGATE_KEY (the module's settings),
 * VPSGATE_TIMEOUT (optional), ORDER (WHMCS order id), EMAIL, COUNTRY,
 * STEP = checkout (AfterShoppingCartCheckout, then PreModuleCreate) |
 * activate (PreModuleCreate only) | cron (AfterCronJob, which may call
 * ModuleCreate), EXPECT_ABORT = yes|no (checkout, activate),
 * EXPECT_CREATED = yes|no (cron: whether ModuleCreate created the
 * service), EXPECT_REMEMBERED = yes|no (optional: whether the service is
 * on the module's list for the cron afterwards), EXPECT_LOG (a
 * fragment the activity log must contain), EXPECT_STATUS (optional: the
 * status the gateway must report for the order afterwards, read with the
 * right key from GATEWAY_CHECK_URL/GATEWAY_CHECK_KEY), SCREENING_ID
 * (optional: the checkout request carrying this X-Screening-Id, as the
 * gateway in front forwards it), ACCOUNT_ID (optional: the checkout
 * posted account_id, standard_cart's choice of a logged-in client's
 * account), RESUBMIT=on (optional: "Screen every order again" ticked),
 * EXPECT_SCREENING (optional: the screening id the gateway must report
 * for the order afterwards; "!<id>" for any other). WHMCS_DB: the file
 * that keeps the module's table between runs.
 */

declare(strict_types=1);

require __DIR__ . '/../../php/tests/harness.php';
require __DIR__ . '/bootstrap.php';
require __DIR__ . '/../modules/addons/vpsgate/hooks.php';
require __DIR__ . '/../modules/addons/vpsgate/vpsgate.php';

$order = (int) need('ORDER');
$service = $order * 10;
$client = 4200 + $order;
$key = need('VPSGATE_KEY');

$GLOBALS['whmcs']['settings'] = [
    'gateway_url' => need('VPSGATE_URL'),
    'api_key' => $key,
    'timeout' => opt('VPSGATE_TIMEOUT', '5'),
    'resubmit_checkout' => opt('RESUBMIT'),
];
if (opt('SCREENING_ID') !== '') {
    // The header the gateway in front adds to the checkout request.
    $_SERVER['HTTP_X_SCREENING_ID'] = opt('SCREENING_ID');
}
if (opt('ACCOUNT_ID') !== '') {
    $_POST['account_id'] = $_REQUEST['account_id'] = opt('ACCOUNT_ID');
}
// As WHMCS's GetOrders and GetClientsDetails answer (fields from
// https://developers.whmcs.com/api-reference/getorders/ and getclientsdetails/).
$GLOBALS['whmcs']['orders'][$order] = [
    'id' => $order, 'ordernum' => 1000000 + $order, 'userid' => $client, 'amount' => '12.00',
    'paymentmethod' => 'stripe', 'invoiceid' => 7000 + $order, 'status' => 'Pending',
    'ipaddress' => opt('IP', '192.0.2.7'),
    'lineitems' => ['lineitem' => [
        ['type' => 'product', 'relid' => $service, 'producttype' => 'Server/VPS', 'product' => 'VPS S1', 'amount' => '12.00'],
    ]],
];
$GLOBALS['whmcs']['clients'][$client] = [
    'id' => $client, 'firstname' => 'Ann', 'lastname' => 'Lee', 'email' => need('EMAIL'),
    'address1' => '1 Main St', 'address2' => '', 'city' => 'San Francisco', 'state' => 'California',
    'statecode' => 'CA', 'postcode' => '94107', 'countrycode' => need('COUNTRY'), 'country' => need('COUNTRY'),
    'phonenumber' => '4155550100', 'phonenumberformatted' => '+1.4155550100', 'currency_code' => 'USD',
];
$GLOBALS['whmcs']['services'][$service] = ['id' => $service, 'orderid' => $order, 'clientid' => $client, 'status' => 'Pending'];

// The addon is activated (its table created, once per WHMCS_DB).
$ar = vpsgate_activate();
check($ar['status'] === 'success', 'vpsgate_activate: ' . json_encode($ar));

$step = need('STEP');
if ($step === 'checkout') {
    $r = run_hook('AfterShoppingCartCheckout', [
        'OrderID' => $order, 'OrderNumber' => 1000000 + $order, 'ServiceIDs' => [$service],
        'AddonIDs' => [], 'DomainIDs' => [], 'RenewalIDs' => [], 'PaymentMethod' => 'stripe',
        'InvoiceID' => 7000 + $order, 'TotalDue' => 12.00,
    ]);
    check($r === [], 'AfterShoppingCartCheckout returned something: ' . json_encode($r));
}

$aborted = null;
if ($step === 'cron') {
    run_hook('AfterCronJob', []);
    $created = in_array($service, $GLOBALS['whmcs']['created'], true);
    $want = need('EXPECT_CREATED') === 'yes';
    check($created === $want, 'service ' . $service . ' created=' . var_export($created, true) . ', want ' . var_export($want, true));
} else {
    // As WHMCS's ModuleCallFunction runs PreModuleCreate: any hook
    // answering abortcmd === true aborts (the comparison is strict).
    $results = run_hook('PreModuleCreate', ['params' => ['serviceid' => $service, 'userid' => $client, 'pid' => 1]]);
    $aborted = false;
    foreach ($results as $r) {
        if (($r['abortcmd'] ?? null) === true) {
            $aborted = true;
        }
    }
    $want = need('EXPECT_ABORT') === 'yes';
    check($aborted === $want, 'PreModuleCreate aborted=' . var_export($aborted, true) . ', want ' . var_export($want, true));
}
$remembered = (bool) \WHMCS\Database\Capsule::table('mod_vpsgate_held')->where('serviceid', $service)->get();
if (opt('EXPECT_REMEMBERED') !== '') {
    $want = opt('EXPECT_REMEMBERED') === 'yes';
    check($remembered === $want, 'service ' . $service . ' on the cron list=' . var_export($remembered, true) . ', want ' . var_export($want, true));
}

$log = $GLOBALS['whmcs']['log'];
$frag = opt('EXPECT_LOG');
if ($frag !== '') {
    check((bool) array_filter($log, function ($l) use ($frag) {
        return strpos($l, $frag) !== false;
    }), 'no activity log line contains "' . $frag . '"');
}
checkNoSecret($log, $key);

checkGatewayStatus((string) $order);
note('aborted', $aborted);
note('log', $log);
finish();
