<?php
/**
 * VPS Gate for WHMCS: the addon module's configuration and activation.
 *
 * Install: copy modules/addons/vpsgate/ (with lib/, the shared client) into
 * WHMCS's modules/addons/, then Configuration > System Settings > Addon
 * Modules > VPS Gate > Activate, and fill in the settings below. The hooks
 * in hooks.php run once the module is active (README.md).
 */

if (!defined('WHMCS')) {
    die('This file cannot be accessed directly');
}

require_once __DIR__ . '/lib/autoload.php';
require_once __DIR__ . '/VpsGateWhmcs.php';

function vpsgate_config()
{
    return [
        'name' => 'VPS Gate',
        'description' => 'Screens every order with the VPS Gate gateway and refuses to create a service'
            . ' (PreModuleCreate) until the gateway says the order has cleared.',
        'version' => '1.0',
        'author' => 'VPS Gate',
        'fields' => [
            'gateway_url' => [
                'FriendlyName' => 'Gateway admin URL',
                'Type' => 'text',
                'Size' => '60',
                'Description' => 'The gateway\'s admin side (admin_listen), e.g. https://gate-admin.example.com:8081',
            ],
            'api_key' => [
                'FriendlyName' => 'Storefront API key',
                'Type' => 'password',
                'Size' => '60',
                'Description' => 'A key listed in the gateway\'s auth.api_keys (as its hash). Or define'
                    . ' VPSGATE_API_KEY in configuration.php, which wins.',
            ],
            'timeout' => [
                'FriendlyName' => 'Timeout (seconds)',
                'Type' => 'text',
                'Size' => '5',
                'Default' => '5',
                'Description' => 'For connecting and for each read; on a timeout the service is not created.',
            ],
            'resubmit_checkout' => [
                'FriendlyName' => 'Screen every order again',
                'Type' => 'yesno',
                'Description' => 'Leave unticked: a checkout the gateway in front screened (X-Screening-Id,'
                    . ' which only the gateway sets) is linked to its order instead of being screened twice.'
                    . ' Tick to have every order screened here with the client\'s stored details.',
            ],
        ],
    ];
}

function vpsgate_activate()
{
    try {
        \VpsGate\Whmcs\Module::install();
    } catch (\Throwable $e) {
        return ['status' => 'error', 'description' => 'VPS Gate could not create its table: ' . $e->getMessage()];
    }
    return ['status' => 'success', 'description' => 'VPS Gate is active: fill in the gateway URL and API key.'];
}

function vpsgate_deactivate()
{
    return ['status' => 'success', 'description' => 'VPS Gate is off: services are created without asking the gateway.'];
}

/** The addon's admin page: whether the gateway answers with these settings. */
function vpsgate_output($vars)
{
    $check = \VpsGate\Whmcs\Module::checkConnection();
    echo '<p>' . htmlspecialchars($check, ENT_QUOTES, 'UTF-8') . '</p>';
}
