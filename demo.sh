#!/usr/bin/env bash
# Set up and run Sandbox Cloud on embedded defaults: SQLite, a local moto server for AWS
# and the bundled GCP emulator. No cloud account needed.
#   ./demo.sh        install, start both emulators, bootstrap, request an AWS and a GCP
#                    sandbox, and show them; the emulators keep running for you to explore
#   ./demo.sh stop   stop the emulators
set -euo pipefail
cd "$(dirname "$0")"
DEMO=.demo
AWS_PORT=${DEMO_AWS_PORT:-4566}
GCP_PORT=${DEMO_GCP_PORT:-8085}

stop() {
  for name in aws gcp; do
    if [ -f "$DEMO/$name.pid" ]; then
      kill "$(cat "$DEMO/$name.pid")" 2>/dev/null || true
      rm -f "$DEMO/$name.pid"
    fi
  done
}
if [ "${1:-}" = "stop" ]; then stop; echo "emulators stopped"; exit 0; fi

./scripts/install.sh
. .venv/bin/activate
mkdir -p "$DEMO"
stop
rm -f "$DEMO/sandbox.db"*   # the emulators start empty, so the database does too

[ -f "$DEMO/secret.key" ] || sandbox admin generate-key > "$DEMO/secret.key"
chmod 600 "$DEMO/secret.key"
cat > "$DEMO/sandbox.toml" <<TOML
# Written by demo.sh: everything local.
[database]
url = "sqlite:///$PWD/$DEMO/sandbox.db"
[secrets]
key_file = "$PWD/$DEMO/secret.key"
[identity]
email = "demo.engineer@example.com"
department = "engineering"
[admin]
users = ["demo.engineer@example.com"]
[aws]
endpoint_url = "http://127.0.0.1:$AWS_PORT"
poll_seconds = 0.2
[gcp]
endpoint = "http://127.0.0.1:$GCP_PORT"
organization = "organizations/123456789012"
billing_account = "billingAccounts/000000-000000-000001"
poll_seconds = 0.2
[departments.engineering]
aws_ou = "engineering"
gcp_folder = "engineering"
TOML
export SANDBOX_CONFIG="$PWD/$DEMO/sandbox.toml"

sandbox emulator aws --port "$AWS_PORT" > "$DEMO/aws.log" 2>&1 & echo $! > "$DEMO/aws.pid"
sandbox emulator gcp --port "$GCP_PORT" > "$DEMO/gcp.log" 2>&1 & echo $! > "$DEMO/gcp.pid"
for port in "$AWS_PORT" "$GCP_PORT"; do
  for _ in $(seq 100); do
    python -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
    sleep 0.2
  done
done

set -x
sandbox db upgrade
sandbox admin bootstrap
sandbox request aws-individual --ttl 3d --wait
sandbox request gcp-individual --ttl 3d --wait
sandbox list
aws_id=$(sandbox list --output json | python -c "import json,sys; print([s['id'] for s in json.load(sys.stdin) if s['provider']=='aws'][0])")
gcp_id=$(sandbox list --output json | python -c "import json,sys; print([s['id'] for s in json.load(sys.stdin) if s['provider']=='gcp'][0])")
sandbox credentials "$aws_id"
sandbox credentials "$gcp_id"
sandbox extend "$aws_id" --by 2d
sandbox destroy "$gcp_id" --yes
sandbox events "$gcp_id"
sandbox list --all
set +x
cat <<MSG

The emulators are still running. To keep going:
  source .venv/bin/activate && export SANDBOX_CONFIG=$SANDBOX_CONFIG
  sandbox list; sandbox show $aws_id; sandbox destroy $aws_id --yes; sandbox daemon --once
Stop them with: ./demo.sh stop
MSG
