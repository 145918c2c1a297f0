#!/usr/bin/env bash
# Set up and run Sandbox Cloud on embedded defaults: SQLite, a local moto server for AWS,
# the bundled GCP emulator, a local OpenID Connect provider and `sandbox server`. No cloud
# account and no identity provider needed.
#   ./demo.sh        install, start them all, bootstrap, sign in a demo engineer and a demo
#                    admin, and run the engineer's flow through the API with the CLI in
#                    remote mode; everything keeps running for you to explore
#   ./demo.sh stop   stop them
set -euo pipefail
cd "$(dirname "$0")"
DEMO=.demo
AWS_PORT=${DEMO_AWS_PORT:-4566}
GCP_PORT=${DEMO_GCP_PORT:-8085}
OIDC_PORT=${DEMO_OIDC_PORT:-9400}
SERVER_PORT=${DEMO_SERVER_PORT:-8080}
GCP_BILLING_EXPORT=demo-billing.billing.gcp_billing_export_v1_000000_000000_000001

stop() {
  for name in aws gcp oidc server; do
    if [ -f "$DEMO/$name.pid" ]; then
      kill "$(cat "$DEMO/$name.pid")" 2>/dev/null || true
      rm -f "$DEMO/$name.pid"
    fi
  done
}
if [ "${1:-}" = "stop" ]; then stop; echo "emulators, sign-in provider and server stopped"; exit 0; fi

./scripts/install.sh
. .venv/bin/activate
mkdir -p "$DEMO"
stop
if [ -f "$DEMO/sandbox.db" ]; then
  # The emulators start empty, so the database does too: say so rather than wipe it silently.
  echo "demo.sh: replacing the previous demo database $DEMO/sandbox.db and its sandboxes (the emulators start empty)" >&2
fi
rm -f "$DEMO/sandbox.db"*

[ -f "$DEMO/secret.key" ] || sandbox admin generate-key > "$DEMO/secret.key"
chmod 600 "$DEMO/secret.key"
cat > "$DEMO/sandbox.toml" <<TOML
# Written by demo.sh: everything local.
[database]
url = "sqlite:///$PWD/$DEMO/sandbox.db"
[secrets]
key_file = "$PWD/$DEMO/secret.key"
[identity]
email = "demo.admin@example.com"   # the operator, in local mode on this host
department = "engineering"
[admin]
users = ["demo.admin@example.com"]
[server]
port = $SERVER_PORT
public_url = "http://127.0.0.1:$SERVER_PORT"
[auth]
issuer = "http://127.0.0.1:$OIDC_PORT"
client_id = "sandbox-demo"
cli_client_secret = "demo-installed-app"
allowed_domains = ["example.com"]
admin_groups = ["platform-admins"]
manager_groups = ["managers"]
[aws]
endpoint_url = "http://127.0.0.1:$AWS_PORT"
poll_seconds = 0.2
[gcp]
endpoint = "http://127.0.0.1:$GCP_PORT"
organization = "organizations/123456789012"
billing_account = "billingAccounts/000000-000000-000001"
# GCP spend: the emulator's Cloud Billing export in BigQuery (created empty below; add rows
# with POST /emulator/billing-export, see emulators/gcp/control.py)
billing_export_table = "$GCP_BILLING_EXPORT"
poll_seconds = 0.2
[departments.engineering]
aws_ou = "engineering"
gcp_folder = "engineering"
groups = ["engineering"]
TOML
export SANDBOX_CONFIG="$PWD/$DEMO/sandbox.toml"

sandbox emulator aws --port "$AWS_PORT" > "$DEMO/aws.log" 2>&1 & echo $! > "$DEMO/aws.pid"
sandbox emulator gcp --port "$GCP_PORT" > "$DEMO/gcp.log" 2>&1 & echo $! > "$DEMO/gcp.pid"
python -m oidc_provider_mock --host 127.0.0.1 --port "$OIDC_PORT" \
  --user-claims '{"sub": "engineer", "email": "demo.engineer@example.com", "email_verified": true, "groups": ["engineering"]}' \
  --user-claims '{"sub": "admin", "email": "demo.admin@example.com", "email_verified": true, "groups": ["platform-admins"]}' \
  > "$DEMO/oidc.log" 2>&1 & echo $! > "$DEMO/oidc.pid"
for port in "$AWS_PORT" "$GCP_PORT" "$OIDC_PORT"; do
  for _ in $(seq 100); do
    python -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
    sleep 0.2
  done
done
# The emulator starts without tables: create the (empty) billing export that budgets read.
python -c "import json,urllib.request; urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:$GCP_PORT/emulator/billing-export', json.dumps({'table': '$GCP_BILLING_EXPORT', 'rows': []}).encode(), {'Content-Type': 'application/json'}), timeout=5)"

# The operator, on the server's host (local mode): schema, OUs and folders, the server.
sandbox db upgrade
sandbox admin bootstrap
sandbox server > "$DEMO/server.log" 2>&1 & echo $! > "$DEMO/server.pid"
for _ in $(seq 100); do
  python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$SERVER_PORT/readyz', timeout=0.5)" 2>/dev/null && break
  sleep 0.2
done

# The engineer: nothing but the server's URL and a login (remote mode).
export SANDBOX_SERVER="http://127.0.0.1:$SERVER_PORT" SANDBOX_CONFIG_HOME="$PWD/$DEMO/engineer"
unset SANDBOX_CONFIG
export BROWSER="$PWD/scripts/demo-browser"
set -x
DEMO_SUB=engineer sandbox login
sandbox whoami
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
sandbox report usage || true   # refused: the engineer is not an admin
SANDBOX_CONFIG_HOME="$PWD/$DEMO/admin" DEMO_SUB=admin sandbox login
SANDBOX_CONFIG_HOME="$PWD/$DEMO/admin" sandbox report usage
set +x
cat <<MSG

Everything is still running: the API at $SANDBOX_SERVER (docs: $SANDBOX_SERVER/api/docs).
As the engineer, through the server:
  source .venv/bin/activate && export SANDBOX_SERVER=$SANDBOX_SERVER SANDBOX_CONFIG_HOME=$SANDBOX_CONFIG_HOME
  sandbox list; sandbox show $aws_id; sandbox destroy $aws_id --yes
As the operator, on this host: SANDBOX_CONFIG=$PWD/$DEMO/sandbox.toml sandbox daemon --once
Stop them with: ./demo.sh stop
MSG
