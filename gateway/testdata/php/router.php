<?php
// Front controller for PHP's built-in web server (php -S ... router.php),
// used by the gateway's differential tests as the storefront: it answers
// every path and method with what PHP parsed, and appends the same JSON as
// one line to seen.jsonl next to it, so that a test can tell whether the
// request reached PHP at all.
$files = [];
foreach ($_FILES as $name => $f) {
    $files[$name] = ['name' => $f['name'], 'size' => $f['size'], 'error' => $f['error']];
}
$screening = [];
foreach ($_SERVER as $k => $v) {
    if (strncmp($k, 'HTTP_X_SCREENING_', 17) === 0) {
        $screening[$k] = $v;
    }
}
// How the storefronts behind the profiles would read their checkout
// parameter (gateway/php_query_test.go): WHMCS's "a" from $_REQUEST;
// WordPress's rest_route query var, $_POST before $_GET (WP::parse_request),
// untrailingslashit and lower-cased as routes match case-insensitively;
// WooCommerce's wc-ajax, $_GET only, through sanitize_text_field
// (strip_all_tags, line breaks and runs of white space to one space, trim,
// "%XX" octets removed).
$readings = [];
$a = $_REQUEST['a'] ?? null;
if (is_string($a)) {
    $readings['whmcs_a'] = $a;
}
$rr = isset($_POST['rest_route']) ? $_POST['rest_route'] : ($_GET['rest_route'] ?? null);
if (is_string($rr)) {
    $readings['rest_route'] = strtolower(rtrim($rr, '/\\'));
}
$wc = $_GET['wc-ajax'] ?? null;
if (is_string($wc)) {
    $s = trim(preg_replace('/[\r\n\t ]+/', ' ', strip_tags($wc)));
    while (preg_match('/%[a-f0-9]{2}/i', $s, $m)) {
        $s = str_replace($m[0], '', $s);
    }
    $readings['wc_ajax'] = trim($s);
}
$seen = json_encode([
    'method' => $_SERVER['REQUEST_METHOD'],
    'path' => parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH),
    'uri' => $_SERVER['REQUEST_URI'],
    'post' => $_POST,
    'get' => $_GET,
    'request' => $_REQUEST,
    'files' => $files,
    'screening' => $screening,
    'readings' => $readings,
], JSON_INVALID_UTF8_SUBSTITUTE | JSON_PARTIAL_OUTPUT_ON_ERROR | JSON_FORCE_OBJECT);
file_put_contents(__DIR__ . '/seen.jsonl', $seen . "\n", FILE_APPEND | LOCK_EX);
header('Content-Type: application/json');
echo $seen;
