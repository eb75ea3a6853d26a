#!/usr/bin/env bash
# Starts a local PostgreSQL server for the metadata-store tests, if this machine can have one
# (Debian's postgresql package, installed when running as root), and prints the SQLAlchemy URL
# of a fresh test database on 127.0.0.1. Exits non-zero (printing nothing) when it cannot; the
# PostgreSQL tests are then skipped with that reason.
set -uo pipefail

if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq postgresql >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq postgresql >/dev/null 2>&1; } \
    || exit 1
fi
version="$(ls /usr/lib/postgresql | sort -n | tail -1)"
if ! pg_lsclusters -h 2>/dev/null | grep -q "^$version main"; then
  pg_createcluster "$version" main >/dev/null 2>&1 || exit 1
fi
pg_ctlcluster "$version" main start >/dev/null 2>&1 || true
for _ in $(seq 1 50); do
  pg_isready -q -h 127.0.0.1 && break
  sleep 0.2
done
pg_isready -q -h 127.0.0.1 || exit 1
su postgres -c "psql -q -c \"DROP DATABASE IF EXISTS seqline_test\"" >/dev/null 2>&1
su postgres -c "psql -q -c \"DO \\\$\\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'seqline') THEN CREATE ROLE seqline LOGIN PASSWORD 'seqline'; END IF; END \\\$\\\$\"" >/dev/null 2>&1 || exit 1
# CREATEROLE: the metadata-store tests make a short-lived role that may use the tables but does
# not own them (tests/pipeline/test_metadata_postgres.py), as production roles often are.
su postgres -c "psql -q -c 'ALTER ROLE seqline CREATEROLE'" >/dev/null 2>&1 || exit 1
su postgres -c "createdb -O seqline seqline_test" >/dev/null 2>&1 || exit 1
echo "postgresql+pg8000://seqline:seqline@127.0.0.1:5432/seqline_test"
