<?php
/**
 * The php-cli tests' assertions. A test script reads its case from the
 * environment (set by integrations/integrations_test.go, which runs the
 * real gateway), checks with check(), and ends with finish(): exit status
 * 0 when every check held, 1 otherwise, the failures on stderr and a JSON
 * summary on stdout for the Go test's log.
 */

declare(strict_types=1);

$GLOBALS['vpsgate_test'] = ['checks' => 0, 'failures' => [], 'notes' => []];

/** The value of an environment variable the test needs. */
function need(string $name): string
{
    $v = getenv($name);
    if ($v === false || $v === '') {
        fwrite(STDERR, "missing environment variable $name\n");
        exit(2);
    }
    return $v;
}

function opt(string $name, string $default = ''): string
{
    $v = getenv($name);
    return $v === false ? $default : $v;
}

function check(bool $ok, string $what): void
{
    $GLOBALS['vpsgate_test']['checks']++;
    if (!$ok) {
        $GLOBALS['vpsgate_test']['failures'][] = $what;
    }
}

function note(string $key, $value): void
{
    $GLOBALS['vpsgate_test']['notes'][$key] = $value;
}

/** Checks that no line of a log the billing system keeps holds the API key. */
function checkNoSecret(array $lines, string $secret): void
{
    foreach ($lines as $l) {
        check(strpos($l, $secret) === false, 'a log line holds the API key: ' . $l);
    }
}

/**
 * When EXPECT_STATUS is set, checks the status the gateway reports for the
 * order, read with the storefront key of GATEWAY_CHECK_URL/GATEWAY_CHECK_KEY
 * (the right one, whatever the module under test was given).
 */
function checkGatewayStatus(string $orderId): void
{
    $want = opt('EXPECT_STATUS');
    if ($want === '') {
        return;
    }
    require_once __DIR__ . '/../vpsgate/autoload.php';
    $c = new \VpsGate\Client(need('GATEWAY_CHECK_URL'), need('GATEWAY_CHECK_KEY'));
    $a = $c->getOrder($orderId);
    check($a !== null && $a['status'] === $want, 'the gateway has order ' . $orderId . ' as '
        . json_encode($a === null ? null : $a['status']) . ', want ' . $want);
    // Which screening the order is: the checkout's the module linked, or
    // one of its own (EXPECT_SCREENING "!<id>": not that checkout's).
    $ws = opt('EXPECT_SCREENING');
    if ($ws !== '' && $a !== null) {
        $sid = (string) ($a['screening_id'] ?? '');
        $ok = $ws[0] === '!' ? ($sid !== '' && $sid !== substr($ws, 1)) : $sid === $ws;
        check($ok, 'the gateway has order ' . $orderId . ' as screening ' . $sid . ', want ' . $ws);
    }
}

function finish(): void
{
    $t = $GLOBALS['vpsgate_test'];
    echo json_encode(['ok' => !$t['failures'], 'checks' => $t['checks'], 'failures' => $t['failures'], 'notes' => $t['notes']],
        JSON_UNESCAPED_SLASHES | JSON_PRETTY_PRINT), "\n";
    foreach ($t['failures'] as $f) {
        fwrite(STDERR, "FAIL: $f\n");
    }
    exit($t['failures'] ? 1 : 0);
}
