<?php
/** Loads the VPS Gate client library (no Composer needed). */

declare(strict_types=1);

require_once __DIR__ . '/Client.php';
require_once __DIR__ . '/Guard.php';
require_once __DIR__ . '/Fields.php';
