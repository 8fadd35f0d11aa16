<?php
/**
 * VPS Gate for WooCommerce: the hooks.
 *
 * Checkout (both): woocommerce_checkout_order_processed (classic,
 * WC_Checkout::process_checkout) and
 * woocommerce_store_api_checkout_order_processed (blocks, the Store API's
 * checkout route) screen the new order under its WooCommerce order id, or
 * link the screening the gateway made of the checkout request
 * (X-Screening-Id) when the gateway is in front.
 *
 * Provisioning: WooCommerce moves a paid order to "processing" (or
 * "completed" when nothing needs processing) in WC_Order::payment_complete,
 * and provisioning plugins start from those statuses. So
 * woocommerce_before_order_object_save (WC_Data::save, before the order
 * is written and before WC_Order::status_transition fires
 * woocommerce_order_status_processing/completed) sets "on-hold" instead
 * whenever an order is about to be saved in one of them without having
 * cleared: after a payment, an admin's edit, a payment plugin's
 * update_status alike. (Not the woocommerce_payment_complete_order_status
 * filter: WooCommerce also applies it from maybe_set_date_paid on every
 * status change, e.g. a bank transfer order set on-hold awaiting payment,
 * which must not be mistaken for a held paid order.)
 *  - a WP-Cron event (every five minutes) asks the gateway about the held
 *    orders: cleared ones go on to processing/completed (and provisioning
 *    starts), rejected and expired ones stay on hold with a note.
 * No answer, an error, a wrong key: the order stays on hold.
 *
 * Settings: the constants VPSGATE_URL, VPSGATE_API_KEY, VPSGATE_TIMEOUT,
 * VPSGATE_LINK_CHECKOUT in wp-config.php, else the options page
 * (Settings > VPS Gate, option vpsgate_settings).
 */

declare(strict_types=1);

namespace VpsGate\WooCommerce;

use VpsGate\Client;
use VpsGate\Fields;
use VpsGate\GatewayError;
use VpsGate\Guard;
use VpsGate\Verdict;

final class Plugin
{
    /** The statuses provisioning starts from (WC_Order::payment_complete). */
    const GUARDED = ['processing', 'completed'];
    const HELD_META = '_vpsgate_held';
    const STATUS_META = '_vpsgate_status';
    const CRON = 'vpsgate_poll_held_orders';
    const OPTION = 'vpsgate_settings';

    /** @var array<int,Verdict> this request's verdicts, by order id */
    private static $verdicts = [];

    public static function register(): void
    {
        add_action('woocommerce_checkout_order_processed', [self::class, 'onClassicCheckout'], 10, 3);
        add_action('woocommerce_store_api_checkout_order_processed', [self::class, 'onBlocksCheckout'], 10, 1);
        add_action('woocommerce_before_order_object_save', [self::class, 'beforeOrderSave'], 100, 2);
        add_filter('cron_schedules', [self::class, 'cronSchedules']);
        add_action(self::CRON, [self::class, 'pollHeldOrders']);
        add_action('admin_menu', [self::class, 'adminMenu']);
        add_action('admin_init', [self::class, 'adminInit']);
        add_action('before_woocommerce_init', function () {
            if (class_exists('\Automattic\WooCommerce\Utilities\FeaturesUtil')) {
                $file = dirname(__DIR__) . '/vpsgate-screening.php';
                \Automattic\WooCommerce\Utilities\FeaturesUtil::declare_compatibility('custom_order_tables', $file, true);
                \Automattic\WooCommerce\Utilities\FeaturesUtil::declare_compatibility('cart_checkout_blocks', $file, true);
            }
        });
    }

    public static function activate(): void
    {
        if (!wp_next_scheduled(self::CRON)) {
            wp_schedule_event(time() + 60, 'vpsgate_five_minutes', self::CRON);
        }
    }

    public static function deactivate(): void
    {
        wp_clear_scheduled_hook(self::CRON);
    }

