#!/bin/sh
# pg_store_bin.sh: tagdigest with each test site's store on PostgreSQL.
#
# `make e2e-pg` runs the end-to-end tests with TAGDIGEST_BIN pointing here
# and TD_E2E_REAL_BIN at the binary under test, under tests/pg_server.py
# (TD_TEST_PG_URL names the server). A site is the folder of its config
# (`-c FILE`): its first command creates a database of its own, named
# after that folder, and every command gets `-o store.url=` for it, which
# overrides the [store] path the test wrote (tagdigest.conf(5)). The
# commands are otherwise the test's, byte for byte. The site's URL is
# written to .pg_store in its folder, where conftest.py's open_store()
# reads it.
set -eu
real=${TD_E2E_REAL_BIN:?TD_E2E_REAL_BIN names the tagdigest under test}
admin=${TD_TEST_PG_URL:?TD_TEST_PG_URL names the PostgreSQL server}
conf=
prev=
for a in "$@"; do
	if [ "$prev" = "-c" ]; then conf=$a; fi
	case $a in --config=*) conf=${a#--config=} ;; esac
	prev=$a
done
if [ -z "$conf" ]; then
	exec "$real" "$@"
fi
dir=$(cd "$(dirname "$conf")" && pwd)
name=td_e2e_$(printf '%s' "$dir" | md5sum | cut -c1-16)
base=${admin%/*}
if [ ! -e "$dir/.pg_store" ]; then
	# created once per site; a second process racing here finds it made
	psql -X -q -d "$admin" -c "CREATE DATABASE \"$name\"" >/dev/null 2>&1 || true
	printf '%s\n' "$base/$name" > "$dir/.pg_store"
fi
exec "$real" -o "store.url=$base/$name" "$@"
