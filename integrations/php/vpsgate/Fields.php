<?php
/**
 * VPS Gate: the order body's field formats (PRODUCT.md §4 "Orders"), for
 * building it from a billing system's own values. A value that does not
 * fit is left out ("") rather than sent wrong: the gateway then refuses
 * the order or screens it on what it has, and says so.
 */

declare(strict_types=1);

namespace VpsGate;

final class Fields
{
    /** "12.00" from a billing system's amount ("12.00", 12, "12.5"); "" when not a plain decimal. */
    public static function decimal($v): string
    {
        $s = trim((string) $v);
        return preg_match('/\A\d{1,12}(\.\d{1,2})?\z/', $s) ? $s : '';
    }

    /** A payment module's name ("stripe", "paypalcheckout") as the processor token; "" when not one. */
    public static function token(string $s): string
    {
        $s = strtolower(trim($s));
        return preg_match('/\A[a-z0-9_]{1,64}\z/', $s) ? $s : '';
    }
}