    /** @param array<string,array> $schedules */
    public static function cronSchedules($schedules): array
    {
        $schedules = is_array($schedules) ? $schedules : [];
        $schedules['vpsgate_five_minutes'] = ['interval' => 300, 'display' => 'Every five minutes (VPS Gate)'];
        return $schedules;
    }

    /** @return array{url:string,key:string,timeout:float,link:bool} */
    public static function settings(): array
    {
        $o = get_option(self::OPTION, []);
        $o = is_array($o) ? $o : [];
        return [
            'url' => defined('VPSGATE_URL') ? (string) constant('VPSGATE_URL') : (string) ($o['url'] ?? ''),
            'key' => defined('VPSGATE_API_KEY') ? (string) constant('VPSGATE_API_KEY') : (string) ($o['api_key'] ?? ''),
            'timeout' => (float) (defined('VPSGATE_TIMEOUT') ? constant('VPSGATE_TIMEOUT') : ($o['timeout'] ?? 5)),
            // Linking is on unless turned off: WooCommerce creates the
            // order from the billing fields the checkout posted, which is
            // what the gateway in front screened.
            'link' => defined('VPSGATE_LINK_CHECKOUT') ? (bool) constant('VPSGATE_LINK_CHECKOUT') : empty($o['resubmit_checkout']),
        ];
    }

    /** @throws GatewayError when the settings are incomplete or wrong */
    private static function guard(array $s): Guard
    {
        if ($s['url'] === '' || $s['key'] === '') {
            throw new GatewayError('VPS Gate has no gateway URL or API key');
        }
        return new Guard(new Client($s['url'], $s['key'], $s['timeout'] > 0 ? $s['timeout'] : 5.0));
    }

    /** Classic checkout: do_action('woocommerce_checkout_order_processed', $order_id, $posted_data, $order). */
    public static function onClassicCheckout($orderId, $postedData = null, $order = null): void
    {
        $order = $order instanceof \WC_Order ? $order : wc_get_order($orderId);
        if ($order instanceof \WC_Order) {
            self::screen($order);
        }
    }

    /** Block checkout: do_action('woocommerce_store_api_checkout_order_processed', $order). */
    public static function onBlocksCheckout($order): void
    {
        if ($order instanceof \WC_Order) {
            self::screen($order);
        }
    }

    /**
     * Whether the plugin screens and holds this order: the filter
     * vpsgate_guard_order (default true) lets a shop exempt orders it
     * vouches for itself, e.g. those an admin creates in wp-admin
     * (created_via "admin"), which carry no customer IP.
     */
    private static function guarded(\WC_Order $order): bool
    {
        return (bool) apply_filters('vpsgate_guard_order', true, $order);
    }

    private static function screen(\WC_Order $order): void
    {
        if (!self::guarded($order)) {
            return;
        }
        $id = (int) $order->get_id();
        try {
            $s = self::settings();
            $guard = self::guard($s);
        } catch (\Throwable $e) {
            self::record($order, Verdict::unknown($e->getMessage()), true);
            return;
        }
        $screening = '';
        if ($s['link']) {
            $h = (string) ($_SERVER['HTTP_X_SCREENING_ID'] ?? '');
            $screening = Client::isScreeningId($h) ? $h : '';
        }
        $v = $guard->screen((string) $id, function () use ($order) {
            return self::orderBody($order);
        }, $screening);
        self::$verdicts[$id] = $v;
        self::record($order, $v, true);
    }

