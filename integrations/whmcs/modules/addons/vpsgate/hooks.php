<?php
/**
 * VPS Gate for WHMCS: the hooks (WHMCS loads modules/addons/<name>/hooks.php
 * of an active addon). What they do: VpsGateWhmcs.php.
 *
 * WHMCS references: AfterShoppingCartCheckout
 * (https://developers.whmcs.com/hooks-reference/shopping-cart/#aftershoppingcartcheckout),
 * PreModuleCreate (https://developers.whmcs.com/hooks-reference/module/#premodulecreate),
 * AfterCronJob (https://developers.whmcs.com/hooks-reference/cron/#aftercronjob).
 */

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

require_once __DIR__ . '/lib/autoload.php';
require_once __DIR__ . '/VpsGateWhmcs.php';

add_hook('AfterShoppingCartCheckout', 1, function ($vars) {
    \VpsGate\Whmcs\Module::afterCheckout($vars);
});

// Every cron run (WHMCS's cron, typically every five minutes): create the
// held services whose order has cleared since.
add_hook('AfterCronJob', 1, function ($vars) {
    \VpsGate\Whmcs\Module::afterCron();
});

// Priority 1: before any other hook that might act on a service being created.
add_hook('PreModuleCreate', 1, function ($vars) {
    return \VpsGate\Whmcs\Module::preModuleCreate($vars);
});
