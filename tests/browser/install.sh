#!/usr/bin/env bash
# Install Debian's Chromium for the real-browser dashboard test (tests/test_dashboard_browser.py).
#
# Idempotent: does nothing when /usr/bin/chromium is already there. The test drives this
# system Chromium through Playwright's Python package, so no browser download from the
# Playwright CDN is needed (CI machines have no internet beyond the package mirrors).
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# fonts-liberation gives the screenshots legible text; chromium pulls its own libraries.
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-liberation
/usr/bin/chromium --version
