<?php
/**
 * Plugin Name:       VPS Gate screening
 * Description:       Screens every WooCommerce order with the VPS Gate gateway and keeps paid orders on hold (no provisioning) until the gateway says the order has cleared.
 * Version:           1.0.0
 * Requires PHP:      7.4
 * WC requires at least: 8.3
 * Author:            VPS Gate
 * License:           MIT
 *
 * What it does and how to set it up: README.md beside this file.
 */

if (!defined('ABSPATH')) {
    exit;
}

require_once __DIR__ . '/lib/autoload.php';
require_once __DIR__ . '/includes/class-plugin.php';

\VpsGate\WooCommerce\Plugin::register();

register_activation_hook(__FILE__, ['\VpsGate\WooCommerce\Plugin', 'activate']);
register_deactivation_hook(__FILE__, ['\VpsGate\WooCommerce\Plugin', 'deactivate']);
