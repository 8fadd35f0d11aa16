<?php
/**
 * VPS Gate for WHMCS: what the hooks do.
 *
 * - AfterShoppingCartCheckout: when the gateway in front screened the
 *   checkout request (it forwarded it with X-Screening-Id) and WHMCS
 *   placed the order with the details that request posted, that screening
 *   is linked to WHMCS's order id; otherwise (a checkout the gateway
 *   deferred, X-Screening-Decision: deferred; an order on an existing
 *   account's stored details; no gateway in front; the setting "Screen
 *   every order again" ticked) the order WHMCS just created (client
 *   details, amount, the order's IP) is screened by the gateway under
 *   WHMCS's order id.
 * - PreModuleCreate: the service's order is looked up on the gateway; unless
 *   its status is "cleared" the hook returns abortcmd (true, the boolean
 *   WHMCS compares with ===) and WHMCS does not create the service. No
 *   answer, a timeout, an error, a wrong key: no service either.
 *
 * - AfterCronJob: the services refused while their order was held
 *   (kept in mod_vpsgate_held) are asked about again; once the order has
 *   cleared, WHMCS's ModuleCreate creates the service (PreModuleCreate
 *   lets it through); a rejected or expired order is dropped from the
 *   list, with a line in the Activity Log.
 *
 * WHMCS functions used (the edge the tests stub): localAPI (GetOrders,
 * GetClientsDetails, GetClientsProducts, ModuleCreate), logActivity, and
 * WHMCS\Database\Capsule for the addon's settings (tbladdonmodules) and
 * its list of held services (mod_vpsgate_held).
 */

declare(strict_types=1);

namespace VpsGate\Whmcs;

use VpsGate\Client;
use VpsGate\Fields;
use VpsGate\GatewayError;
use VpsGate\Guard;
use VpsGate\Verdict;
use WHMCS\Database\Capsule;

final class Module
{
    const NAME = 'vpsgate';
    /** The services refused while their order was held, to retry from the cron. */
    const HELD_TABLE = 'mod_vpsgate_held';

    /** @return array<string,string> the addon's settings */
    public static function settings(): array
    {
        $out = [];
        foreach (Capsule::table('tbladdonmodules')->where('module', self::NAME)->get() as $row) {
            $out[(string) $row->setting] = (string) $row->value;
        }
        if (defined('VPSGATE_API_KEY')) {
            $out['api_key'] = (string) constant('VPSGATE_API_KEY');
        }
        return $out;
    }

    /** @throws GatewayError when the settings are incomplete or wrong */
    public static function client(array $settings): Client
    {
        $url = $settings['gateway_url'] ?? '';
        $key = $settings['api_key'] ?? '';
        if ($url === '' || $key === '') {
            throw new GatewayError('the VPS Gate addon has no gateway URL or API key');
        }
        $timeout = (float) (($settings['timeout'] ?? '') !== '' ? $settings['timeout'] : 5);
        return new Client($url, $key, $timeout);
    }

    /** AfterShoppingCartCheckout: screen the new order. */
    public static function afterCheckout(array $vars): void
    {
        $orderId = (int) ($vars['OrderID'] ?? 0);
        if ($orderId <= 0) {
            return;
        }
        try {
            $settings = self::settings();
            $guard = new Guard(self::client($settings));
        } catch (\Throwable $e) {
            self::log(Verdict::unknown($e->getMessage())->reason . ': order ' . $orderId . ' not screened');
            return;
        }
        $screening = '';
        if (($settings['resubmit_checkout'] ?? '') !== 'on' && self::detailsPosted()) {
            // Only the gateway sets this header (it removes any copy a
            // client sends); a client reaching WHMCS around it cannot name
            // a screening it has never seen (the id is never shown to
            // it), and an id the gateway does not know makes the order
            // screened here.
            $h = (string) ($_SERVER['HTTP_X_SCREENING_ID'] ?? '');
            $screening = Client::isScreeningId($h) ? $h : '';
        }
        $v = $guard->screen((string) $orderId, function () use ($orderId) {
            return self::orderBody($orderId);
        }, $screening);
        self::log($v->reason);
    }

