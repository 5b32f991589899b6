#!/bin/sh
# Before serving: wait for the database, apply migrations, load districts and, once, the sample.
set -e
tries=0
until minemap db status >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 30 ]; then echo "database not reachable at MINEMAP_DATABASE_URL" >&2; exit 1; fi
  sleep 2
done
minemap db upgrade
minemap load-sample --if-empty
exec "$@"
