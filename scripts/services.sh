#!/usr/bin/env bash
# Start what the tests need and this machine may lack: PostgreSQL (127.0.0.1:5432) and
# Debian's Chromium for the HTML report test. Prints what it does; never fails the run
# itself, so a missing piece shows up as a loud test failure with its reason.
set -uo pipefail
pg_host=127.0.0.1
if command -v pg_isready >/dev/null && ! pg_isready -q -h "$pg_host" -p 5432; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL..." >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 30); do pg_isready -q -h "$pg_host" -p 5432 && break; sleep 1; done
  fi
fi
if ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "installing Debian's chromium for the HTML report test..." >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium" >&2
fi
exit 0
