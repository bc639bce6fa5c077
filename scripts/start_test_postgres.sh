#!/usr/bin/env bash
# Start (or reuse) a throwaway PostgreSQL server for the store tests and print its URL.
#
#   export LOAN_RECOVERY_TEST_POSTGRES_URL="$(scripts/start_test_postgres.sh)"
#
# Idempotent: a second run finds the server running and prints the same URL. Only the URL
# goes to stdout; progress goes to stderr. Needs the server binaries (Debian:
# `apt-get install postgresql`); the cluster lives in its own folder, not Debian's, and
# listens on 127.0.0.1 only, with trust authentication: it is for tests, never for data.
#
# Settings (environment):
#   LOAN_RECOVERY_TEST_POSTGRES_DIR   data folder      (default /tmp/loan-recovery-test-pg)
#   LOAN_RECOVERY_TEST_POSTGRES_PORT  port             (default 5433)
#   LOAN_RECOVERY_TEST_POSTGRES_USER  OS user as root  (default postgres)
set -euo pipefail

data_dir="${LOAN_RECOVERY_TEST_POSTGRES_DIR:-/tmp/loan-recovery-test-pg}"
port="${LOAN_RECOVERY_TEST_POSTGRES_PORT:-5433}"
os_user="${LOAN_RECOVERY_TEST_POSTGRES_USER:-postgres}"
url="postgresql://postgres@127.0.0.1:${port}/postgres"

log() { echo "start_test_postgres: $*" >&2; }

# The newest installed server version (initdb is not on PATH on Debian).
bin_dir=""
for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  if [ -x "$candidate/initdb" ]; then bin_dir="$candidate"; break; fi
done
if [ -z "$bin_dir" ]; then
  initdb_path="$(command -v initdb || true)"
  [ -n "$initdb_path" ] && bin_dir="$(dirname "$initdb_path")"
fi
if [ -z "$bin_dir" ]; then
  log "no PostgreSQL server binaries found; install them (Debian: apt-get install postgresql)."
  exit 1
fi

# initdb and the server refuse to run as root: run them as an unprivileged user instead.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$os_user" -- "$@"
  else
    "$@"
  fi
}

if [ "$(id -u)" -eq 0 ]; then
  if ! id "$os_user" >/dev/null 2>&1; then
    log "creating system user $os_user"
    useradd --system --no-create-home --shell /usr/sbin/nologin "$os_user"
  fi
  mkdir -p "$data_dir"
  chown "$os_user" "$data_dir"
  chmod 700 "$data_dir"
else
  mkdir -p "$data_dir"
  chmod 700 "$data_dir"
fi

if [ ! -f "$data_dir/PG_VERSION" ]; then
  log "initialising a cluster in $data_dir ($bin_dir)"
  as_owner "$bin_dir/initdb" -D "$data_dir" -U postgres --auth=trust --encoding=UTF8 \
    --no-locale >/dev/null
fi

if as_owner "$bin_dir/pg_ctl" -D "$data_dir" status >/dev/null 2>&1; then
  log "server already running in $data_dir"
else
  log "starting the server on 127.0.0.1:$port"
  # fsync off: a test server trades durability for speed; it holds nothing worth keeping.
  as_owner "$bin_dir/pg_ctl" -D "$data_dir" -l "$data_dir/server.log" -w -t 60 \
    -o "-p $port -k $data_dir -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" \
    start >/dev/null
fi

for _ in $(seq 1 60); do
  if "$bin_dir/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; then
    echo "$url"
    exit 0
  fi
  sleep 0.5
done
log "the server did not accept connections on port $port; see $data_dir/server.log"
exit 1
