#!/bin/sh
# ingest_same.sh BASE_BIN NEW_BIN [TESTDATA]
#
# What a change to ingest must not change: two tagdigest binaries (main's
# and a branch's) ingest the same feeds, each into a fresh store, and the
# stores must hold the same posts. Compared, per feed: the posts table
# (every column but the times of fetch, ingested_at and changed_at),
# post_tags (tag, seq), tags, post_items and item_tags, the exit code and
# stdout of `ingest`, and the JSON of `feed-dump` (feedparser's model, with
# every HTML field sanitized). Feeds: the two of bench_ingest.py (the
# plain one and --wordpress, 1,000 items each), the real feeds of
# $TESTDATA/realfeeds and the feedparser cases of $TESTDATA/feeds.
#
# An undated item is dated when it was read: such dates are compared as
# 'now'. BASE_CACHE=DIR keeps the base binary's dumps there (named by the
# feed's name and checksum), so that a second run only runs the new binary.
#
# Prints one line per feed that differs (and the diff of the first), then
# a summary; exits 1 when any feed differs. Not part of `make test`: it
# needs main's binary (build it from `git -C /work/main rev-parse HEAD`).
set -eu

base=$1
new=$2
testdata=${3:-${TESTDATA:-/work/shared/testdata}}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
python=${PYTHON:-/usr/bin/python3}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/td-ingest-same.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

"$python" "$here/bench_ingest.py" --items 1000 --write-feed "$tmp/bench-plain.xml"
"$python" "$here/bench_ingest.py" --items 1000 --wordpress --write-feed "$tmp/bench-wordpress.xml"
ls "$tmp"/bench-*.xml > "$tmp/list"
if [ -d "$testdata/realfeeds" ]; then
	find "$testdata/realfeeds" -type f \( -name '*.xml' -o -name '*.rss' -o -name '*.atom' \) | sort >> "$tmp/list"
fi
if [ -d "$testdata/feeds" ]; then
	find "$testdata/feeds" -type f -name '*.xml' | sort >> "$tmp/list"
fi

# dump BIN FEED OUT: ingest FEED into a fresh store with BIN, dump to OUT
dump() {
	site=$tmp/site
	rm -rf "$site"
	mkdir -p "$site"
	ln -s "$root/templates" "$site/templates"
	printf 'email,name,tags\n' > "$site/subscribers.csv"
	printf '[site]\nname = S\nurl = https://same.test\nfrom = d@same.test\n[store]\npath = var/store.db\n[subscribers]\npath = subscribers.csv\n[templates]\ndir = templates\n[source.feed]\ntype = feed\nurl = file://%s\n' \
		"$2" > "$site/tagdigest.conf"
	{
		rc=0
		"$1" -c "$site/tagdigest.conf" ingest > "$site/stdout" 2> /dev/null || rc=$?
		echo "ingest exit $rc"
		cat "$site/stdout"
		if [ -f "$site/var/store.db" ]; then
			sqlite3 "$site/var/store.db" <<'SQL'
.mode quote
SELECT 'post', seq, source, guid, url, title, author,
       CASE WHEN published = ingested_at THEN 'now' ELSE published END,
       CASE WHEN updated = ingested_at THEN 'now' ELSE updated END,
       excerpt_html, excerpt_text, content_html, content_hash
  FROM posts ORDER BY seq;
SELECT 'post_tag', tag, seq FROM post_tags ORDER BY tag, seq;
SELECT 'tag', slug, name FROM tags ORDER BY slug;
SELECT 'item', id, source, guid, seq, content_hash, guid_key, url_key
  FROM post_items ORDER BY id;
SELECT 'item_tag', item, tag FROM item_tags ORDER BY item, tag;
SQL
		fi
		rc=0
		"$1" feed-dump "$2" 2> /dev/null || rc=$?
		echo "feed-dump exit $rc"
	} > "$3"
}

n=0
bad=0
while IFS= read -r feed; do
	n=$((n + 1))
	if [ -n "${BASE_CACHE:-}" ]; then
		mkdir -p "$BASE_CACHE"
		key=$(basename "$feed")-$(cksum < "$feed" | tr ' ' '-')
		if [ ! -f "$BASE_CACHE/$key" ]; then
			dump "$base" "$feed" "$BASE_CACHE/$key"
		fi
		cp "$BASE_CACHE/$key" "$tmp/a"
	else
		dump "$base" "$feed" "$tmp/a"
	fi
	dump "$new" "$feed" "$tmp/b"
	if ! cmp -s "$tmp/a" "$tmp/b"; then
		bad=$((bad + 1))
		echo "DIFFERS: $feed"
		if [ "$bad" -eq 1 ]; then
			diff "$tmp/a" "$tmp/b" | head -40 || true
		fi
	fi
done < "$tmp/list"
echo "ingest_same: $n feeds, $bad differ"
[ "$bad" -eq 0 ]
