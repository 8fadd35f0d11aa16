<?php
/**
 * The WHMCS edge, stubbed for php-cli: only the functions and the class
 * the module calls (add_hook, run_hook, logActivity, localAPI, Capsule's
 * tbladdonmodules read). Everything behind them (the module, the shared
 * client, the gateway it talks to) is real.
 *
 * The stubs answer from $GLOBALS['whmcs'] (settings, orders, clients,
 * services), which each test fills; ModuleCreate records the services it
 * created in $GLOBALS['whmcs']['created'].
 */

declare(strict_types=1);

namespace WHMCS\Database {
    /**
     * Capsule, as far as the module uses it: tbladdonmodules (answered from
     * the settings) and the module's own tables, kept in
     * $GLOBALS['whmcs']['tables'] (saved across php runs, see below).
     */
    final class Capsule
    {
        public static function table(string $name): CapsuleQuery
        {
            return new CapsuleQuery($name);
        }

        public static function schema(): CapsuleSchema
        {
            return new CapsuleSchema();
        }
    }

    final class CapsuleSchema
    {
        public function hasTable(string $name): bool
        {
            return isset($GLOBALS['whmcs']['tables'][$name]);
        }

        public function create(string $name, callable $blueprint): void
        {
            $GLOBALS['whmcs']['tables'][$name] = [];
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
            $rows = [];
            foreach ($this->rows() as $row) {
                if ($this->matches($row)) {
                    $rows[] = (object) $row;
                }
            }
            return $rows;
        }

        public function updateOrInsert(array $attributes, array $values): bool
        {
            $t = &$this->table();
            foreach ($t as &$row) {
                if (array_intersect_assoc($attributes, $row) == $attributes) {
                    $row = array_merge($row, $values);
                    return true;
                }
            }
            unset($row);
            $t[] = array_merge($attributes, $values);
            return true;
        }

        public function delete(): int
        {
            $t = &$this->table();
            $n = count($t);
            $t = array_values(array_filter($t, function ($row) {
                return !$this->matches($row);
            }));
            return $n - count($t);
        }

        private function matches(array $row): bool
        {
            foreach ($this->where as $col => $want) {
                if (($row[$col] ?? null) != $want) {
                    return false;
                }
            }
            return true;
        }

        private function rows(): array
        {
            if ($this->table === 'tbladdonmodules') {
                $rows = [];
                foreach ($GLOBALS['whmcs']['settings'] as $setting => $value) {
                    $rows[] = ['module' => 'vpsgate', 'setting' => $setting, 'value' => $value];
                }
                return $rows;
            }
            return $this->table();
        }

        private function &table(): array
        {
            if (!isset($GLOBALS['whmcs']['tables'][$this->table])) {
                // As MySQL: a table the module never created is an error.
                throw new \RuntimeException("Base table or view not found: {$this->table}");
            }
            return $GLOBALS['whmcs']['tables'][$this->table];
        }
    }
}

namespace {
    define('WHMCS', true);

    $GLOBALS['whmcs'] = ['settings' => [], 'orders' => [], 'clients' => [], 'services' => [], 'hooks' => [], 'log' => [],
        'tables' => [], 'created' => []];

    // The module's tables outlive one php run, as a database does: they
    // are kept in the file WHMCS_DB names (one per Go test).
    $db = getenv('WHMCS_DB');
    if ($db !== false && $db !== '' && is_file($db)) {
        $GLOBALS['whmcs']['tables'] = json_decode((string) file_get_contents($db), true);
    }
    if ($db !== false && $db !== '') {
        register_shutdown_function(function () use ($db) {
            file_put_contents($db, json_encode($GLOBALS['whmcs']['tables']));
        });
    }

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
            case 'ModuleCreate':
                // As WHMCS's ModuleCallFunction: PreModuleCreate first; any
                // abortcmd === true stops it.
                $id = (int) $params['serviceid'];
                foreach (run_hook('PreModuleCreate', ['params' => ['serviceid' => $id]]) as $r) {
                    if (($r['abortcmd'] ?? null) === true) {
                        return ['result' => 'error', 'message' => 'Function Aborted by Action Hook Code'];
                    }
                }
                $GLOBALS['whmcs']['created'][] = $id;
                return ['result' => 'success'];
            case 'GetClientsProducts':
                $s = $w['services'][$params['serviceid']] ?? null;
                return ['result' => 'success', 'totalresults' => $s === null ? 0 : 1,
                    'products' => ['product' => $s === null ? [] : [$s]]];
        }
        throw new \LogicException('the stub has no API command ' . $command);
    }
}
