<?php
/**
 * VPS Gate: the activation decision shared by the billing-system modules.
 *
 * One rule: a service is activated only when the gateway answers, for the
 * shop's order id, an order whose status is "cleared". Anything else (held,
 * rejected, expired, no answer, an error, a broken answer) refuses it. The
 * gateway's stored order is the source of truth; the modules keep no copy
 * of the decision.
 */

declare(strict_types=1);

namespace VpsGate;

/** Verdict: what the gateway said about one order, as the module acts on it. */
final class Verdict
{
    /** @var bool true only for an order the gateway answered "cleared" */
    public $allowed;
    /** @var string held|cleared|rejected|expired, or "unknown" when the gateway could not decide */
    public $status;
    /** @var string a short, log-safe explanation for the billing system's log and the admin (never the API key) */
    public $reason;
    /** @var array|null the gateway's answer */
    public $answer;

    private function __construct(bool $allowed, string $status, string $reason, ?array $answer)
    {
        $this->allowed = $allowed;
        $this->status = $status;
        $this->reason = $reason;
        $this->answer = $answer;
    }

    public static function fromAnswer(array $answer): self
    {
        $status = (string) $answer['status'];
        $id = (string) ($answer['order_id'] ?? '');
        if ($status === 'cleared') {
            return new self(true, $status, 'VPS Gate: order ' . $id . ' cleared', $answer);
        }
        $why = 'VPS Gate: order ' . $id . ' is ' . $status;
        if ($status === 'held' && isset($answer['requirements']) && is_array($answer['requirements'])) {
            $pending = [];
            foreach ($answer['requirements'] as $name => $state) {
                if ($state === 'pending') {
                    $pending[] = (string) $name;
                }
            }
            if ($pending) {
                $why .= ' (waiting for ' . implode(', ', $pending) . ')';
            }
        }
        if ($status === 'rejected' && isset($answer['reasons']) && is_array($answer['reasons'])) {
            $codes = [];
            foreach ($answer['reasons'] as $r) {
                if (is_array($r) && isset($r['code']) && is_string($r['code'])) {
                    $codes[] = $r['code'];
                }
            }
            if ($codes) {
                $why .= ' (' . implode(', ', $codes) . ')';
            }
        }
        return new self(false, $status, $why, $answer);
    }

    public static function unknown(string $why): self
    {
        return new self(false, 'unknown', 'VPS Gate: could not ask the gateway (' . $why . ')', null);
    }
}

final class Guard
{
    /** @var Client */
    private $client;

    public function __construct(Client $client)
    {
        $this->client = $client;
    }

    /**
     * Screens the shop's order at checkout. With the screening id of a
     * checkout the gateway intercepted, the screening is linked to the
     * shop's order id; otherwise (or when the gateway has no such
     * screening) the order is submitted. Idempotent: the same order again
     * gets the same answer.
     *
     * @param callable():array $buildOrder the order body (PRODUCT.md §4)
     */
    public function screen(string $orderId, callable $buildOrder, string $screeningId = ''): Verdict
    {
        try {
            $answer = null;
            if ($screeningId !== '') {
                $answer = $this->client->linkOrder($screeningId, $orderId);
            }
            if ($answer === null) {
                $answer = $this->client->submitOrder(self::build($orderId, $buildOrder));
            }
            return Verdict::fromAnswer($answer);
        } catch (\Throwable $e) {
            return Verdict::unknown(self::message($e));
        }
    }

    /**
     * Decides an activation: the order as the gateway has it now. An order
     * the gateway has never seen (the checkout hook could not reach it) is
     * submitted first, so a gateway outage at checkout delays activation
     * and loses nothing.
     *
     * @param callable():array $buildOrder the order body, built only when needed
     */
    public function activation(string $orderId, callable $buildOrder): Verdict
    {
        try {
            $answer = $this->client->getOrder($orderId);
            if ($answer === null) {
                $answer = $this->client->submitOrder(self::build($orderId, $buildOrder));
            }
            return Verdict::fromAnswer($answer);
        } catch (\Throwable $e) {
            return Verdict::unknown(self::message($e));
        }
    }

    private static function build(string $orderId, callable $buildOrder): array
    {
        $order = $buildOrder();
        if (!is_array($order)) {
            throw new GatewayError('the order for ' . $orderId . ' could not be built');
        }
        $order['order_id'] = $orderId;
        return $order;
    }

    private static function message(\Throwable $e): string
    {
        // Anything but our own errors is shown with its class, on one
        // bounded printable line (the message goes to logs and notes).
        if ($e instanceof GatewayError) {
            return $e->getMessage();
        }
        return get_class($e) . ': ' . substr(preg_replace('/[^\x20-\x7e]+/', ' ', $e->getMessage()), 0, 200);
    }
}
