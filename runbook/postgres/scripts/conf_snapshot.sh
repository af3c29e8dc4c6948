# shellcheck shell=bash
# clusters.config_snapshot, run as postgres: "NAME BASE64" of each configuration file in the
# cluster's config directory ($1) and of its postgresql.auto.conf ($2, in the data directory).
cd "$1" || exit 0
for f in pg_hba.conf pg_ident.conf postgresql.conf conf.d/*; do
  [ -f "$f" ] && printf '%s %s\n' "$f" "$(base64 -w0 < "$f")"; done
f=$2
[ -f "$f" ] && printf 'postgresql.auto.conf %s\n' "$(base64 -w0 < "$f")"; true
