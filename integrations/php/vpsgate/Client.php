<?php
/**
 * VPS Gate: the client of the gateway's order API, shared by the WHMCS
 * module and the WooCommerce plugin.
 *
 * It speaks to the gateway's admin side (admin_listen) with a storefront
 * API key: POST /api/v1/orders, GET /api/v1/orders/{id} and
 * POST /api/v1/orders/{screening_id}/link. It uses PHP's own HTTP stream
 * wrapper (no cURL, no Composer), so it runs wherever allow_url_fopen is on.
 *
 * Every failure (no connection, a timeout, a redirect, a status other than
 * the one expected, a body that is not the gateway's answer) is a
 * GatewayError: the callers treat it as "could not decide" and refuse the
 * activation. The API key never appears in an error message.
 */

declare(strict_types=1);

namespace VpsGate;

/** GatewayError: the gateway could not be asked, or its answer is not usable. */
class GatewayError extends \RuntimeException
{
    /** @var int HTTP status, 0 when there was no answer */
    public $status;
    /** @var string the gateway's error code ("not_found", ...), or "" */
    public $codeName;

    public function __construct(string $message, int $status = 0, string $codeName = '')
    {
        parent::__construct($message);
        $this->status = $status;
        $this->codeName = $codeName;
    }
}

final class Client
{
    /** The statuses an order can have (PRODUCT.md §4 "Orders"). */
    const STATUSES = ['held', 'cleared', 'rejected', 'expired'];

    /** Answers larger than this are not the gateway's. */
    const MAX_ANSWER_BYTES = 1048576;

    /** @var string */
    private $base;
    /** @var string */
    private $apiKey;
    /** @var float */
    private $timeout;

    /**
     * @param string $baseUrl the gateway's admin URL, e.g. "https://gate.example.com:8081"
     * @param string $apiKey  a storefront API key (auth.api_keys)
     * @param float  $timeout seconds for connecting and for each read
     */
    public function __construct(string $baseUrl, string $apiKey, float $timeout = 5.0)
    {
        $baseUrl = rtrim(trim($baseUrl), '/');
        $u = parse_url($baseUrl);
        if ($u === false || !isset($u['scheme'], $u['host'])
            || !in_array(strtolower($u['scheme']), ['http', 'https'], true)
            || isset($u['user']) || isset($u['pass']) || isset($u['query']) || isset($u['fragment'])) {
            throw new GatewayError('the gateway URL must be http(s)://host[:port] without credentials, query or fragment');
        }
        if ($apiKey === '' || preg_match('/[\x00-\x20\x7f]/', $apiKey)) {
            throw new GatewayError('the gateway API key is missing or has white space in it');
        }
        if (!($timeout > 0) || $timeout > 60) {
            throw new GatewayError('the timeout must be between 0 and 60 seconds');
        }
        if (!filter_var(ini_get('allow_url_fopen'), FILTER_VALIDATE_BOOLEAN)) {
            throw new GatewayError('allow_url_fopen is off in php.ini: the gateway cannot be reached');
        }
        $this->base = $baseUrl;
        $this->apiKey = $apiKey;
        $this->timeout = $timeout;
    }

    /**
     * Screens an order (POST /api/v1/orders). The same order again returns
     * the same answer; another order under the same order_id is a 409.
     *
     * @param array $order the body of PRODUCT.md §4 "Orders"
     * @return array the gateway's answer (order_id, status, decision, ...)
     */
    public function submitOrder(array $order): array
    {
        $id = isset($order['order_id']) ? (string) $order['order_id'] : '';
        [$status, $answer] = $this->request('POST', '/api/v1/orders', $order);
        if ($status !== 200) {
            throw self::refusal('submitting order ' . $id, $status, $answer);
        }
        return self::checkOrder($answer, $id);
    }

    /**
     * Reads an order by the shop's order id (GET /api/v1/orders/{id}).
     *
     * @return array|null the gateway's answer, or null when it has no such order
     */
    public function getOrder(string $orderId): ?array
    {
        [$status, $answer] = $this->request('GET', '/api/v1/orders/' . self::segment($orderId), null);
        if ($status === 404 && self::errorCode($answer) === 'not_found' && !self::isUnknownRoute($answer)) {
            return null;
        }
        if ($status !== 200) {
            throw self::refusal('reading order ' . $orderId, $status, $answer);
        }
        return self::checkOrder($answer, $orderId);
    }

    /**
     * Links the screening the gateway made of an intercepted checkout (its
     * X-Screening-Id) to the shop's own order id
     * (POST /api/v1/orders/{screening_id}/link).
     *
     * @return array|null the order's answer, or null when the gateway has
     *                    no link route or no such screening (then the
     *                    caller submits the order itself)
     */
    public function linkOrder(string $screeningId, string $orderId): ?array
    {
        if (!self::isScreeningId($screeningId)) {
            throw new GatewayError('not a screening id: ' . substr(preg_replace('/[^\x21-\x7e]/', '?', $screeningId), 0, 40));
        }
        [$status, $answer] = $this->request('POST', '/api/v1/orders/' . $screeningId . '/link', ['order_id' => $orderId]);
        if ($status === 404 && self::errorCode($answer) === 'not_found') {
            return null;
        }
        if ($status !== 200 && $status !== 201) {
            throw self::refusal('linking screening ' . $screeningId . ' to order ' . $orderId, $status, $answer);
        }
        return self::checkOrder($answer, $orderId);
    }

