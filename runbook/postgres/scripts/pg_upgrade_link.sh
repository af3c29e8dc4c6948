# shellcheck shell=bash
# pg_upgrade --link of cluster FROM/NAME into the prepared TO/NAME, run as postgres (the steps of
# pg_upgradecluster -m link after its pg_createcluster: docs/BEHAVIOUR.md#pg-upgradecluster).
# Arguments: binaries root, config root, from version, to version, cluster name, the old
# cluster's port (the app's), the new one's (spare), its data directory, then --check to check
# only (the old cluster running, nothing changed).
# The run (the old cluster stopped) works from a log directory named as pg_upgradecluster names
# its own (pg_extensions.sh reads update_extensions.sql there); then the old cluster's pid file
# is removed, the ports swapped (the new cluster takes the app's), start.conf and pg_ctl.conf
# copied to the new one and the old one's start.conf made "manual" (kept, not started at boot);
# then the new cluster started.
set -e
bin=$1 conf=$2 from=$3 to=$4 name=$5 port=$6 spare=$7 datadir=$8 mode=${9:-}
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
# Start: pg_ctlcluster waits 2 s at least (0.5 s sleeps until three connections in a row work);
# where it would only run pg_ctl (no systemd, no pg_ctl.conf options, no environment file) pg_ctl
# -w does the same as it, answering within a tenth of that. Else "@@ctl": the caller uses it.
new=$conf/$to/$name
if [ -d /run/systemd/system ] || grep -qsv '^[[:space:]]*\(#\|$\)' "$new/environment" ||
   [ -n "$(pg_conftool -s "$to" "$name" pg_ctl.conf show pg_ctl_options 2>/dev/null | tr -d "'")" ]; then
  echo "@@ctl"; exit 0
fi
log=/var/log/postgresql/postgresql-$to-$name.log
[ -e "$new/log" ] && log=$(readlink -f "$new/log")
"$bin/$to/bin/pg_ctl" start -w -s -D "$datadir" -l "$log" -o "-c config_file=$new/postgresql.conf"
