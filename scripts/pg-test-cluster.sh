#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests: trust auth, loopback only, no durability.
#
#   scripts/pg-test-cluster.sh install        apt-get install Debian's postgresql if initdb is missing
#   scripts/pg-test-cluster.sh start [DIR]    initdb + start on 127.0.0.1:<free port>; prints TAPGATE_PG_URL=...
#   scripts/pg-test-cluster.sh stop  [DIR]    stop it and delete DIR
#
# DIR defaults to $TAPGATE_PG_DIR or /tmp/tapgate-pg. PostgreSQL refuses to run as root, so as
# root the cluster runs as the `postgres` user (created by the Debian package) and DIR is chowned.
# The URL names the superuser `tapgate` and the database `postgres`; tests create their own databases.
set -euo pipefail

cmd=${1:-}
dir=${2:-${TAPGATE_PG_DIR:-/tmp/tapgate-pg}}

find_bindir() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir
    return
  fi
  # Debian keeps initdb/pg_ctl off PATH, one directory per major version; take the newest.
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$d" ] && [ -x "$d/initdb" ]; then
    echo "$d"
    return
  fi
  if command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return
  fi
  return 1
}

# Runs a command as the cluster owner: ourselves, or `postgres` when we are root.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    if command -v runuser >/dev/null 2>&1; then
      runuser -u postgres -- "$@"
    else
      su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    fi
  else
    "$@"
  fi
}

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

case "$cmd" in
  install)
    if find_bindir >/dev/null; then
      echo "postgresql already installed: $(find_bindir)" >&2
      exit 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Debian's package would also create and start a system cluster; keep it from starting.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
      chmod +x /usr/sbin/policy-rc.d
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    echo "postgresql installed: $(find_bindir)" >&2
    ;;

  start)
    bindir=$(find_bindir) || {
      echo "pg-test-cluster: no PostgreSQL found (initdb); run '$0 install' first" >&2
      exit 1
    }
    # A cluster left by an interrupted run is ours and throwaway: stop it and start afresh.
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then
      id postgres >/dev/null 2>&1 || {
        echo "pg-test-cluster: running as root needs a 'postgres' user (PostgreSQL refuses root)" >&2
        exit 1
      }
      chown postgres: "$dir"
    fi
    chmod 700 "$dir"
    as_owner "$bindir/initdb" -D "$dir/data" -U tapgate --auth=trust --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 || {
      cat "$dir/initdb.log" >&2
      exit 1
    }
    for _ in 1 2 3 4 5 6 7 8; do
      port=$((20000 + RANDOM % 30000))
      port_free "$port" || continue
      # Test-only settings: durability off (fsync, full_page_writes) and room for many pools.
      opts="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir"
      opts="$opts -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=300"
      if as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 -o "$opts" start >/dev/null 2>&1; then
        echo "$port" >"$dir/port"
        echo "TAPGATE_PG_URL=postgres://tapgate@127.0.0.1:$port/postgres"
        exit 0
      fi
    done
    echo "pg-test-cluster: PostgreSQL did not start; its log follows" >&2
    cat "$dir/postgres.log" >&2 || true
    exit 1
    ;;

  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
      bindir=$(find_bindir)
      as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;

  *)
    echo "usage: $0 install | start [DIR] | stop [DIR]" >&2
    exit 2
    ;;
esac
