<?php
/**
 * The WordPress and WooCommerce edge, stubbed for php-cli: the hook
 * functions (add_action, do_action, apply_filters, ...), get_option,
 * wc_get_order(s), WP-Cron's scheduling functions, and a WC_Order that
 * keeps WooCommerce's own save and status-transition order (from
 * plugins/woocommerce/includes/class-wc-order.php: payment_complete,
 * set_status, save, status_transition; WC_Data::save fires
 * woocommerce_before_order_object_save before writing). Everything behind
 * them (the plugin, the shared client, the gateway) is real.
 */

declare(strict_types=1);

define('ABSPATH', __DIR__ . '/');

$GLOBALS['wp'] = ['actions' => [], 'options' => [], 'orders' => [], 'cron' => []];

function add_action(string $hook, callable $fn, int $priority = 10, int $args = 1): void
{
    $GLOBALS['wp']['actions'][$hook][] = [$priority, $fn, $args];
}

function add_filter(string $hook, callable $fn, int $priority = 10, int $args = 1): void
{
    add_action($hook, $fn, $priority, $args);
}

/** @return array callbacks in priority order, then in the order added */
function wp_test_callbacks(string $hook): array
{
    $cbs = $GLOBALS['wp']['actions'][$hook] ?? [];
    $i = 0;
    foreach ($cbs as &$cb) {
        $cb[3] = $i++;
    }
    unset($cb);
    usort($cbs, function ($a, $b) {
        return [$a[0], $a[3]] <=> [$b[0], $b[3]];
    });
    return $cbs;
}

function do_action(string $hook, ...$args): void
{
    foreach (wp_test_callbacks($hook) as [, $fn, $n]) {
        $fn(...array_slice($args, 0, $n));
    }
}

function apply_filters(string $hook, $value, ...$args)
{
    foreach (wp_test_callbacks($hook) as [, $fn, $n]) {
        $value = $fn(...array_slice(array_merge([$value], $args), 0, $n));
    }
    return $value;
}

function register_activation_hook(string $file, $fn): void
{
}

function register_deactivation_hook(string $file, $fn): void
{
}

function get_option(string $name, $default = false)
{
    return $GLOBALS['wp']['options'][$name] ?? $default;
}

function wp_next_scheduled(string $hook)
{
    return $GLOBALS['wp']['cron'][$hook] ?? false;
}

function wp_schedule_event(int $ts, string $recurrence, string $hook): bool
{
    $GLOBALS['wp']['cron'][$hook] = $ts;
    return true;
}

function wp_clear_scheduled_hook(string $hook): void
{
    unset($GLOBALS['wp']['cron'][$hook]);
}

function wc_format_decimal($n, $dp = false): string
{
    return $dp === false ? (string) $n : number_format((float) $n, (int) $dp, '.', '');
}

function wc_get_order($id)
{
    return $GLOBALS['wp']['orders'][(int) $id] ?? false;
}

/** The subset of wc_get_orders the plugin uses: status, meta_key/meta_value, limit. */
function wc_get_orders(array $q): array
{
    $out = [];
    foreach ($GLOBALS['wp']['orders'] as $o) {
        if (isset($q['status']) && !in_array($o->get_status(), (array) $q['status'], true)) {
            continue;
        }
        if (isset($q['meta_key']) && $o->get_meta($q['meta_key']) !== ($q['meta_value'] ?? $o->get_meta($q['meta_key']))) {
            continue;
        }
        $out[] = $o;
    }
    return array_slice($out, 0, (int) ($q['limit'] ?? 10));
}

class WC_Order_Item_Product_Stub
{
    private $d;

    public function __construct(array $d)
    {
        $this->d = $d;
    }

    public function get_product()
    {
        $sku = $this->d['sku'];
        return new class ($sku) {
            private $sku;

            public function __construct(string $sku)
            {
                $this->sku = $sku;
            }

            public function get_sku(): string
            {
                return $this->sku;
            }
        };
    }

    public function get_product_id(): int
    {
        return (int) $this->d['product_id'];
    }

