#!/usr/bin/env bash
# Runs COMMAND... with a real PostgreSQL server of its own: a fresh cluster in a
# temporary directory (initdb), listening on 127.0.0.1 on a free port, with a
# database for the test in FUNLESS_TEST_DB; stopped and removed afterwards.
set -euo pipefail
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bindir" ]; then
  echo "with_postgres: PostgreSQL server binaries not found (Debian package postgresql)" >&2
  exit 1
fi
dir=$(mktemp -d /tmp/funless-pg-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg=()
if [ "$(id -u)" -eq 0 ]; then # initdb refuses root: run the server as the postgres user
  chown postgres "$dir"
  as_pg=(runuser -u postgres --)
fi
cleanup() {
  "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
"${as_pg[@]}" "$bindir/initdb" -D "$dir/data" -U funless -A trust -E UTF8 >/dev/null
"${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=on" start >/dev/null
"${as_pg[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U funless funless_test
export FUNLESS_TEST_DB="postgres://funless@127.0.0.1:$port/funless_test"
# for tests that stop and start the server: "$FUNLESS_TEST_PG_CTL stop|start"
export FUNLESS_TEST_PG_CTL="${as_pg[*]} $bindir/pg_ctl -D $dir/data -l $dir/log -w -o '-p $port -k $dir -c listen_addresses=127.0.0.1'"
"$@"
