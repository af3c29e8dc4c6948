# shellcheck shell=bash
# pg_upgrade --link of cluster FROM/NAME into the prepared TO/NAME, run as postgres (the steps of
# pg_upgradecluster -m link after its pg_createcluster: docs/BEHAVIOUR.md#pg-upgradecluster).
# Arguments: binaries root, config root, from version, to version, cluster name, the old
# cluster's port (the app's), the new one's (spare), then --check to check only (the old cluster
# running, nothing changed).
# The run (the old cluster stopped) works from a log directory named as pg_upgradecluster names
# its own (pg_extensions.sh reads update_extensions.sql there); then the old cluster's pid file
# is removed, the ports swapped (the new cluster takes the app's), start.conf and pg_ctl.conf
# copied to the new one and the old one's start.conf made "manual" (kept, not started at boot).
set -e
bin=$1 conf=$2 from=$3 to=$4 name=$5 port=$6 spare=$7 mode=${8:-}
d=$(mktemp -d "/var/log/postgresql/pg_upgradecluster-$from-$to-$name.XXXX")
[ "$mode" = --check ] && trap 'rm -rf "$d"' EXIT
cd "$d"
"$bin/$to/bin/pg_upgrade" -b "$bin/$from/bin" -B "$bin/$to/bin" -d "$conf/$from/$name" \
  -D "$conf/$to/$name" -p "$port" -P "$spare" -j "$(nproc)" --link ${mode:+"$mode"} </dev/null
[ "$mode" = --check ] && exit 0
rm -f "/var/run/postgresql/$from-$name.pid"
pg_conftool "$from" "$name" set port "$spare"
pg_conftool "$to" "$name" set port "$port"
cp "$conf/$from/$name/start.conf" "$conf/$to/$name/start.conf"
if [ -f "$conf/$from/$name/pg_ctl.conf" ]; then cp "$conf/$from/$name/pg_ctl.conf" "$conf/$to/$name/"; fi
printf '%s\n' "# upgraded to $to/$name: kept, not started at boot" manual \
  >"$conf/$from/$name/start.conf"