    /**
     * Whether WHMCS placed the order with the details the checkout posted
     * (what the gateway in front screened): a new client, or a client who
     * is logged in adding a new account (standard_cart 8 and later:
     * account_id "new"). With a numeric account_id (WHMCS 8 and later)
     * the order goes on that account's stored details, whatever the form
     * posted, so the gateway's screening of the request is not a screening
     * of the order; anything unexpected counts the same way.
     */
    private static function detailsPosted(): bool
    {
        if (!array_key_exists('account_id', $_REQUEST)) {
            return true;
        }
        return $_REQUEST['account_id'] === 'new';
    }

    /**
     * PreModuleCreate: refuse to create the service unless its order has
     * cleared.
     *
     * @return array ['abortcmd' => true] to refuse, [] to let WHMCS go on
     */
    public static function preModuleCreate(array $vars): array
    {
        $serviceId = (int) ($vars['params']['serviceid'] ?? 0);
        $v = self::activation($serviceId);
        self::log($v->reason . ($v->allowed ? ': service ' . $serviceId . ' may be created'
            : ': service ' . $serviceId . ' not created'));
        if ($serviceId > 0) {
            // Held (or undecided) services are retried from the cron;
            // cleared, rejected and expired ones are not.
            self::held($serviceId, !$v->allowed && $v->status !== 'rejected' && $v->status !== 'expired');
        }
        return $v->allowed ? [] : ['abortcmd' => true];
    }

    /** AfterCronJob: create the held services whose order has cleared since. */
    public static function afterCron(): void
    {
        try {
            $rows = Capsule::table(self::HELD_TABLE)->get();
        } catch (\Throwable $e) {
            self::log('VPS Gate: reading ' . self::HELD_TABLE . ' failed (' . get_class($e) . '); is the addon activated?');
            return;
        }
        foreach ($rows as $row) {
            $serviceId = (int) $row->serviceid;
            $v = self::activation($serviceId);
            if ($v->allowed) {
                self::held($serviceId, false);
                // ModuleCreate runs PreModuleCreate again, which lets it through.
                $r = localAPI('ModuleCreate', ['serviceid' => $serviceId]);
                $ok = is_array($r) && ($r['result'] ?? '') === 'success';
                self::log($v->reason . ': ModuleCreate for service ' . $serviceId . ' '
                    . ($ok ? 'done' : 'failed: ' . substr((string) (is_array($r) ? ($r['message'] ?? '') : ''), 0, 200)));
            } elseif ($v->status === 'rejected' || $v->status === 'expired') {
                self::held($serviceId, false);
                self::log($v->reason . ': service ' . $serviceId . ' will not be created');
            }
            // held or undecided: asked again at the next run.
        }
    }

    /** Creates the addon's table (vpsgate_activate). */
    public static function install(): void
    {
        if (!Capsule::schema()->hasTable(self::HELD_TABLE)) {
            Capsule::schema()->create(self::HELD_TABLE, function ($table) {
                $table->unsignedInteger('serviceid')->primary();
                $table->timestamp('held_at')->nullable();
            });
        }
    }

    /** Adds or removes a service on the list the cron retries. */
    private static function held(int $serviceId, bool $held): void
    {
        try {
            $q = Capsule::table(self::HELD_TABLE);
            if ($held) {
                $q->updateOrInsert(['serviceid' => $serviceId], ['held_at' => date('Y-m-d H:i:s')]);
            } else {
                $q->where('serviceid', $serviceId)->delete();
            }
        } catch (\Throwable $e) {
            // The refusal stands; only the automatic retry is lost.
            self::log('VPS Gate: updating ' . self::HELD_TABLE . ' for service ' . $serviceId . ' failed (' . get_class($e) . ')');
        }
    }

    /** The verdict for creating one service (tblhosting id). */
    public static function activation(int $serviceId): Verdict
    {
        try {
            if ($serviceId <= 0) {
                throw new GatewayError('no service id in the module parameters');
            }
            $orderId = self::serviceOrder($serviceId);
            $guard = new Guard(self::client(self::settings()));
        } catch (\Throwable $e) {
            return Verdict::unknown($e->getMessage());
        }
        return $guard->activation((string) $orderId, function () use ($orderId) {
            return self::orderBody($orderId);
        });
    }

