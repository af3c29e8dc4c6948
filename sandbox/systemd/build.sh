#!/usr/bin/env bash
# Build the systemd host's root filesystem (host `sandbox-systemd`): Debian bookworm from Debian's
# packages (mmdebstrap) with systemd as init, sshd, nginx, PostgreSQL 14 (the machine's PyPI build,
# copied in) + 15, and the recorder app in the seed VPS's layout (/var/www/recorder_ed, venv
# inside, gunicorn.service), migrated and seeded. The container has no network, so everything is
# built in here: the app's wheels are downloaded on the machine, its origin is bind-mounted.
# Run as root:  sandbox/systemd/build.sh --pubkey FILE --env FILE
# Rebuilds only when a stamp of its inputs (these files, the app, the secrets, the key) changed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
STATE=/var/lib/deploy-sandbox/systemd
ROOTFS=$STATE/rootfs
WHEELS=/var/cache/deploy-sandbox/systemd-wheels
ORIGIN=/srv/git/recorder.git
PUBKEY="" ENVFILE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --pubkey) PUBKEY=$2; shift 2 ;;
    --env) ENVFILE=$2; shift 2 ;;
    *) echo "build.sh: unknown option $1; see the header of this file" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "build.sh: must run as root" >&2; exit 2; }
{ [ -r "$PUBKEY" ] && [ -r "$ENVFILE" ]; } || { echo "build.sh: --pubkey FILE and --env FILE are required and must be readable" >&2; exit 2; }
{ [ -d "$ORIGIN" ] && [ -x /usr/lib/postgresql/14/bin/postgres ]; } ||
  { echo "build.sh: the main sandbox comes first (the app's origin, PostgreSQL 14): run invoke sandbox.up" >&2; exit 2; }
say() { printf '  sandbox-systemd: %s\n' "$*"; }

stamp=$( { find "$HERE/build.sh" "$HERE/setup.sh" "$HERE/units" -type f | sort | xargs cat; cat "$PUBKEY" "$ENVFILE" /srv/git/.recorder.stamp; } | sha256sum | cut -c1-16)
if [ -x "$ROOTFS/usr/lib/postgresql/14/bin/postgres" ] && [ "$(cat "$STATE/stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi

missing=()
for p in systemd-container mmdebstrap socat; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing: ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

bash "$HERE/host.sh" down   # a running host has the old rootfs under its overlay
rm -rf "$ROOTFS" "$STATE/stamp"; mkdir -p "$STATE"
PKGS="systemd,systemd-sysv,dbus,openssh-server,nginx,sudo,postgresql-common,postgresql-client-common,\
postgresql-15,postgresql-client-15,python3-venv,git,curl,procps,ssl-cert,iproute2,ca-certificates,\
libicu72,libxml2,liblz4-1,libssl3,libgssapi-krb5-2,less"
# Debian's packages, once (kept as a tarball: a rebuild for new app files or secrets starts here).
if [ "$(cat "$STATE/base.pkgs" 2>/dev/null)" != "$PKGS" ] || [ ! -s "$STATE/base.tar" ]; then
  say "building the base system (mmdebstrap, a few minutes)"
  # Debian would create a 15/main cluster on install; the host wants 15 idle (like the main sandbox).
  # shellcheck disable=SC2016  # $1 is mmdebstrap's (the root directory), not ours
  mmdebstrap --quiet --variant=minbase --include="$PKGS" \
    --setup-hook='mkdir -p "$1/etc/postgresql-common/createcluster.d" && echo "create_main_cluster = false" > "$1/etc/postgresql-common/createcluster.d/deploy-sandbox.conf"' \
    bookworm "$STATE/base.new.tar"
  mv "$STATE/base.new.tar" "$STATE/base.tar"
  echo "$PKGS" > "$STATE/base.pkgs"
fi
mkdir -p "$ROOTFS" && tar -xf "$STATE/base.tar" -C "$ROOTFS"

# What the container cannot fetch: PostgreSQL 14, the app's origin clone and wheels, the key, secrets.
cp -a /usr/lib/postgresql/14 "$ROOTFS/usr/lib/postgresql/14"
mkdir -p "$WHEELS"
git -c safe.directory='*' --git-dir="$ORIGIN" show v1:requirements.txt > "$WHEELS/requirements.txt"
"${PIP:-pip}" download -q --disable-pip-version-check --only-binary=:all: -d "$WHEELS" -r "$WHEELS/requirements.txt" 2> >(grep -v "^WARNING: Location" >&2)
mkdir -p "$ROOTFS/var/cache/deploy-sandbox-wheels"
cp "$WHEELS"/* "$ROOTFS/var/cache/deploy-sandbox-wheels/"
install -m 0600 "$ENVFILE" "$ROOTFS/root/sandbox.env"
install -m 0644 "$PUBKEY" "$ROOTFS/root/client.pub"
# the host key lives on the machine (like the other sandbox hosts'), so a rebuild keeps it
KEYDIR=/etc/deploy-sandbox/systemd
install -d -m 0755 "$KEYDIR"
[ -f "$KEYDIR/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C sandbox-systemd -f "$KEYDIR/ssh_host_ed25519_key"
install -m 0600 "$KEYDIR/ssh_host_ed25519_key" "$ROOTFS/etc/ssh/ssh_host_ed25519_key"
install -m 0644 "$KEYDIR/ssh_host_ed25519_key.pub" "$ROOTFS/etc/ssh/ssh_host_ed25519_key.pub"
echo "DEPLOY_UID=$(id -u deploy)" >> "$ROOTFS/root/sandbox.env"   # the origin's owner, for git

say "setting up the app, its units and its database inside"
systemd-nspawn -q --register=no --keep-unit --private-network --machine=sandbox-systemd -D "$ROOTFS" --bind-ro="$ORIGIN" --bind-ro="$HERE:/tmp/sandbox-systemd" \
  /bin/bash /tmp/sandbox-systemd/setup.sh 2> >(grep -v "^Attempted to remove disk file system" >&2)
echo "$stamp" > "$STATE/stamp"
say "built $ROOTFS"
