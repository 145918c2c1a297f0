#!/usr/bin/env bash
# Install Sandbox Cloud into .venv and run the whole test suite: SQLite and PostgreSQL,
# moto and the GCP emulator over real HTTP, headless Chromium for the HTML report.
# Extra arguments go to pytest (e.g. ./test.sh tests/core -x).
set -euo pipefail
cd "$(dirname "$0")"
./scripts/install.sh
./scripts/services.sh
# CI has PostgreSQL: there, an unreachable server fails the run instead of skipping.
if [ "${CI:-}" = "true" ]; then export SANDBOX_REQUIRE_PG=1; fi
exec .venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" -p no:cacheprovider "$@"