    /** The admin page's line: whether the gateway answers with these settings. */
    public static function checkConnection(): string
    {
        try {
            $c = self::client(self::settings());
            $c->getOrder('vpsgate-connection-check');
            return 'The gateway answers and accepts the API key.';
        } catch (\Throwable $e) {
            return 'The gateway cannot be used: ' . $e->getMessage();
        }
    }

    /** The order a service was bought in (GetClientsProducts). */
    private static function serviceOrder(int $serviceId): int
    {
        $r = self::api('GetClientsProducts', ['serviceid' => $serviceId]);
        $p = $r['products']['product'][0] ?? null;
        $orderId = is_array($p) ? (int) ($p['orderid'] ?? 0) : 0;
        if ($orderId <= 0) {
            // A service an admin added without an order has nothing the
            // gateway screened: it is refused like any other unknown.
            throw new GatewayError('service ' . $serviceId . ' belongs to no order');
        }
        return $orderId;
    }

    /**
     * The gateway's order body (PRODUCT.md §4 "Orders") for a WHMCS order:
     * the order (GetOrders: client, amount, payment method, IP) and its
     * client (GetClientsDetails: name, email, address, currency).
     */
    public static function orderBody(int $orderId): array
    {
        $orders = self::api('GetOrders', ['id' => $orderId]);
        $o = $orders['orders']['order'][0] ?? null;
        if (!is_array($o) || (int) ($o['id'] ?? 0) !== $orderId) {
            throw new GatewayError('WHMCS has no order ' . $orderId);
        }
        $details = self::api('GetClientsDetails', ['clientid' => (int) $o['userid'], 'stats' => false]);
        $c = isset($details['client']) && is_array($details['client']) ? $details['client'] : $details;

        $first = trim((string) ($c['firstname'] ?? ''));
        $last = trim((string) ($c['lastname'] ?? ''));
        $items = [];
        foreach (($o['lineitems']['lineitem'] ?? []) as $li) {
            if (!is_array($li)) {
                continue;
            }
            $sku = trim((string) ($li['product'] ?? ''));
            if ($sku === '') {
                continue;
            }
            $item = ['sku' => substr($sku, 0, 200), 'category' => strtolower(trim((string) ($li['producttype'] ?? ''))), 'quantity' => 1];
            $price = Fields::decimal($li['amount'] ?? '');
            if ($price !== '') {
                $item['price'] = $price;
            }
            $items[] = $item;
        }
        $body = [
            'account' => [
                'id' => (string) $o['userid'],
                'email' => (string) ($c['email'] ?? ''),
                'name' => trim($first . ' ' . $last),
                'phone' => (string) ($c['phonenumberformatted'] ?? $c['phonenumber'] ?? ''),
            ],
            'ip' => (string) ($o['ipaddress'] ?? ''),
            'billing' => [
                'first_name' => $first,
                'last_name' => $last,
                'country' => (string) ($c['countrycode'] ?? $c['country'] ?? ''),
                'region' => (string) ($c['statecode'] ?? $c['state'] ?? ''),
                'city' => (string) ($c['city'] ?? ''),
                'postal' => (string) ($c['postcode'] ?? ''),
                'address' => trim((string) ($c['address1'] ?? '') . ' ' . (string) ($c['address2'] ?? '')),
            ],
            'payment' => ['processor' => Fields::token((string) ($o['paymentmethod'] ?? ''))],
            'amount' => Fields::decimal($o['amount'] ?? ''),
            'currency' => (string) ($c['currency_code'] ?? ''),
        ];
        if ($items) {
            $body['items'] = $items;
        }
        return $body;
    }

    /** localAPI, with its error answer turned into a GatewayError. */
    private static function api(string $command, array $params): array
    {
        $r = localAPI($command, $params);
        if (!is_array($r) || ($r['result'] ?? '') !== 'success') {
            $msg = is_array($r) ? (string) ($r['message'] ?? 'no message') : 'no answer';
            throw new GatewayError('WHMCS ' . $command . ' failed: ' . substr($msg, 0, 200));
        }
        return $r;
    }

    private static function log(string $line): void
    {
        logActivity($line);
    }
}
