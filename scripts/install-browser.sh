#!/usr/bin/env bash
# Installs Debian's chromium + chromium-driver for the browser test, when missing and possible.
# The browser test skips itself with a reason when neither is present.
set -u
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: chromium/chromedriver not installed and cannot install them here; the browser test will be skipped"
  exit 0
fi
echo "installing chromium and chromium-driver (Debian packages) for the browser test..."
(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/tmp/deepfake-detect-browser-install.log 2>&1 \
  || echo "note: chromium install failed (see /tmp/deepfake-detect-browser-install.log); the browser test will be skipped"
exit 0