    public function get_quantity(): int
    {
        return (int) $this->d['quantity'];
    }

    public function get_total(): string
    {
        return (string) $this->d['total'];
    }
}

class WC_Order
{
    /** @var array stored data */
    private $data;
    /** @var array changed props since the last save */
    private $changes = [];
    private $meta = [];
    private $transition = false;
    public $notes = [];

    public function __construct(array $data)
    {
        $this->data = $data + ['status' => 'pending', 'meta' => []];
        $this->meta = $this->data['meta'];
    }

    public function get_id(): int
    {
        return (int) $this->data['id'];
    }

    public function get_status(): string
    {
        return $this->changes['status'] ?? $this->data['status'];
    }

    public function has_status($s): bool
    {
        return in_array($this->get_status(), (array) $s, true);
    }

    public function get_changes(): array
    {
        return $this->changes;
    }

    /** As WC_Order::set_status: the transition keeps its first "from". */
    public function set_status(string $new, string $note = '', bool $manual = false): array
    {
        $old = $this->get_status();
        $this->changes['status'] = $new;
        if ($old !== $new) {
            $this->transition = [
                'from' => !empty($this->transition['from']) ? $this->transition['from'] : $old,
                'to' => $new, 'note' => $note, 'manual' => $manual,
            ];
        }
        return ['from' => $old, 'to' => $new];
    }

    public function needs_processing(): bool
    {
        return true; // a VPS is a service, not a download
    }

    /** As WC_Order::payment_complete. */
    public function payment_complete(string $transactionId = ''): bool
    {
        if ($this->has_status(['on-hold', 'pending', 'failed', 'cancelled'])) {
            $this->set_status(apply_filters('woocommerce_payment_complete_order_status',
                $this->needs_processing() ? 'processing' : 'completed', $this->get_id(), $this));
            $this->save();
            do_action('woocommerce_payment_complete', $this->get_id(), $transactionId);
        }
        return true;
    }

    /** As WC_Order::update_status. */
    public function update_status(string $new, string $note = '', bool $manual = false): bool
    {
        $this->set_status($new, $note, $manual);
        $this->save();
        return true;
    }

    /** As WC_Order::save: WC_Data::save (before-save action, write), then the transition's actions. */
    public function save(): int
    {
        do_action('woocommerce_before_order_object_save', $this, null);
        $this->data = array_merge($this->data, $this->changes);
        $this->changes = [];
        $this->data['meta'] = $this->meta;
        $GLOBALS['wp']['orders'][$this->get_id()] = $this;
        $t = $this->transition;
        $this->transition = false;
        if ($t) {
            do_action('woocommerce_order_status_' . $t['to'], $this->get_id(), $this, $t);
            do_action('woocommerce_order_status_' . $t['from'] . '_to_' . $t['to'], $this->get_id(), $this);
            do_action('woocommerce_order_status_changed', $this->get_id(), $t['from'], $t['to'], $this);
            if ($t['note'] !== '') {
                $this->add_order_note($t['note']);
            }
        }
        return $this->get_id();
    }

    public function save_meta_data(): void
    {
        $this->data['meta'] = $this->meta;
    }

    public function get_meta(string $key)
    {
        return $this->meta[$key] ?? '';
    }

    public function update_meta_data(string $key, $value): void
    {
        $this->meta[$key] = $value;
    }

    public function delete_meta_data(string $key): void
    {
        unset($this->meta[$key]);
    }

    public function add_order_note(string $note): int
    {
        $this->notes[] = $note;
        return count($this->notes);
    }

    public function get_items(): array
    {
        return array_map(function ($i) {
            return new WC_Order_Item_Product_Stub($i);
        }, $this->data['items'] ?? []);
    }

    public function __call(string $name, array $args)
    {
        // The plain getters: get_billing_email, get_total, ...
        if (strncmp($name, 'get_', 4) === 0 && array_key_exists(substr($name, 4), $this->data)) {
            return $this->data[substr($name, 4)];
        }
        throw new LogicException('the WC_Order stub has no ' . $name);
    }
}
