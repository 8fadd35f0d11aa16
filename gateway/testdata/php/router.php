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
$seen = json_encode([
    'method' => $_SERVER['REQUEST_METHOD'],
    'path' => parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH),
    'uri' => $_SERVER['REQUEST_URI'],
    'post' => $_POST,
    'get' => $_GET,
    'request' => $_REQUEST,
    'files' => $files,
    'screening' => $screening,
], JSON_INVALID_UTF8_SUBSTITUTE | JSON_PARTIAL_OUTPUT_ON_ERROR | JSON_FORCE_OBJECT);
file_put_contents(__DIR__ . '/seen.jsonl', $seen . "\n", FILE_APPEND | LOCK_EX);
header('Content-Type: application/json');
echo $seen;
