#!/bin/bash
# The sandbox's compose host, on THIS machine, as root:
#   compose.sh up --env FILE   dockerd (own data/exec root and socket, no network plumbing), the
#                              images built locally (no pulls), the stack in /srv/compose-demo
#                              with seeded PostgreSQL 14; idempotent, seconds when up
#   compose.sh reset           the stack back to PostgreSQL 14 with its seeded data, as after up
#   compose.sh down            stop the stack's containers, then dockerd (by its pid file)
# The deploy user reaches the daemon through the docker group and its docker context
# "sandbox" (~/.docker/config.json), which both `docker compose` and docker-compose follow.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
DATA=/var/lib/deploy-sandbox-docker
RUN=/run/deploy-sandbox-docker
export DOCKER_HOST=unix://$RUN/docker.sock
PIDF=$RUN/dockerd.pid
LOG=/var/log/deploy-sandbox-dockerd.log
PROJECT_DIR=/srv/compose-demo
BACKUPS=/srv/compose-demo-backups
P=compose-demo
DOCKER=/usr/bin/docker   # Debian's client, the daemon's own version (builds use its builder)

say() { echo "  compose: $*"; }
dc() { (cd "$PROJECT_DIR" && docker-compose -p "$P" "$@"); }

running() { [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null && "$DOCKER" version >/dev/null 2>&1; }

packages() {
  local missing=() p
  for p in docker.io docker-compose mmdebstrap; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # docker.io's install would start the machine's own dockerd (docker0 bridge, iptables):
    # a policy-rc.d that refuses service starts keeps it from running
    local policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      policy=/usr/sbin/policy-rc.d
      printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 0755 "$policy"
    fi
    local rc=0
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } || rc=$?
    [ -z "$policy" ] || rm -f "$policy"
    [ "$rc" = 0 ] || { echo "compose.sh: installing ${missing[*]} failed (exit $rc)" >&2; exit "$rc"; }
  fi
}

start_dockerd() {
  running && return 0
  say "starting dockerd (socket $RUN/docker.sock)"
  install -d -m 0700 "$DATA" && install -d -m 0755 "$RUN"
  setsid dockerd --data-root "$DATA" --exec-root "$RUN" -H "$DOCKER_HOST" --pidfile "$PIDF" \
    --group docker --iptables=false --ip6tables=false --bridge=none --ip-masq=false \
    >>"$LOG" 2>&1 </dev/null &
  local i
  for i in $(seq 60); do running && return 0; sleep 0.5; [ "$i" -lt 60 ] || break; done
  echo "compose.sh: dockerd did not answer on $RUN/docker.sock within 30 s; read $LOG" >&2
  exit 1
}

deploy_access() {
  getent group docker >/dev/null || groupadd --system docker
  id -nG deploy | tr ' ' '\n' | grep -qx docker || usermod -aG docker deploy
  # non-interactive SSH commands read no profile: a docker context is found through the
  # user's ~/.docker/config.json
  su -s /bin/bash deploy -c "unset DOCKER_HOST; cd ~ && { $DOCKER context inspect sandbox >/dev/null 2>&1 ||
    $DOCKER context create sandbox --docker host=$DOCKER_HOST >/dev/null; } &&
    $DOCKER context use sandbox >/dev/null 2>&1"
}

images() {
  if ! "$DOCKER" image inspect "$P/base:bookworm" >/dev/null 2>&1; then
    say "building the base image (mmdebstrap minbase + Debian's postgresql-15)"
    local tmp; tmp=$(mktemp -d)
    mmdebstrap --quiet --variant=minbase --include=postgresql-15 \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' bookworm "$tmp/rootfs.tar"
    "$DOCKER" import "$tmp/rootfs.tar" "$P/base:bookworm" >/dev/null
    rm -rf "$tmp"
  fi
  local ctx; ctx=$(mktemp -d)
  cp "$HERE/postgres.Dockerfile" "$HERE/app.Dockerfile" "$HERE/docker-entrypoint.sh" "$HERE/app.sh" "$ctx/"
  cp -a /usr/lib/postgresql/14 "$ctx/pg14" && mkdir "$ctx/pg15"
  local major
  for major in 14 15; do
    DOCKER_BUILDKIT=0 "$DOCKER" build -q --network host --build-arg "PG_MAJOR=$major" \
      -f "$ctx/postgres.Dockerfile" -t "$P/postgres:$major" "$ctx" >/dev/null
  done
  DOCKER_BUILDKIT=0 "$DOCKER" build -q --network host -f "$ctx/app.Dockerfile" -t "$P/app:1" "$ctx" >/dev/null
  rm -rf "$ctx"
}

