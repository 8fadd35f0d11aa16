<?php
/**
 * The WHMCS edge, stubbed for php-cli: only the functions and the class
 * the module calls (add_hook, run_hook, logActivity, localAPI, Capsule's
 * tbladdonmodules read). Everything behind them (the module, the shared
 * client, the gateway it talks to) is real.
 *
 * The stubs answer from $GLOBALS['whmcs'] (settings, orders, clients,
 * services), which each test fills.
 */

declare(strict_types=1);

namespace WHMCS\Database {
    final class Capsule
    {
        public static function table(string $name): CapsuleQuery
        {
            return new CapsuleQuery($name);
        }
    }

    final class CapsuleQuery
    {
        private $table;
        private $where = [];

        public function __construct(string $table)
        {
            $this->table = $table;
        }

        public function where(string $col, $value): self
        {
            $this->where[$col] = $value;
            return $this;
        }

        /** @return object[] */
        public function get(): array
        {
            if ($this->table !== 'tbladdonmodules') {
                throw new \LogicException('the stub has no table ' . $this->table);
            }
            $rows = [];
            foreach ($GLOBALS['whmcs']['settings'] as $setting => $value) {
                $row = (object) ['module' => 'vpsgate', 'setting' => $setting, 'value' => $value];
                foreach ($this->where as $col => $want) {
                    if ($row->$col !== $want) {
                        continue 2;
                    }
                }
                $rows[] = $row;
            }
            return $rows;
        }
    }
}

namespace {
    define('WHMCS', true);

    $GLOBALS['whmcs'] = ['settings' => [], 'orders' => [], 'clients' => [], 'services' => [], 'hooks' => [], 'log' => []];

    function add_hook(string $name, int $priority, callable $fn): void
    {
        $GLOBALS['whmcs']['hooks'][$name][] = [$priority, $fn];
    }

    /** As WHMCS's run_hook: every hook's return value, in priority order. */
    function run_hook(string $name, array $vars): array
    {
        $hooks = $GLOBALS['whmcs']['hooks'][$name] ?? [];
        usort($hooks, function ($a, $b) {
            return $a[0] <=> $b[0];
        });
        $out = [];
        foreach ($hooks as [, $fn]) {
            $r = $fn($vars);
            if (is_array($r)) {
                $out[] = $r;
            }
        }
        return $out;
    }

    function logActivity(string $line): void
    {
        $GLOBALS['whmcs']['log'][] = $line;
    }

    /** The three API commands the module uses, answered as WHMCS answers them. */
    function localAPI(string $command, array $params)
    {
        $w = $GLOBALS['whmcs'];
        switch ($command) {
            case 'GetOrders':
                $o = $w['orders'][$params['id']] ?? null;
                return $o === null
                    ? ['result' => 'success', 'totalresults' => 0, 'orders' => ['order' => []]]
                    : ['result' => 'success', 'totalresults' => 1, 'orders' => ['order' => [$o]]];
            case 'GetClientsDetails':
                $c = $w['clients'][$params['clientid']] ?? null;
                return $c === null
                    ? ['result' => 'error', 'message' => 'Client Not Found']
                    : array_merge(['result' => 'success', 'client' => $c], $c);
            case 'GetClientsProducts':
                $s = $w['services'][$params['serviceid']] ?? null;
                return ['result' => 'success', 'totalresults' => $s === null ? 0 : 1,
                    'products' => ['product' => $s === null ? [] : [$s]]];
        }
        throw new \LogicException('the stub has no API command ' . $command);
    }
}
