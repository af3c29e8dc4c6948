# shellcheck shell=bash
# maintenance.probe: from the host, four lines: the public GET status of RB_URL, how many lines
# of its body hold RB_MARKER (the maintenance page), the GET status with the bypass header, the
# public POST status. RB_PUBLIC_CFG / RB_BYPASS_CFG: curl config text (the app's headers, and
# the bypass secret: run_script secrets, in no process argument).
get() { printf '%s\n' "$1" | curl -K - -s -w '%{http_code}\n' --max-time 5 "${@:2}" "$RB_URL"; }
t=$(mktemp) && get "$RB_PUBLIC_CFG" -o "$t"; grep -c -F -e "$RB_MARKER" "$t" || true
rm -f "$t"
get "$RB_BYPASS_CFG" -o /dev/null
get "$RB_PUBLIC_CFG" -o /dev/null -X POST