project() {
  local password=$1
  install -d -m 0755 -o deploy -g deploy "$PROJECT_DIR" "$PROJECT_DIR/initdb"
  install -d -m 0700 -o deploy -g deploy "$BACKUPS"
  install -m 0644 -o deploy -g deploy "$HERE/initdb/10-seed.sql" "$PROJECT_DIR/initdb/"
  [ -f "$PROJECT_DIR/docker-compose.yml" ] ||
    install -m 0644 -o deploy -g deploy "$HERE/docker-compose.yml" "$PROJECT_DIR/"
  ( umask 077; printf 'POSTGRES_PASSWORD=%s\n' "$password" > "$PROJECT_DIR/.env.new" )
  chown deploy:deploy "$PROJECT_DIR/.env.new"
  # a new password only reaches a new volume (initdb): the stack is then reset
  cmp -s "$PROJECT_DIR/.env.new" "$PROJECT_DIR/.env" || NEW_PASSWORD=1
  mv -f "$PROJECT_DIR/.env.new" "$PROJECT_DIR/.env"
}

seeded() {  # the db service answers on TCP (the init server does not) and has the seeded rows
  local id; id=$(dc ps -q db 2>/dev/null) && [ -n "$id" ] || return 1
  "$DOCKER" exec "$id" pg_isready -q -h 127.0.0.1 -U postgres 2>/dev/null &&
    [ "$("$DOCKER" exec "$id" psql -X -A -t -U postgres -d demo -c 'SELECT count(*) FROM customers' 2>/dev/null)" = 1000 ]
}

wait_seeded() {
  local end=$((SECONDS + 60))
  until seeded; do
    if [ "$SECONDS" -ge "$end" ]; then
      echo "compose.sh: the db service did not come up seeded within 60 s; read: docker-compose -p $P logs db" >&2
      exit 1
    fi
    sleep 0.5
  done
}

reset() {
  say "resetting the stack in $PROJECT_DIR to PostgreSQL 14 with seeded data"
  dc down --remove-orphans >/dev/null 2>&1 || true
  local c v
  for c in $("$DOCKER" ps -aq --filter "name=^$P-pgupgrade-"); do "$DOCKER" rm -f "$c" >/dev/null; done
  for v in $("$DOCKER" volume ls -q --filter "name=^${P}_"); do "$DOCKER" volume rm "$v" >/dev/null; done
  install -m 0644 -o deploy -g deploy "$HERE/docker-compose.yml" "$PROJECT_DIR/docker-compose.yml"
  rm -f "$PROJECT_DIR"/docker-compose.yml.*
  find "$BACKUPS" -mindepth 1 -delete
  dc up -d >/dev/null 2>&1
  wait_seeded
}

up() {
  local envfile=$1 password
  password=$(sed -n 's/^SANDBOX_COMPOSE_DB_PASSWORD=//p' "$envfile" | tail -n 1)
  [ -n "$password" ] || { echo "compose.sh: $envfile lacks SANDBOX_COMPOSE_DB_PASSWORD; run invoke sandbox.compose (it adds it)" >&2; exit 2; }
  packages
  start_dockerd
  deploy_access
  images
  project "$password"
  if [ -n "${NEW_PASSWORD:-}" ]; then reset; else
    dc up -d >/dev/null 2>&1 || true
    seeded || { sleep 2; seeded; } || reset
  fi
  say "up: $PROJECT_DIR (project $P), dockerd pid $(cat "$PIDF")"
}

down() {
  if running; then dc stop >/dev/null 2>&1 || true; fi
  if [ -f "$PIDF" ]; then
    local pid; pid=$(cat "$PIDF")
    kill "$pid" 2>/dev/null || true
    local i
    for i in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; [ "$i" -lt 40 ] || break; done
    say "dockerd stopped"
  fi
}

case "${1:-}" in
  up) if [ "${2:-}" != --env ] || [ -z "${3:-}" ]; then
        echo "usage: compose.sh up --env FILE" >&2; exit 2
      fi
      up "$3" ;;
  reset) running || { echo "compose.sh: dockerd is not running; run invoke sandbox.compose" >&2; exit 1; }
         reset ;;
  down) down ;;
  *) echo "usage: compose.sh up --env FILE | reset | down" >&2; exit 2 ;;
esac
