# shellcheck shell=bash
# switch.to: point nginx at another copy of the app, then wait until no request can reach the old.
# Arguments: UPSTREAM ADDRESS WAIT -- RELOAD...: the upstream file nginx includes is rewritten to
# "server ADDRESS;", `nginx -t` must pass (else the old file comes back, nothing reloaded), RELOAD
# (argv) reloads nginx, then the script waits, at most WAIT seconds, until every nginx worker that
# ran before the reload has exited: they finish the requests they hold, new ones go to the new
# workers (docs/BEHAVIOUR.md#nginx-reload-old-workers). Prints @@waited SECONDS and @@left PIDS
# (old workers still there after WAIT s: the caller must not stop the old copy), or @@error and a
# line (a failed test or reload puts the old file back).
set -eu
up=$1 addr=$2 wait=$3; shift 4
master=$(cat /run/nginx.pid 2>/dev/null || pgrep -o -x nginx || true)
if [ -z "$master" ] || [ ! -d "/proc/$master" ]; then
  printf '@@error\nno nginx master process (no /run/nginx.pid, no nginx running)\n'; exit 1
fi
[ -n "${EPOCHREALTIME:-}" ] || { printf '@@error\nbash 5 or later is needed (EPOCHREALTIME)\n'; exit 1; }
old=$(cat "$up" 2>/dev/null || true)
put() {  # put TEXT: the upstream file holds TEXT, replaced atomically (nginx may read it any time)
  local tmp
  tmp=$(mktemp "$up.XXXXXX") && printf '%s\n' "$1" > "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" "$up"
}
put "# written by fab (runbook switch): where nginx sends this app's requests
server $addr;" || { printf '@@error\ncannot write %s\n' "$up"; exit 1; }
if ! out=$(sudo -n nginx -t 2>&1); then
  if [ -n "$old" ]; then put "$old"; else rm -f "$up"; fi
  printf '@@error\nnginx -t failed with %s: %s\n' "$up" "$(printf '%s\n' "$out" | grep -v 'test is successful' | tail -n 1)"
  exit 1
fi
workers=$(pgrep -P "$master" | tr '\n' ' ')
start=$EPOCHREALTIME
since() {  # milliseconds since the reload (bash has integers only)
  local now=$EPOCHREALTIME
  echo $(( (${now%.*} - ${start%.*}) * 1000 + (10#${now#*.} - 10#${start#*.}) / 1000 ))
}
if ! out=$("$@" 2>&1); then   # nginx keeps its configuration: so does the file
  if [ -n "$old" ]; then put "$old"; else rm -f "$up"; fi
  printf '@@error\nthe nginx reload failed: %s\n' "$(printf '%s\n' "$out" | tail -n 1)"; exit 1
fi
left=$workers
while [ -n "${left// /}" ] && [ "$(since)" -lt $((wait * 1000)) ]; do
  sleep 0.02
  still=""
  for p in $left; do [ ! -d "/proc/$p" ] || still="$still $p"; done
  left=$still
done
printf '@@waited\n%s\n@@left\n%s\n' "$(since)" "${left# }"
