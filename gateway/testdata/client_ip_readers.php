<?php
// A storefront's view of the client: front controller for PHP's built-in
// server (php -S 127.0.0.1:PORT client_ip_readers.php), used by
// TestForwardingPHPReaders. It answers every path with JSON: the HTTP_*
// variables PHP made of the request headers, and the client address as the
// ways PHP shops commonly read it would find it.

function valid_ip($ip) {
    $ip = trim($ip);
    return filter_var($ip, FILTER_VALIDATE_IP) !== false ? $ip : null;
}

// The "get the real client IP" snippet copied into countless plugins and
// billing modules: the first of these variables that holds an address.
function classic_snippet($s) {
    foreach (['HTTP_CLIENT_IP', 'HTTP_X_FORWARDED_FOR', 'HTTP_X_FORWARDED', 'HTTP_X_CLUSTER_CLIENT_IP',
              'HTTP_FORWARDED_FOR', 'HTTP_FORWARDED', 'HTTP_TRUE_CLIENT_IP', 'HTTP_X_REAL_IP'] as $k) {
        if (!empty($s[$k])) {
            foreach (explode(',', $s[$k]) as $ip) {
                if (($v = valid_ip($ip)) !== null) {
                    return $v;
                }
            }
        }
    }
    return $s['REMOTE_ADDR'];
}

// WooCommerce's WC_Geolocation::get_ip_address: X-Real-IP, else the first
// X-Forwarded-For entry, else REMOTE_ADDR.
function woocommerce($s) {
    if (isset($s['HTTP_X_REAL_IP'])) {
        return trim($s['HTTP_X_REAL_IP']);
    }
    if (isset($s['HTTP_X_FORWARDED_FOR'])) {
        return (string) valid_ip(current(explode(',', $s['HTTP_X_FORWARDED_FOR'])));
    }
    return $s['REMOTE_ADDR'];
}

// Wordfence-style CDN awareness: CF-Connecting-IP, then X-Real-IP, then the
// first X-Forwarded-For entry.
function cdn_first($s) {
    foreach (['HTTP_CF_CONNECTING_IP', 'HTTP_TRUE_CLIENT_IP', 'HTTP_FASTLY_CLIENT_IP', 'HTTP_X_REAL_IP'] as $k) {
        if (!empty($s[$k]) && ($v = valid_ip($s[$k])) !== null) {
            return $v;
        }
    }
    if (!empty($s['HTTP_X_FORWARDED_FOR'])) {
        return (string) valid_ip(explode(',', $s['HTTP_X_FORWARDED_FOR'])[0]);
    }
    return $s['REMOTE_ADDR'];
}

// Symfony/Laravel TrustProxies with the gateway as the only trusted proxy:
// X-Forwarded-For plus REMOTE_ADDR, walked from the right past trusted hops.
function trusted_proxy_walk($s) {
    $chain = isset($s['HTTP_X_FORWARDED_FOR']) ? explode(',', $s['HTTP_X_FORWARDED_FOR']) : [];
    $chain[] = $s['REMOTE_ADDR'];
    for ($i = count($chain) - 1; $i >= 0; $i--) {
        $ip = trim($chain[$i]);
        if ($ip !== $s['REMOTE_ADDR']) {
            return $ip;
        }
    }
    return $s['REMOTE_ADDR'];
}

// Symfony with HEADER_FORWARDED: the for= of the last element.
function forwarded_last($s) {
    if (empty($s['HTTP_FORWARDED'])) {
        return $s['REMOTE_ADDR'];
    }
    $elems = explode(',', $s['HTTP_FORWARDED']);
    if (preg_match('/for="?\[?([0-9A-Fa-f:.]+)/i', end($elems), $m)) {
        return $m[1];
    }
    return '';
}

$http = [];
foreach ($_SERVER as $k => $v) {
    if (strncmp($k, 'HTTP_', 5) === 0) {
        $http[$k] = $v;
    }
}
header('Content-Type: application/json');
echo json_encode([
    'http' => $http,
    'readers' => [
        'classic_snippet' => classic_snippet($_SERVER),
        'woocommerce' => woocommerce($_SERVER),
        'cdn_first' => cdn_first($_SERVER),
        'trusted_proxy_walk' => trusted_proxy_walk($_SERVER),
        'forwarded_last' => forwarded_last($_SERVER),
    ],
]);