    /**
     * woocommerce_before_order_object_save: an order about to be saved in
     * a provisioning status without having cleared is saved on hold
     * instead. set_status rewrites the pending transition, so WooCommerce
     * fires on-hold's actions, never processing's.
     *
     * @param mixed $order
     * @param mixed $dataStore
     */
    public static function beforeOrderSave($order, $dataStore = null): void
    {
        if (!$order instanceof \WC_Order || $order instanceof \WC_Order_Refund) {
            return;
        }
        $changes = $order->get_changes();
        if (!array_key_exists('status', $changes) || !in_array($order->get_status(), self::GUARDED, true)
            || !self::guarded($order)) {
            return;
        }
        $v = self::verdict($order);
        if ($v->allowed) {
            if ($order->get_meta(self::HELD_META) !== '') {
                $order->delete_meta_data(self::HELD_META);
            }
            $order->update_meta_data(self::STATUS_META, $v->status);
            return;
        }
        $order->set_status('on-hold', $v->reason . ': kept on hold, not provisioned');
        $order->update_meta_data(self::HELD_META, 'yes');
        $order->update_meta_data(self::STATUS_META, $v->status);
    }

    /** WP-Cron: move cleared held orders on; note the others. */
    public static function pollHeldOrders(): void
    {
        $orders = wc_get_orders([
            'status' => ['on-hold'],
            'meta_key' => self::HELD_META,
            'meta_value' => 'yes',
            'limit' => 100,
            'orderby' => 'date',
            'order' => 'ASC',
        ]);
        foreach ((array) $orders as $order) {
            if (!$order instanceof \WC_Order) {
                continue;
            }
            $id = (int) $order->get_id();
            unset(self::$verdicts[$id]); // ask afresh
            $v = self::verdict($order);
            if ($v->allowed) {
                $next = $order->needs_processing() ? 'processing' : 'completed';
                $order->delete_meta_data(self::HELD_META);
                $order->update_meta_data(self::STATUS_META, $v->status);
                $order->update_status($next, $v->reason);
                do_action('vpsgate_order_cleared', $order);
            } elseif ($v->status === 'rejected' || $v->status === 'expired') {
                // Final: stop asking, keep the order on hold for the
                // shop to cancel or refund.
                $order->delete_meta_data(self::HELD_META);
                self::record($order, $v, true);
            }
            // held or unknown: ask again at the next run.
        }
    }

    /** The verdict for an order, asked once per request. */
    private static function verdict(\WC_Order $order): Verdict
    {
        $id = (int) $order->get_id();
        if (!isset(self::$verdicts[$id])) {
            try {
                $guard = self::guard(self::settings());
                self::$verdicts[$id] = $guard->activation((string) $id, function () use ($order) {
                    return self::orderBody($order);
                });
            } catch (\Throwable $e) {
                self::$verdicts[$id] = Verdict::unknown($e->getMessage());
            }
        }
        return self::$verdicts[$id];
    }

    private static function record(\WC_Order $order, Verdict $v, bool $save): void
    {
        $order->update_meta_data(self::STATUS_META, $v->status);
        $order->add_order_note($v->reason);
        if ($save) {
            $order->save_meta_data();
        }
    }

    /**
     * The gateway's order body (PRODUCT.md §4 "Orders") from a WC_Order:
     * billing details, the customer's IP and user agent as WooCommerce
     * recorded them at checkout, the total, the items.
     */
    public static function orderBody(\WC_Order $order): array
    {
        $first = trim((string) $order->get_billing_first_name());
        $last = trim((string) $order->get_billing_last_name());
        $items = [];
        foreach ($order->get_items() as $item) {
            $product = is_callable([$item, 'get_product']) ? $item->get_product() : null;
            $sku = $product && is_callable([$product, 'get_sku']) ? (string) $product->get_sku() : '';
            if ($sku === '') {
                $sku = 'product-' . (int) (is_callable([$item, 'get_product_id']) ? $item->get_product_id() : 0);
            }
            $qty = max(1, (int) $item->get_quantity());
            $line = ['sku' => substr($sku, 0, 200), 'quantity' => $qty];
            $price = Fields::decimal(wc_format_decimal((float) $item->get_total() / $qty, 2));
            if ($price !== '') {
                $line['price'] = $price;
            }
            $items[] = $line;
        }
        $customer = (int) $order->get_customer_id();
        $body = [
            'account' => [
                'id' => $customer > 0 ? (string) $customer : 'guest:' . strtolower(trim((string) $order->get_billing_email())),
                'email' => (string) $order->get_billing_email(),
                'name' => trim($first . ' ' . $last),
                'phone' => (string) $order->get_billing_phone(),
            ],
            'ip' => (string) $order->get_customer_ip_address(),
            'user_agent' => (string) $order->get_customer_user_agent(),
            'billing' => [
                'first_name' => $first,
                'last_name' => $last,
                'country' => (string) $order->get_billing_country(),
                'region' => (string) $order->get_billing_state(),
                'city' => (string) $order->get_billing_city(),
                'postal' => (string) $order->get_billing_postcode(),
                'address' => trim($order->get_billing_address_1() . ' ' . $order->get_billing_address_2()),
            ],
            'payment' => ['processor' => Fields::token((string) $order->get_payment_method())],
            'amount' => Fields::decimal((string) $order->get_total()),
            'currency' => (string) $order->get_currency(),
        ];
        if (strlen($body['account']['id']) > 200) {
            $body['account']['id'] = 'guest:' . hash('sha256', $body['account']['id']);
        }
        if ($items) {
            $body['items'] = array_slice($items, 0, 100);
        }
        return $body;
    }

