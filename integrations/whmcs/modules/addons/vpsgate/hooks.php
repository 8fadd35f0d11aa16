<?php
/**
 * VPS Gate for WHMCS: the hooks (WHMCS loads modules/addons/<name>/hooks.php
 * of an active addon). What they do: VpsGateWhmcs.php.
 *
 * WHMCS references: AfterShoppingCartCheckout
 * (https://developers.whmcs.com/hooks-reference/shopping-cart/#aftershoppingcartcheckout),
 * PreModuleCreate (https://developers.whmcs.com/hooks-reference/module/#premodulecreate).
 */

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

require_once __DIR__ . '/lib/autoload.php';
require_once __DIR__ . '/VpsGateWhmcs.php';

add_hook('AfterShoppingCartCheckout', 1, function ($vars) {
    \VpsGate\Whmcs\Module::afterCheckout($vars);
});

// Priority 1: before any other hook that might act on a service being created.
add_hook('PreModuleCreate', 1, function ($vars) {
    return \VpsGate\Whmcs\Module::preModuleCreate($vars);
});
