# shellcheck shell=bash
# soak.sample_script, one round trip: the connections to database RB_DB and max_connections
# (@@conns), the offset read from (@@from), and the access log RB_LOG after offset RB_SINCE
# (@@log; empty RB_SINCE: from its end; a log smaller than RB_SINCE was rotated: from its
# start). Needs pg.sh.
echo @@conns
printf '%s\n' "SELECT count(*) FROM pg_stat_activity WHERE datname = :'db';" "SHOW max_connections;" |
  pg psql -X -q -A -t -d postgres -v db="$RB_DB"
size=$(stat -c %s "$RB_LOG" 2>/dev/null || echo 0)
s=${RB_SINCE:-$size}; [ "$size" -lt "$s" ] && s=0
echo @@from; echo "$s"
echo @@log; tail -c +$(( s + 1 )) "$RB_LOG" 2>/dev/null || true
