#!/usr/bin/env bash
# Browser tests drive Debian's Chromium through Playwright (never `playwright install`).
set -e
if [ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -qi wqy; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null
else
  echo "Browser tests need Chromium at /usr/bin/chromium: sudo apt-get install chromium" >&2
fi