    public static function adminMenu(): void
    {
        add_options_page('VPS Gate', 'VPS Gate', 'manage_options', 'vpsgate', [self::class, 'renderSettings']);
    }

    public static function adminInit(): void
    {
        register_setting('vpsgate', self::OPTION, [
            'type' => 'array',
            'sanitize_callback' => [self::class, 'sanitizeSettings'],
            'show_in_rest' => false,
        ]);
    }

    /** @param mixed $in */
    public static function sanitizeSettings($in): array
    {
        $in = is_array($in) ? $in : [];
        $old = get_option(self::OPTION, []);
        $key = trim((string) ($in['api_key'] ?? ''));
        return [
            'url' => esc_url_raw(trim((string) ($in['url'] ?? '')), ['http', 'https']),
            // An empty field keeps the stored key: the page never shows it.
            'api_key' => $key !== '' ? $key : (string) (is_array($old) ? ($old['api_key'] ?? '') : ''),
            'timeout' => max(1, min(60, (int) ($in['timeout'] ?? 5))),
            'resubmit_checkout' => !empty($in['resubmit_checkout']),
        ];
    }

    public static function renderSettings(): void
    {
        if (!current_user_can('manage_options')) {
            return;
        }
        $s = self::settings();
        $fixed = defined('VPSGATE_URL') || defined('VPSGATE_API_KEY');
        echo '<div class="wrap"><h1>VPS Gate</h1>';
        if ($fixed) {
            echo '<p>Set in wp-config.php (VPSGATE_* constants); the constants win over this page.</p>';
        }
        echo '<form method="post" action="options.php">';
        settings_fields('vpsgate');
        $name = esc_attr(self::OPTION);
        echo '<table class="form-table">';
        echo '<tr><th>Gateway admin URL</th><td><input class="regular-text" name="' . $name . '[url]" value="' . esc_attr($s['url']) . '"></td></tr>';
        echo '<tr><th>Storefront API key</th><td><input class="regular-text" type="password" autocomplete="off" name="' . $name . '[api_key]" value="" placeholder="' . ($s['key'] !== '' ? 'stored; type to replace' : '') . '"></td></tr>';
        echo '<tr><th>Timeout (seconds)</th><td><input type="number" min="1" max="60" name="' . $name . '[timeout]" value="' . esc_attr((string) (int) $s['timeout']) . '"></td></tr>';
        echo '<tr><th>Screen every order again</th><td><label><input type="checkbox" name="' . $name . '[resubmit_checkout]" value="1"' . ($s['link'] ? '' : ' checked') . '> leave unticked: a checkout the gateway in front screened (X-Screening-Id, which only the gateway sets) is linked to its order instead of being screened twice</label></td></tr>';
        echo '</table>';
        submit_button();
        echo '</form></div>';
    }
}
