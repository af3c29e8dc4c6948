#!/bin/bash
# The stack's app service: records a visit every second through the db service's socket (a
# volume both mount), so a database that moves under a running app shows in the row counts.
set -u
trap 'exit 0' TERM INT
while :; do
  psql -X -q -h /var/run/postgresql -U app -d demo -c "INSERT INTO visits DEFAULT VALUES" \
    >/dev/null 2>&1 || echo "app: database unavailable"
  sleep 1 & wait $!
done