    /** A screening id is "scr_" and 22 characters of base64url (orders.IsScreeningID). */
    public static function isScreeningId(string $s): bool
    {
        return (bool) preg_match('/\Ascr_[A-Za-z0-9_-]{22}\z/', $s);
    }

    /**
     * @return array{0:int,1:mixed} the status and the decoded JSON answer (null when not JSON)
     */
    private function request(string $method, string $path, ?array $body): array
    {
        $headers = [
            'Authorization: Bearer ' . $this->apiKey,
            'Accept: application/json',
            'Connection: close',
        ];
        $opts = [
            'method' => $method,
            'timeout' => $this->timeout,
            'ignore_errors' => true, // read the JSON error of a 4xx/5xx too
            'follow_location' => 0,  // a redirect is not the gateway's answer
            'max_redirects' => 1,
            'protocol_version' => 1.0,
            'user_agent' => 'vpsgate-php/1',
        ];
        if ($body !== null) {
            $json = json_encode($body, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
            if ($json === false) {
                throw new GatewayError('encoding the request: ' . json_last_error_msg());
            }
            $headers[] = 'Content-Type: application/json';
            $headers[] = 'Content-Length: ' . strlen($json);
            $opts['content'] = $json;
        }
        $opts['header'] = implode("\r\n", $headers);
        $ctx = stream_context_create(['http' => $opts]);

        $what = $method . ' ' . $path;
        $err = '';
        set_error_handler(function (int $no, string $msg) use (&$err): bool {
            $err = $msg;
            return true;
        });
        try {
            $raw = file_get_contents($this->base . $path, false, $ctx, 0, self::MAX_ANSWER_BYTES + 1);
            $responseHeaders = function_exists('http_get_last_response_headers')
                ? http_get_last_response_headers()
                : ($http_response_header ?? null);
        } finally {
            restore_error_handler();
        }
        if ($raw === false || empty($responseHeaders)) {
            // The stream wrapper's message names the URL, never the headers.
            throw new GatewayError($what . ': no answer from the gateway: ' . self::clean($err));
        }
        if (strlen($raw) > self::MAX_ANSWER_BYTES) {
            throw new GatewayError($what . ': answer over ' . self::MAX_ANSWER_BYTES . ' bytes');
        }
        if (!preg_match('#\AHTTP/\d(?:\.\d)? (\d{3})#', (string) $responseHeaders[0], $m)) {
            throw new GatewayError($what . ': not an HTTP answer');
        }
        $status = (int) $m[1];
        $decoded = json_decode($raw, true);
        return [$status, is_array($decoded) ? $decoded : null];
    }

    /** @param mixed $answer */
    private static function checkOrder($answer, string $orderId): array
    {
        if (!is_array($answer)) {
            throw new GatewayError('the answer for order ' . $orderId . ' is not JSON');
        }
        $status = $answer['status'] ?? null;
        if (!is_string($status) || !in_array($status, self::STATUSES, true)) {
            throw new GatewayError('the answer for order ' . $orderId . ' has no known status');
        }
        // An answer about another order is not an answer about this one.
        if ($orderId !== '' && (string) ($answer['order_id'] ?? '') !== $orderId) {
            throw new GatewayError('the answer for order ' . $orderId . ' is about another order');
        }
        return $answer;
    }

    /** @param mixed $answer */
    private static function errorCode($answer): string
    {
        return is_array($answer) && isset($answer['error']['code']) && is_string($answer['error']['code'])
            ? $answer['error']['code'] : '';
    }

    /** @param mixed $answer gin's NoRoute answer: the gateway has no such endpoint */
    private static function isUnknownRoute($answer): bool
    {
        return is_array($answer) && isset($answer['error']['message']) && is_string($answer['error']['message'])
            && strncmp($answer['error']['message'], 'no such endpoint', 16) === 0;
    }

    /** @param mixed $answer */
    private static function refusal(string $what, int $status, $answer): GatewayError
    {
        $code = self::errorCode($answer);
        $msg = is_array($answer) && isset($answer['error']['message']) && is_string($answer['error']['message'])
            ? $answer['error']['message'] : ($answer === null ? 'not a JSON answer' : 'no error message');
        return new GatewayError($what . ': the gateway answered ' . $status
            . ($code !== '' ? ' ' . $code : '') . ': ' . self::clean($msg), $status, $code);
    }

    /** One path segment: the order id is the shop's, so it is escaped. */
    private static function segment(string $s): string
    {
        if ($s === '') {
            throw new GatewayError('empty order id');
        }
        return rawurlencode($s);
    }

    /** Keeps messages to one printable line of bounded length (they go to logs). */
    private static function clean(string $s): string
    {
        return substr(preg_replace('/[^\x20-\x7e]+/', ' ', $s), 0, 300);
    }
}
