/*
 * store.c: the store on SQLite or PostgreSQL (see store.h for the rules it
 * keeps; db.h for how one SQL text serves both).
 *
 * Statements that run once per subscriber or per post are prepared once
 * per connection and reset after use; the rest are prepared where used.
 */
#include "tagdigest/store/store.h"

#include <ctype.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sysexits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/core/log.h"
#include "store_impl.h"

#define TD_STR_(x) #x
#define TD_STR(x) TD_STR_(x)

/* Each entry moves the schema from version i to i+1. Never edit a shipped
 * entry: add a new one. */
static const char *const migrations[] = {
	/* 1: posts, tags, subscribers' watermarks, deliveries, sources */
	"CREATE TABLE posts ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  source TEXT NOT NULL,"
	"  guid TEXT NOT NULL,"
	"  url TEXT NOT NULL,"
	"  title TEXT NOT NULL,"
	"  author TEXT NOT NULL DEFAULT '',"
	"  published INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  excerpt_html TEXT NOT NULL,"
	"  excerpt_text TEXT NOT NULL,"
	"  content_html TEXT NOT NULL,"
	"  content_hash TEXT NOT NULL,"
	"  ingested_at INTEGER NOT NULL,"
	"  changed_at INTEGER NOT NULL,"
	"  UNIQUE (source, guid));"
	"CREATE TABLE tags (slug TEXT PRIMARY KEY, name TEXT NOT NULL);"
	"CREATE TABLE post_tags ("
	"  tag TEXT NOT NULL,"
	"  seq INTEGER NOT NULL REFERENCES posts(seq) ON DELETE CASCADE,"
	"  PRIMARY KEY (tag, seq)) WITHOUT ROWID;"
	"CREATE INDEX post_tags_seq ON post_tags(seq);"
	"CREATE TABLE subscriber_state ("
	"  email TEXT PRIMARY KEY,"
	"  watermark INTEGER NOT NULL,"
	"  last_slot INTEGER NOT NULL DEFAULT 0,"
	"  last_sent_at INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE deliveries ("
	"  id INTEGER PRIMARY KEY,"
	"  email TEXT NOT NULL,"
	"  slot INTEGER NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('sent', 'skipped')),"
	"  message_id TEXT,"
	"  reply TEXT,"
	"  from_seq INTEGER NOT NULL,"
	"  upto_seq INTEGER NOT NULL,"
	"  post_count INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  UNIQUE (email, slot));"
	"CREATE TABLE attempts ("
	"  id INTEGER PRIMARY KEY,"
	"  email TEXT NOT NULL,"
	"  slot INTEGER NOT NULL,"
	"  outcome TEXT NOT NULL,"
	"  detail TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL);"
	"CREATE TABLE sources ("
	"  name TEXT PRIMARY KEY,"
	"  last_success INTEGER NOT NULL DEFAULT 0,"
	"  last_error TEXT NOT NULL DEFAULT '',"
	"  last_error_at INTEGER NOT NULL DEFAULT 0,"
	"  failures INTEGER NOT NULL DEFAULT 0,"
	"  etag TEXT NOT NULL DEFAULT '',"
	"  last_modified TEXT NOT NULL DEFAULT '');",

	/* 2: suppressions: what the program learned overrides the editors'
	 * subscriber file without rewriting it */
	"CREATE TABLE suppressions ("
	"  email TEXT NOT NULL,"
	"  scope TEXT NOT NULL,"            /* 'all' or a tag slug */
	"  reason TEXT NOT NULL,"           /* 'unsubscribed', 'bounced', ... */
	"  detail TEXT NOT NULL DEFAULT '',"
	"  created_at INTEGER NOT NULL,"
	"  PRIMARY KEY (email, scope));",

	/* 3: the delivery engine. `pending` keeps a digest that is not done
	 * for its slot: state 'retry' holds the exact bytes (same Message-ID,
	 * same posts, same signature) to resend after a temporary failure;
	 * 'expired' (given up after too many attempts or too long) and
	 * 'bounced' (5xx at RCPT/DATA) close the slot for that subscriber
	 * without a delivery, so the posts stay above the watermark for the
	 * next slot. `bounces` counts consecutive permanent failures. */
	"CREATE TABLE pending ("
	"  email TEXT NOT NULL,"
	"  slot INTEGER NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('retry', 'expired', 'bounced')),"
	"  message_id TEXT NOT NULL,"
	"  message BLOB NOT NULL,"
	"  from_seq INTEGER NOT NULL,"
	"  upto_seq INTEGER NOT NULL,"
	"  post_count INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL,"
	"  first_attempt_at INTEGER NOT NULL,"
	"  next_attempt_at INTEGER NOT NULL,"
	"  last_error TEXT NOT NULL DEFAULT '',"
	"  PRIMARY KEY (email, slot));"
	"CREATE TABLE bounces ("
	"  email TEXT PRIMARY KEY,"
	"  consecutive INTEGER NOT NULL,"
	"  last_reply TEXT NOT NULL DEFAULT '',"
	"  updated_at INTEGER NOT NULL);",

	/* 4: one post per article, whatever number of sources carry it.
	 * `post_items` maps each source's item (source, guid) to the post it
	 * is, with that item's own content hash (an edit from any source
	 * updates the post in place) and the keys that find the post from
	 * another source (post.h: guid_key, url_key). `item_tags` holds the
	 * tags each item gives; post_tags becomes their union, so a source
	 * dropping a category takes back only its own contribution. From
	 * here on posts.source and posts.guid name the item that first
	 * brought the post, and posts.content_hash the version stored.
	 * index_existing_posts() fills the new tables from the posts already
	 * stored, right after this, in the same transaction: each post its
	 * own first item. The copies of one article stored before are merged
	 * by migration 6, which numbers the arrival of their tags. */
	"CREATE TABLE post_items ("
	"  id INTEGER PRIMARY KEY,"
	"  source TEXT NOT NULL,"
	"  guid TEXT NOT NULL,"
	"  seq INTEGER NOT NULL REFERENCES posts(seq) ON DELETE CASCADE,"
	"  content_hash TEXT NOT NULL,"
	"  guid_key TEXT,"
	"  url_key TEXT,"
	"  UNIQUE (source, guid));"
	"CREATE INDEX post_items_seq ON post_items(seq);"
	"CREATE INDEX post_items_guid_key ON post_items(guid_key) WHERE guid_key IS NOT NULL;"
	"CREATE INDEX post_items_url_key ON post_items(url_key) WHERE url_key IS NOT NULL;"
	"CREATE TABLE item_tags ("
	"  item INTEGER NOT NULL REFERENCES post_items(id) ON DELETE CASCADE,"
	"  tag TEXT NOT NULL,"
	"  PRIMARY KEY (item, tag)) WITHOUT ROWID;",

	/* 5: excerpts are cut when a digest is rendered, no longer at
	 * ingest, so excerpt_html and excerpt_text hold the first paragraph
	 * up to the longest excerpt_chars allowed. Posts stored before hold
	 * it cut to the excerpt_chars of their day: forget what lets ingest
	 * skip an item (its content hash) or a feed (its HTTP validators), so
	 * the next ingest reads every source in full and rewrites each post
	 * its sources still carry, in place (same seq: not announced
	 * again). */
	"UPDATE post_items SET content_hash = '';"
	"UPDATE sources SET etag = '', last_modified = '';",

	/* 6: each (post, tag) pair has its own arrival number, handed out by
	 * the counter that numbers posts (the AUTOINCREMENT row of `posts` in
	 * sqlite_sequence), so that one watermark covers both: a tag the post
	 * had when it arrived has the post's seq; a tag that came later
	 * (another source, an edit) gets the next number then; a tag that
	 * stays keeps its number. A digest holds a post when a tag its
	 * reader follows arrived above their watermark, unless the post
	 * reached them before through another tag (digest.h): so a source
	 * that brings a known post later reaches the readers of its tags
	 * without the seq moving. Pairs stored so far came with their post.
	 * merge_existing_posts() then merges the copies of one article that
	 * earlier versions stored from different sources, right after this,
	 * in the same transaction. (A table rebuilt, not altered: a column
	 * cannot be added twice, and a store whose version was set back runs
	 * this again.) */
	"CREATE TABLE post_tags_6 ("
	"  tag TEXT NOT NULL,"
	"  seq INTEGER NOT NULL REFERENCES posts(seq) ON DELETE CASCADE,"
	"  arrived INTEGER NOT NULL,"
	"  PRIMARY KEY (tag, seq)) WITHOUT ROWID;"
	"INSERT INTO post_tags_6 (tag, seq, arrived) SELECT tag, seq, seq FROM post_tags;"
	"DROP TABLE post_tags;"
	"ALTER TABLE post_tags_6 RENAME TO post_tags;"
	"CREATE INDEX post_tags_seq ON post_tags(seq);"
	"CREATE INDEX post_tags_arrived ON post_tags(tag, arrived);",

	/* 7: the subscriber list moves into the store (roster.h). `members`
	 * is keyed by the lowercased address; `tags` holds the followed
	 * slugs joined with ',' in the order chosen, so the send walk and a
	 * sync's comparison read one row; `member_tags` holds the same for
	 * listing by tag. The pending_* columns keep a sign-up's choice
	 * until it is confirmed (an unsubscribed reader's own tags stay
	 * until then). confirm_mails counts the confirmation mails of the
	 * 24-hour window that started at confirm_window_start. `roster_files`
	 * remembers the digest of the subscriber file last synced. (The
	 * CHECKs are written with OR, not IN: SQLite builds an ephemeral
	 * table for an IN list on every row written, which made a sync of
	 * 100,000 new rows take a minute.) Stores
	 * from before start with no members: the first sync fills them, and
	 * an address suppressed for "all" gets its status then. (IF NOT
	 * EXISTS: a store whose version was set back runs this again.) */
	"CREATE TABLE IF NOT EXISTS members ("
	"  id INTEGER PRIMARY KEY,"
	"  email_key TEXT NOT NULL UNIQUE,"
	"  email TEXT NOT NULL,"
	"  name TEXT NOT NULL DEFAULT '',"
	"  tags TEXT NOT NULL DEFAULT '',"
	"  status TEXT NOT NULL CHECK (status = 'pending' OR status = 'active' OR"
	"    status = 'unsubscribed' OR status = 'bounced' OR status = 'complained'),"
	"  origin TEXT NOT NULL,"
	"  reader_choice INTEGER NOT NULL DEFAULT 0,"
	"  frequency TEXT NOT NULL DEFAULT 'weekly'"
	"    CHECK (frequency = 'weekly' OR frequency = 'daily' OR frequency = 'monthly'),"
	"  own_time INTEGER NOT NULL DEFAULT 0,"
	"  wday INTEGER NOT NULL DEFAULT 0 CHECK (wday BETWEEN 0 AND 6),"
	"  hour INTEGER NOT NULL DEFAULT 0 CHECK (hour BETWEEN 0 AND 23),"
	"  minute INTEGER NOT NULL DEFAULT 0 CHECK (minute BETWEEN 0 AND 59),"
	"  timezone TEXT,"
	"  paused_until INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL,"
	"  confirmed_at INTEGER NOT NULL DEFAULT 0,"
	"  changed_at INTEGER NOT NULL,"
	"  consent_at INTEGER NOT NULL DEFAULT 0,"
	"  consent_how TEXT NOT NULL DEFAULT '',"
	"  consent_from TEXT NOT NULL DEFAULT '',"
	"  confirm_nonce TEXT NOT NULL DEFAULT '',"
	"  confirm_sent_at INTEGER NOT NULL DEFAULT 0,"
	"  confirm_mails INTEGER NOT NULL DEFAULT 0,"
	"  confirm_window_start INTEGER NOT NULL DEFAULT 0,"
	"  pending_name TEXT,"
	"  pending_tags TEXT,"
	"  pending_frequency TEXT,"
	"  pending_from TEXT);"
	"CREATE INDEX IF NOT EXISTS members_status ON members(status, id);"
	"CREATE TABLE IF NOT EXISTS member_tags ("
	"  member INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,"
	"  position INTEGER NOT NULL,"
	"  tag TEXT NOT NULL,"
	"  PRIMARY KEY (member, tag)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS member_tags_tag ON member_tags(tag, member);"
	"CREATE TABLE IF NOT EXISTS roster_files ("
	"  path TEXT PRIMARY KEY,"
	"  digest TEXT NOT NULL);",

	/* 8: what came back by mail (store/bounces.h, SQL in bounces.c).
	 * `bounce_events` has one row per recipient of each bounce,
	 * complaint or note, keyed by the lowercased address like
	 * suppressions; `slot` is the digest's from the VERP token (0:
	 * unknown), which is what makes a delay warning and the final
	 * failure of one digest one soft bounce. `bounce_mail` remembers each
	 * mail processed by the SHA-256 of its bytes, written in the same
	 * transaction as its events, so a mail seen again after a crash is
	 * only removed. `bounce_scores` holds each address's soft score as
	 * of scored_at (it halves every half-life from there) and its hard
	 * bounces. (IF NOT EXISTS: a store whose version was set back runs
	 * this again.) */
	"CREATE TABLE IF NOT EXISTS bounce_events ("
	"  id INTEGER PRIMARY KEY,"
	"  email TEXT NOT NULL,"
	"  at INTEGER NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind = 'hard' OR kind = 'soft' OR"
	"    kind = 'complaint' OR kind = 'note'),"
	"  status TEXT NOT NULL DEFAULT '',"
	"  reply_code TEXT NOT NULL DEFAULT '',"
	"  reason TEXT NOT NULL DEFAULT '',"
	"  feedback_type TEXT NOT NULL DEFAULT '',"
	"  slot INTEGER NOT NULL DEFAULT 0,"
	"  message_key TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  detail TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX IF NOT EXISTS bounce_events_email ON bounce_events(email, at);"
	"CREATE INDEX IF NOT EXISTS bounce_events_at ON bounce_events(at);"
	"CREATE TABLE IF NOT EXISTS bounce_mail ("
	"  message_key TEXT PRIMARY KEY,"
	"  outcome TEXT NOT NULL,"
	"  events INTEGER NOT NULL,"
	"  processed_at INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS bounce_scores ("
	"  email TEXT PRIMARY KEY,"
	"  score REAL NOT NULL DEFAULT 0,"
	"  scored_at INTEGER NOT NULL DEFAULT 0,"
	"  hard INTEGER NOT NULL DEFAULT 0,"
	"  updated_at INTEGER NOT NULL);",

	/* 9: a feed's HTTP validators belong to the URL they came from:
	 * `validators_url` is that URL, and validators stored for another
	 * (the config's `url` changed) are not sent, or the new address
	 * would answer 304 to the old one's ETag and pass for healthy with
	 * no posts. Validators stored before have no URL and are not sent
	 * either: one full fetch per feed, once. `ok_since` is when a source
	 * that had failed last succeeded again (0: it has not failed since
	 * this was kept), so `status` can say the last error is over. The
	 * columns are added by add_source_columns() (ALTER TABLE cannot say
	 * IF NOT EXISTS, and a store whose version was set back runs this
	 * again). */
	[8] = "",

	/* 10: run history (store/runs.h, SQL in runs.c): one row per real
	 * send, written when it starts (finished_at NULL) and completed
	 * when it ends, so a run killed midway stays as "interrupted". The
	 * counts are the send summary's (deliver.h). `members_search` is the
	 * desk's reader search (roster.h): a substring match cannot use a
	 * B-tree to find rows, but a covering index of the two columns it
	 * reads is scanned instead of the whole table, in the order the
	 * results are shown, so a page stops early. (IF NOT EXISTS: a store
	 * whose version was set back runs this again.) */
	[9] =
	"CREATE TABLE IF NOT EXISTS runs ("
	"  id INTEGER PRIMARY KEY,"
	"  command TEXT NOT NULL,"
	"  started_at INTEGER NOT NULL,"
	"  finished_at INTEGER,"
	"  subscribers INTEGER NOT NULL DEFAULT 0,"
	"  not_due INTEGER NOT NULL DEFAULT 0,"
	"  sent INTEGER NOT NULL DEFAULT 0,"
	"  skipped INTEGER NOT NULL DEFAULT 0,"
	"  suppressed INTEGER NOT NULL DEFAULT 0,"
	"  tempfail INTEGER NOT NULL DEFAULT 0,"
	"  permfail INTEGER NOT NULL DEFAULT 0,"
	"  deferred INTEGER NOT NULL DEFAULT 0,"
	"  expired INTEGER NOT NULL DEFAULT 0,"
	"  bounced INTEGER NOT NULL DEFAULT 0,"
	"  resent INTEGER NOT NULL DEFAULT 0,"
	"  slot INTEGER NOT NULL DEFAULT 0,"
	"  seconds REAL NOT NULL DEFAULT 0,"
	"  exit_code INTEGER NOT NULL DEFAULT 0,"
	"  stopped_by_signal INTEGER NOT NULL DEFAULT 0,"
	"  note TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX IF NOT EXISTS members_search ON members(email_key, name);",

	/* 11: clean starts (store/start.h). A reader who starts clean gets a
	 * subscriber_state row as a digest would leave it (the watermark at
	 * the store's counter, their current slot as last_slot, no
	 * last_sent_at), so the due rule and the digest need nothing new;
	 * this table only remembers that the row came from a start, not a
	 * digest, for `status`, `subscribers show` and the desk. (IF NOT
	 * EXISTS: a store whose version was set back runs this again.) */
	[10] =
	"CREATE TABLE IF NOT EXISTS clean_starts ("
	"  email TEXT PRIMARY KEY,"
	"  slot INTEGER NOT NULL,"
	"  upto_seq INTEGER NOT NULL,"
	"  at INTEGER NOT NULL);",

	/* 12: subscriber_state clustered on its key (WITHOUT ROWID). Every
	 * digest reads a reader's row and every delivery writes it: as a
	 * rowid table with an index on email that was two B-trees to walk on
	 * each read and two leaf pages to write, and to checkpoint, on each
	 * record; now one. The rows are copied as they are. (A table rebuilt,
	 * not altered: a store whose version was set back runs this again.) */
	[11] =
	"CREATE TABLE subscriber_state_12 ("
	"  email TEXT PRIMARY KEY,"
	"  watermark INTEGER NOT NULL,"
	"  last_slot INTEGER NOT NULL DEFAULT 0,"
	"  last_sent_at INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
	"INSERT INTO subscriber_state_12 (email, watermark, last_slot, last_sent_at)"
	"  SELECT email, watermark, last_slot, last_sent_at FROM subscriber_state;"
	"DROP TABLE subscriber_state;"
	"ALTER TABLE subscriber_state_12 RENAME TO subscriber_state;",

	/* 13: send batches (store/claims.h): the roster split by member id
	 * into ranges that senders claim with a lease (database clock, ms),
	 * marked done when the run that walked them ended. Rows are made by
	 * the senders on demand. (IF NOT EXISTS: a store whose version was
	 * set back runs this again.) */
	[12] =
	"CREATE TABLE IF NOT EXISTS send_batches ("
	"  first_id INTEGER PRIMARY KEY,"
	"  last_id INTEGER NOT NULL,"
	"  worker TEXT NOT NULL DEFAULT '',"
	"  lease_until INTEGER NOT NULL DEFAULT 0,"
	"  done_at INTEGER NOT NULL DEFAULT 0);",
};

#define SQLITE_SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* PostgreSQL's own history: the schema as SQLite's migrations 1-12 left
 * it, in one step, with 64-bit integers for every INTEGER (times are Unix
 * seconds) and `counters` for the post numbers (stmt_sql_pg says why).
 * The version sits in td_schema, PostgreSQL having no user_version. Add
 * steps here as SQLite gets migrations (both say what the other lacks).
 * td_fold is the reader search's case folding, lower() with the
 * database's own character rules (SQLite's is ICU's fold, in roster.c). */
static const char *const pg_migrations[] = {
	"CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);"
	"INSERT INTO counters (name, value) VALUES ('posts', 0);"
	"CREATE TABLE posts ("
	"  seq BIGINT PRIMARY KEY,"
	"  source TEXT NOT NULL, guid TEXT NOT NULL, url TEXT NOT NULL,"
	"  title TEXT NOT NULL, author TEXT NOT NULL DEFAULT '',"
	"  published BIGINT NOT NULL, updated BIGINT NOT NULL,"
	"  excerpt_html TEXT NOT NULL, excerpt_text TEXT NOT NULL,"
	"  content_html TEXT NOT NULL, content_hash TEXT NOT NULL,"
	"  ingested_at BIGINT NOT NULL, changed_at BIGINT NOT NULL,"
	"  UNIQUE (source, guid));"
	"CREATE TABLE tags (slug TEXT PRIMARY KEY, name TEXT NOT NULL);"
	"CREATE TABLE post_tags ("
	"  tag TEXT NOT NULL,"
	"  seq BIGINT NOT NULL REFERENCES posts(seq) ON DELETE CASCADE,"
	"  arrived BIGINT NOT NULL,"
	"  PRIMARY KEY (tag, seq));"
	"CREATE INDEX post_tags_seq ON post_tags(seq);"
	"CREATE INDEX post_tags_arrived ON post_tags(tag, arrived);"
	"CREATE TABLE subscriber_state ("
	"  email TEXT PRIMARY KEY, watermark BIGINT NOT NULL,"
	"  last_slot BIGINT NOT NULL DEFAULT 0, last_sent_at BIGINT NOT NULL DEFAULT 0);"
	"CREATE TABLE deliveries ("
	"  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	"  email TEXT NOT NULL, slot BIGINT NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('sent', 'skipped')),"
	"  message_id TEXT, reply TEXT,"
	"  from_seq BIGINT NOT NULL, upto_seq BIGINT NOT NULL,"
	"  post_count BIGINT NOT NULL, created_at BIGINT NOT NULL,"
	"  UNIQUE (email, slot));"
	"CREATE TABLE attempts ("
	"  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	"  email TEXT NOT NULL, slot BIGINT NOT NULL, outcome TEXT NOT NULL,"
	"  detail TEXT NOT NULL, created_at BIGINT NOT NULL);"
	"CREATE TABLE sources ("
	"  name TEXT PRIMARY KEY,"
	"  last_success BIGINT NOT NULL DEFAULT 0,"
	"  last_error TEXT NOT NULL DEFAULT '',"
	"  last_error_at BIGINT NOT NULL DEFAULT 0,"
	"  failures BIGINT NOT NULL DEFAULT 0,"
	"  etag TEXT NOT NULL DEFAULT '', last_modified TEXT NOT NULL DEFAULT '',"
	"  validators_url TEXT NOT NULL DEFAULT '',"
	"  ok_since BIGINT NOT NULL DEFAULT 0);"
	"CREATE TABLE suppressions ("
	"  email TEXT NOT NULL, scope TEXT NOT NULL, reason TEXT NOT NULL,"
	"  detail TEXT NOT NULL DEFAULT '', created_at BIGINT NOT NULL,"
	"  PRIMARY KEY (email, scope));"
	"CREATE TABLE pending ("
	"  email TEXT NOT NULL, slot BIGINT NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('retry', 'expired', 'bounced')),"
	"  message_id TEXT NOT NULL, message BYTEA NOT NULL,"
	"  from_seq BIGINT NOT NULL, upto_seq BIGINT NOT NULL,"
	"  post_count BIGINT NOT NULL, attempts BIGINT NOT NULL,"
	"  first_attempt_at BIGINT NOT NULL, next_attempt_at BIGINT NOT NULL,"
	"  last_error TEXT NOT NULL DEFAULT '',"
	"  PRIMARY KEY (email, slot));"
	"CREATE TABLE bounces ("
	"  email TEXT PRIMARY KEY, consecutive BIGINT NOT NULL,"
	"  last_reply TEXT NOT NULL DEFAULT '', updated_at BIGINT NOT NULL);"
	"CREATE TABLE post_items ("
	"  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	"  source TEXT NOT NULL, guid TEXT NOT NULL,"
	"  seq BIGINT NOT NULL REFERENCES posts(seq) ON DELETE CASCADE,"
	"  content_hash TEXT NOT NULL, guid_key TEXT, url_key TEXT,"
	"  UNIQUE (source, guid));"
	"CREATE INDEX post_items_seq ON post_items(seq);"
	"CREATE INDEX post_items_guid_key ON post_items(guid_key) WHERE guid_key IS NOT NULL;"
	"CREATE INDEX post_items_url_key ON post_items(url_key) WHERE url_key IS NOT NULL;"
	"CREATE TABLE item_tags ("
	"  item BIGINT NOT NULL REFERENCES post_items(id) ON DELETE CASCADE,"
	"  tag TEXT NOT NULL, PRIMARY KEY (item, tag));"
	"CREATE TABLE members ("
	"  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	"  email_key TEXT NOT NULL UNIQUE, email TEXT NOT NULL,"
	"  name TEXT NOT NULL DEFAULT '', tags TEXT NOT NULL DEFAULT '',"
	"  status TEXT NOT NULL CHECK (status IN ('pending', 'active',"
	"    'unsubscribed', 'bounced', 'complained')),"
	"  origin TEXT NOT NULL,"
	"  reader_choice BIGINT NOT NULL DEFAULT 0,"
	"  frequency TEXT NOT NULL DEFAULT 'weekly'"
	"    CHECK (frequency IN ('weekly', 'daily', 'monthly')),"
	"  own_time BIGINT NOT NULL DEFAULT 0,"
	"  wday BIGINT NOT NULL DEFAULT 0 CHECK (wday BETWEEN 0 AND 6),"
	"  hour BIGINT NOT NULL DEFAULT 0 CHECK (hour BETWEEN 0 AND 23),"
	"  minute BIGINT NOT NULL DEFAULT 0 CHECK (minute BETWEEN 0 AND 59),"
	"  timezone TEXT,"
	"  paused_until BIGINT NOT NULL DEFAULT 0,"
	"  created_at BIGINT NOT NULL,"
	"  confirmed_at BIGINT NOT NULL DEFAULT 0,"
	"  changed_at BIGINT NOT NULL,"
	"  consent_at BIGINT NOT NULL DEFAULT 0,"
	"  consent_how TEXT NOT NULL DEFAULT '', consent_from TEXT NOT NULL DEFAULT '',"
	"  confirm_nonce TEXT NOT NULL DEFAULT '',"
	"  confirm_sent_at BIGINT NOT NULL DEFAULT 0,"
	"  confirm_mails BIGINT NOT NULL DEFAULT 0,"
	"  confirm_window_start BIGINT NOT NULL DEFAULT 0,"
	"  pending_name TEXT, pending_tags TEXT, pending_frequency TEXT,"
	"  pending_from TEXT);"
	"CREATE INDEX members_status ON members(status, id);"
	"CREATE INDEX members_search ON members(email_key, name);"
	"CREATE TABLE member_tags ("
	"  member BIGINT NOT NULL REFERENCES members(id) ON DELETE CASCADE,"
	"  position BIGINT NOT NULL, tag TEXT NOT NULL,"
	"  PRIMARY KEY (member, tag));"
	"CREATE INDEX member_tags_tag ON member_tags(tag, member);"
	"CREATE TABLE roster_files (path TEXT PRIMARY KEY, digest TEXT NOT NULL);"
	"CREATE TABLE bounce_events ("
	"  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	"  email TEXT NOT NULL, at BIGINT NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind IN ('hard', 'soft', 'complaint', 'note')),"
	"  status TEXT NOT NULL DEFAULT '', reply_code TEXT NOT NULL DEFAULT '',"
	"  reason TEXT NOT NULL DEFAULT '', feedback_type TEXT NOT NULL DEFAULT '',"
	"  slot BIGINT NOT NULL DEFAULT 0, message_key TEXT NOT NULL,"
	"  action TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX bounce_events_email ON bounce_events(email, at);"
	"CREATE INDEX bounce_events_at ON bounce_events(at);"
	"CREATE TABLE bounce_mail ("
	"  message_key TEXT PRIMARY KEY, outcome TEXT NOT NULL,"
	"  events BIGINT NOT NULL, processed_at BIGINT NOT NULL);"
	"CREATE TABLE bounce_scores ("
	"  email TEXT PRIMARY KEY, score DOUBLE PRECISION NOT NULL DEFAULT 0,"
	"  scored_at BIGINT NOT NULL DEFAULT 0, hard BIGINT NOT NULL DEFAULT 0,"
	"  updated_at BIGINT NOT NULL);"
	"CREATE TABLE runs ("
	"  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	"  command TEXT NOT NULL, started_at BIGINT NOT NULL, finished_at BIGINT,"
	"  subscribers BIGINT NOT NULL DEFAULT 0, not_due BIGINT NOT NULL DEFAULT 0,"
	"  sent BIGINT NOT NULL DEFAULT 0, skipped BIGINT NOT NULL DEFAULT 0,"
	"  suppressed BIGINT NOT NULL DEFAULT 0, tempfail BIGINT NOT NULL DEFAULT 0,"
	"  permfail BIGINT NOT NULL DEFAULT 0, deferred BIGINT NOT NULL DEFAULT 0,"
	"  expired BIGINT NOT NULL DEFAULT 0, bounced BIGINT NOT NULL DEFAULT 0,"
	"  resent BIGINT NOT NULL DEFAULT 0, slot BIGINT NOT NULL DEFAULT 0,"
	"  seconds DOUBLE PRECISION NOT NULL DEFAULT 0,"
	"  exit_code BIGINT NOT NULL DEFAULT 0,"
	"  stopped_by_signal BIGINT NOT NULL DEFAULT 0,"
	"  note TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE clean_starts ("
	"  email TEXT PRIMARY KEY, slot BIGINT NOT NULL,"
	"  upto_seq BIGINT NOT NULL, at BIGINT NOT NULL);"
	"CREATE FUNCTION td_fold(text) RETURNS text"
	"  AS 'SELECT lower($1)' LANGUAGE sql IMMUTABLE STRICT;",

	/* 2: send batches (store/claims.h), as SQLite's migration 13 */
	"CREATE TABLE send_batches ("
	"  first_id BIGINT PRIMARY KEY,"
	"  last_id BIGINT NOT NULL,"
	"  worker TEXT NOT NULL DEFAULT '',"
	"  lease_until BIGINT NOT NULL DEFAULT 0,"
	"  done_at BIGINT NOT NULL DEFAULT 0);",
};

#define PG_SCHEMA_VERSION ((int)(sizeof pg_migrations / sizeof pg_migrations[0]))

/* Migrations serialize on this PostgreSQL advisory lock: several senders
 * and public servers may open a new database at once. */
#define PG_MIGRATION_LOCK 7031501


enum stmt_id {
	ST_FIND_ITEM,
	ST_MATCH_GUID_KEY,
	ST_MATCH_URL_KEY,
	ST_INSERT_POST,
	ST_UPDATE_POST,
	ST_INSERT_ITEM,
	ST_UPDATE_ITEM,
	ST_DELETE_ITEM_TAGS,
	ST_INSERT_ITEM_TAG,
	ST_DROP_POST_TAGS,
	ST_NEW_POST_TAGS,
	ST_UNION_POST_TAGS,
	ST_NEXT_NUMBER,
	ST_MAX_SEQ,
	ST_UPSERT_TAG,
	ST_POSTS_FOR_TAG,
	ST_TAGS_OF_TAG_POSTS,
	ST_SUB_STATE,
	ST_READER_VIEW,
	ST_SLOT_DONE,
	ST_TAG_NAME,
	ST_SUPPRESSIONS_OF,
	ST_PENDING_GET,
	ST_PENDING_RETRY,
	ST_INSERT_DELIVERY,
	ST_MOVE_WATERMARK,
	ST_PENDING_DELETE,
	ST_BOUNCE_RESET,
	ST_RECORD_ATTEMPT,
	ST_BEGIN,
	ST_BEGIN_READ,
	ST_COMMIT,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_FIND_ITEM] =
		"SELECT id, seq, content_hash FROM post_items WHERE source = ?1 AND guid = ?2",
	/* A post carries at most one item of each source: two items of one
	 * feed are two posts even when they share a link. */
	[ST_MATCH_GUID_KEY] =
		"SELECT i.seq FROM post_items i WHERE i.guid_key = ?1 AND NOT EXISTS"
		" (SELECT 1 FROM post_items o WHERE o.seq = i.seq AND o.source = ?2)"
		" ORDER BY i.seq LIMIT 1",
	/* Two items whose guids are both global and differ are two posts,
	 * even with one link: link blogs point many posts at one page. */
	[ST_MATCH_URL_KEY] =
		"SELECT i.seq FROM post_items i WHERE i.url_key = ?1"
		" AND (?3 IS NULL OR i.guid_key IS NULL) AND NOT EXISTS"
		" (SELECT 1 FROM post_items o WHERE o.seq = i.seq AND o.source = ?2)"
		" ORDER BY i.seq LIMIT 1",
	[ST_INSERT_POST] =
		"INSERT INTO posts (source, guid, url, title, author, published, updated,"
		" excerpt_html, excerpt_text, content_html, content_hash, ingested_at, changed_at)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12) RETURNING seq",
	[ST_UPDATE_POST] =
		"UPDATE posts SET url = ?3, title = ?4, author = ?5, published = ?6,"
		" updated = ?7, excerpt_html = ?8, excerpt_text = ?9, content_html = ?10,"
		" content_hash = ?11, changed_at = ?12 WHERE seq = ?13",
	[ST_INSERT_ITEM] =
		"INSERT INTO post_items (source, guid, seq, content_hash, guid_key, url_key)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
	[ST_UPDATE_ITEM] =
		"UPDATE post_items SET content_hash = ?2, url_key = ?3 WHERE id = ?1",
	[ST_DELETE_ITEM_TAGS] = "DELETE FROM item_tags WHERE item = ?1",
	[ST_INSERT_ITEM_TAG] = "INSERT INTO item_tags (item, tag) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
	/* the tags none of the post's items gives any more */
	[ST_DROP_POST_TAGS] =
		"DELETE FROM post_tags WHERE seq = ?1 AND tag NOT IN (SELECT t.tag"
		" FROM post_items i JOIN item_tags t ON t.item = i.id WHERE i.seq = ?1)",
	[ST_NEW_POST_TAGS] =
		"SELECT 1 FROM post_items i JOIN item_tags t ON t.item = i.id"
		" WHERE i.seq = ?1 AND NOT EXISTS (SELECT 1 FROM post_tags p"
		" WHERE p.tag = t.tag AND p.seq = ?1) LIMIT 1",
	/* a pair stored already keeps its arrival number */
	[ST_UNION_POST_TAGS] =
		"INSERT INTO post_tags (tag, seq, arrived) SELECT t.tag, i.seq, ?2"
		" FROM post_items i JOIN item_tags t ON t.item = i.id WHERE i.seq = ?1"
		" ON CONFLICT DO NOTHING",
	/* the number AUTOINCREMENT would give the next post (migration 6) */
	[ST_NEXT_NUMBER] =
		"UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'posts' RETURNING seq",
	/* asked for every digest: the counter (a removed post's seq stays in
	 * it), or the posts' when a store lacks it */
	[ST_MAX_SEQ] =
		"SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'posts'), 0),"
		" COALESCE((SELECT MAX(seq) FROM posts), 0))",
	[ST_UPSERT_TAG] =
		"INSERT INTO tags (slug, name) VALUES (?1, ?2)"
		" ON CONFLICT (slug) DO UPDATE SET name = excluded.name"
		" WHERE tags.name != excluded.name",
	[ST_POSTS_FOR_TAG] =
		"SELECT p.seq, p.url, p.title, p.author, p.published, p.excerpt_html,"
		" p.excerpt_text FROM post_tags t JOIN posts p ON p.seq = t.seq"
		" WHERE t.tag = ?1 AND t.arrived > ?2 AND t.arrived <= ?3 AND p.ingested_at >= ?4"
		" ORDER BY p.published DESC, p.seq DESC",
	/* the tags of every post ST_POSTS_FOR_TAG returns, in one round
	 * trip instead of one per post: by post, each post's by name */
	[ST_TAGS_OF_TAG_POSTS] =
		"SELECT t.seq, t.tag, COALESCE(g.name, t.tag), t.arrived FROM post_tags q"
		" JOIN posts p ON p.seq = q.seq JOIN post_tags t ON t.seq = q.seq"
		" LEFT JOIN tags g ON g.slug = t.tag"
		" WHERE q.tag = ?1 AND q.arrived > ?2 AND q.arrived <= ?3 AND p.ingested_at >= ?4"
		" ORDER BY t.seq, COALESCE(g.name, t.tag)",
	/* a clean start (migration 11) counts as the last record while no
	 * digest came after it */
	[ST_SUB_STATE] =
		"SELECT s.watermark, s.last_slot, s.last_sent_at, COALESCE(c.at, 0),"
		" c.slot IS NOT NULL AND c.slot = s.last_slot AND s.last_sent_at = 0"
		" FROM subscriber_state s LEFT JOIN clean_starts c ON c.email = s.email"
		" WHERE s.email = ?1",
	/* ST_SUB_STATE, the counter, whether a pending row exists and one
	 * row per suppression (scope NULL when none): what a send reads of
	 * every reader, in one round trip */
	[ST_READER_VIEW] =
		"SELECT m.value, s.email IS NOT NULL, s.watermark, s.last_slot, s.last_sent_at,"
		" COALESCE(c.at, 0),"
		" c.slot IS NOT NULL AND c.slot = s.last_slot AND s.last_sent_at = 0,"
		" EXISTS (SELECT 1 FROM pending WHERE email = ?1), x.scope"
		" FROM (SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'posts'), 0),"
		" COALESCE((SELECT MAX(seq) FROM posts), 0)) AS value) m"
		" LEFT JOIN subscriber_state s ON s.email = ?1"
		" LEFT JOIN clean_starts c ON c.email = s.email"
		" LEFT JOIN suppressions x ON x.email = ?1 ORDER BY x.scope",
	[ST_SLOT_DONE] = "SELECT 1 FROM deliveries WHERE email = ?1 AND slot = ?2",
	[ST_TAG_NAME] = "SELECT name FROM tags WHERE slug = ?1",
	/* asked for every reader a send run walks */
	[ST_PENDING_GET] =
		"SELECT state, message_id, message, from_seq, upto_seq, post_count,"
		" attempts, first_attempt_at, next_attempt_at, last_error, slot"
		" FROM pending WHERE email = ?1 AND slot = ?2",
	[ST_PENDING_RETRY] =
		"SELECT state, message_id, message, from_seq, upto_seq, post_count,"
		" attempts, first_attempt_at, next_attempt_at, last_error, slot"
		" FROM pending WHERE email = ?1 AND state = 'retry'"
		" ORDER BY slot DESC LIMIT 1",
	[ST_SUPPRESSIONS_OF] =
		"SELECT email, scope, reason, detail, created_at FROM suppressions"
		" WHERE email = ?1 ORDER BY scope",
	/* the recorder's, for every message */
	[ST_INSERT_DELIVERY] =
		"INSERT INTO deliveries (email, slot, status, message_id, reply,"
		" from_seq, upto_seq, post_count, created_at)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[ST_MOVE_WATERMARK] =
		"INSERT INTO subscriber_state (email, watermark, last_slot, last_sent_at)"
		" VALUES (?1, ?2, ?3, ?4) ON CONFLICT (email) DO UPDATE SET"
		" watermark = MAX(subscriber_state.watermark, excluded.watermark),"
		" last_slot = MAX(subscriber_state.last_slot, excluded.last_slot),"
		" last_sent_at = CASE WHEN excluded.last_sent_at > 0"
		"   THEN excluded.last_sent_at ELSE subscriber_state.last_sent_at END",
	[ST_PENDING_DELETE] = "DELETE FROM pending WHERE email = ?1 AND slot = ?2",
	[ST_BOUNCE_RESET] = "DELETE FROM bounces WHERE email = ?1",
	[ST_RECORD_ATTEMPT] =
		"INSERT INTO attempts (email, slot, outcome, detail, created_at)"
		" VALUES (?1, ?2, ?3, ?4, ?5)",
	/* every digest's snapshot and every batch the recorder writes:
	 * parsed once, not by sqlite3_exec each time */
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_BEGIN_READ] = "BEGIN DEFERRED",
	[ST_COMMIT] = "COMMIT",
};

/* PostgreSQL's text where it differs from SQLite's (NULL: the same). Its
 * post counter is a row of `counters`, not a sequence: a sequence hands
 * out numbers outside transactions, so a digest could take a number an
 * ingest has not committed yet as its watermark and never see that post. */
static const char *const stmt_sql_pg[ST_COUNT] = {
	[ST_INSERT_POST] =
		"WITH n AS (UPDATE counters SET value = value + 1 WHERE name = 'posts'"
		" RETURNING value)"
		" INSERT INTO posts (seq, source, guid, url, title, author, published, updated,"
		" excerpt_html, excerpt_text, content_html, content_hash, ingested_at, changed_at)"
		" SELECT n.value, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12 FROM n"
		" RETURNING seq",
	[ST_NEXT_NUMBER] =
		"UPDATE counters SET value = value + 1 WHERE name = 'posts' RETURNING value",
	[ST_MAX_SEQ] = "SELECT value FROM counters WHERE name = 'posts'",
	[ST_READER_VIEW] =
		"SELECT m.value, s.email IS NOT NULL, s.watermark, s.last_slot, s.last_sent_at,"
		" COALESCE(c.at, 0),"
		" c.slot IS NOT NULL AND c.slot = s.last_slot AND s.last_sent_at = 0,"
		" EXISTS (SELECT 1 FROM pending WHERE email = ?1), x.scope"
		" FROM (SELECT COALESCE((SELECT value FROM counters WHERE name = 'posts'), 0)"
		" AS value) m"
		" LEFT JOIN subscriber_state s ON s.email = ?1"
		" LEFT JOIN clean_starts c ON c.email = s.email"
		" LEFT JOIN suppressions x ON x.email = ?1 ORDER BY x.scope",
	/* a conflict must not abort the recorder's transaction (PostgreSQL
	 * aborts it on any error): td_store_put_delivery reads no change as
	 * "recorded already" */
	[ST_INSERT_DELIVERY] =
		"INSERT INTO deliveries (email, slot, status, message_id, reply,"
		" from_seq, upto_seq, post_count, created_at)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
		" ON CONFLICT (email, slot) DO NOTHING",
	[ST_MOVE_WATERMARK] =
		"INSERT INTO subscriber_state (email, watermark, last_slot, last_sent_at)"
		" VALUES (?1, ?2, ?3, ?4) ON CONFLICT (email) DO UPDATE SET"
		" watermark = GREATEST(subscriber_state.watermark, excluded.watermark),"
		" last_slot = GREATEST(subscriber_state.last_slot, excluded.last_slot),"
		" last_sent_at = CASE WHEN excluded.last_sent_at > 0"
		"   THEN excluded.last_sent_at ELSE subscriber_state.last_sent_at END",
	/* a snapshot for the whole transaction, as SQLite's read is */
	[ST_BEGIN] = "BEGIN",
	[ST_BEGIN_READ] = "BEGIN ISOLATION LEVEL REPEATABLE READ",
};

struct td_store {
	struct td_db *db;
	char *path;
	struct td_db_stmt *stmt[ST_COUNT];
	struct td_db_stmt *roster[TD_STORE_ROSTER_STMTS];   /* roster.c's */
	unsigned nested_reads;   /* td_store_begin_read inside a transaction */
};

struct td_db *td_store_db(struct td_store *st)
{
	return st->db;
}

struct td_db_stmt **td_store_roster_stmts(struct td_store *st)
{
	return st->roster;
}

static int db_error(struct td_store *st, struct td_err *err, const char *what)
{
	int rc = td_db_errcode(st->db);
	int code = (rc == TD_DB_BUSY || rc == TD_DB_LOCKED) ? EX_TEMPFAIL :
		   (rc == TD_DB_FULL || rc == TD_DB_IOERR) ? EX_IOERR :
		   EX_SOFTWARE;
	return td_err_set(err, code, "store: %s: %s: %s", st->path, what,
			  td_db_errmsg(st->db));
}

int td_store_db_error(struct td_store *st, struct td_err *err, const char *what)
{
	return db_error(st, err, what);
}

static struct td_db_stmt *stmt_get(struct td_store *st, enum stmt_id id,
			      struct td_err *err)
{
	const char *sql = td_db_backend(st->db) == TD_DB_POSTGRES && stmt_sql_pg[id] ?
			  stmt_sql_pg[id] : stmt_sql[id];
	if (!st->stmt[id] && td_db_prepare(st->db, sql, &st->stmt[id]) != TD_DB_OK) {
		db_error(st, err, "prepare");
		return NULL;
	}
	return st->stmt[id];
}

static void stmt_done(struct td_db_stmt *s)
{
	td_db_reset(s);
	td_db_clear_bindings(s);
}

static char *lower_dup(const char *s)
{
	char *d = td_xstrdup(s);
	for (char *p = d; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

/* Binds the key an address is stored under (lowercased) without a malloc
 * for the addresses of every message: SQLite copies the text. An address
 * is at most 254 bytes; a longer string takes the heap. */
static void bind_email_key(struct td_db_stmt *s, int i, const char *email)
{
	char buf[256];
	size_t n = strlen(email ? email : "");
	char *key = n < sizeof buf ? buf : td_xmalloc(n + 1);
	for (size_t k = 0; k < n; k++)
		key[k] = (char)tolower((unsigned char)email[k]);
	key[n] = '\0';
	td_db_bind_text(s, i, key);
	if (key != buf)
		free(key);
}

char *td_store_email_key(const char *email)
{
	return lower_dup(email);
}

static int exec_sql(struct td_store *st, const char *sql, struct td_err *err)
{
	if (td_db_exec(st->db, sql) != TD_DB_OK)
		return td_err_set(err, EX_SOFTWARE, "store: %s: %s", st->path,
				  td_db_errmsg(st->db));
	return 0;
}

static int schema_version_of(const struct td_store *st)
{
	return td_db_backend(st->db) == TD_DB_POSTGRES ? PG_SCHEMA_VERSION :
	       SQLITE_SCHEMA_VERSION;
}

/* A store a newer tagdigest wrote is refused, and left as it is. */
static int refuse_newer(struct td_store *st, int version, struct td_err *err)
{
	return td_err_set(err, EX_CONFIG, "store: %s has schema version %d, newer than "
			  "this tagdigest understands (%d): upgrade tagdigest",
			  st->path, version, schema_version_of(st));
}

static int read_int(struct td_store *st, const char *sql, int *v,
		    struct td_err *err)
{
	struct td_db_stmt *s;
	if (td_db_prepare(st->db, sql, &s) != TD_DB_OK)
		return db_error(st, err, "read schema version");
	int step = td_db_step(s);
	*v = step == TD_DB_ROW ? td_db_column_int(s, 0) : 0;
	td_db_finalize(s);
	return step == TD_DB_ROW || step == TD_DB_DONE ? 0 :
	       db_error(st, err, "read schema version");
}

static int read_version(struct td_store *st, int *version, struct td_err *err)
{
	if (td_db_backend(st->db) == TD_DB_SQLITE)
		return read_int(st, "PRAGMA user_version", version, err);
	int there, rc;
	if ((rc = read_int(st, "SELECT CASE WHEN to_regclass('td_schema') IS NULL"
			   " THEN 0 ELSE 1 END", &there, err)))
		return rc;
	*version = 0;
	return there ? read_int(st, "SELECT version FROM td_schema", version, err) : 0;
}

/* What a migration's SQL cannot do alone (it needs C: post.h's keys),
 * run right after that migration's SQL, in the same transaction. */
static int index_existing_posts(struct td_store *st, struct td_err *err);
static int merge_existing_posts(struct td_store *st, struct td_err *err);
static int add_source_columns(struct td_store *st, struct td_err *err);
static int (*const migration_steps[])(struct td_store *, struct td_err *) = {
	[3] = index_existing_posts,
	[5] = merge_existing_posts,
	[8] = add_source_columns,
};

/* Migration 9: the columns of `sources` it adds, each unless it is there. */
static int add_source_columns(struct td_store *st, struct td_err *err)
{
	static const char *const cols[][2] = {
		{ "validators_url", "ALTER TABLE sources ADD COLUMN validators_url"
				    " TEXT NOT NULL DEFAULT ''" },
		{ "ok_since", "ALTER TABLE sources ADD COLUMN ok_since"
			      " INTEGER NOT NULL DEFAULT 0" },
	};
	for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
		struct td_db_stmt *s;
		if (td_db_prepare(st->db, "SELECT 1 FROM pragma_table_info('sources')"
				       " WHERE name = ?1", &s) != TD_DB_OK)
			return db_error(st, err, "prepare migration 9");
		td_store_bind_text(s, 1, cols[i][0]);
		int step = td_db_step(s);
		td_db_finalize(s);
		if (step != TD_DB_ROW && step != TD_DB_DONE)
			return db_error(st, err, "migration 9");
		int rc;
		if (step == TD_DB_DONE && (rc = exec_sql(st, cols[i][1], err)))
			return rc;
	}
	return 0;
}

static int migrate_pg(struct td_store *st, struct td_err *err)
{
	int version, rc;
	/* No lock_timeout in this transaction, whatever the session's
	 * (td_store_set_busy_wait): another process's migration holds the lock for as long
	 * as its migration takes, and this one must wait for it, not fail;
	 * so must the migration's DDL wait for the tables it alters. */
	if ((rc = exec_sql(st, "BEGIN; SET LOCAL lock_timeout = 0;"
			   "SELECT pg_advisory_xact_lock("
			   TD_STR(PG_MIGRATION_LOCK) ");"
			   "CREATE TABLE IF NOT EXISTS td_schema (version INTEGER NOT NULL);"
			   "INSERT INTO td_schema (version) SELECT 0"
			   " WHERE NOT EXISTS (SELECT 1 FROM td_schema)", err)) ||
	    (rc = read_version(st, &version, err)))
		goto fail;
	if (version > PG_SCHEMA_VERSION) {
		rc = refuse_newer(st, version, err);
		goto fail;
	}
	for (int v = version; v < PG_SCHEMA_VERSION; v++) {
		char set[64];
		snprintf(set, sizeof set, "UPDATE td_schema SET version = %d", v + 1);
		if ((rc = exec_sql(st, pg_migrations[v], err)) ||
		    (rc = exec_sql(st, set, err)))
			goto fail;
	}
	return exec_sql(st, "COMMIT", err);
fail:
	td_db_exec(st->db, "ROLLBACK");
	return rc;
}

static int migrate(struct td_store *st, struct td_err *err)
{
	int version, rc;
	if (td_db_backend(st->db) == TD_DB_POSTGRES)
		return migrate_pg(st, err);
	if ((rc = exec_sql(st, "BEGIN IMMEDIATE", err)))
		return rc;
	if ((rc = read_version(st, &version, err)))
		goto fail;
	if (version > SQLITE_SCHEMA_VERSION) {
		rc = refuse_newer(st, version, err);
		goto fail;
	}
	for (int v = version; v < SQLITE_SCHEMA_VERSION; v++) {
		if ((rc = exec_sql(st, migrations[v], err)))
			goto fail;
		if ((size_t)v < sizeof migration_steps / sizeof migration_steps[0] &&
		    migration_steps[v] && (rc = migration_steps[v](st, err)))
			goto fail;
		char pragma[64];
		snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
		if ((rc = exec_sql(st, pragma, err)))
			goto fail;
	}
	return exec_sql(st, "COMMIT", err);
fail:
	td_db_exec(st->db, "ROLLBACK");
	return rc;
}

/* SQLite's process-wide settings, made once before its first use.
 * No memory statistics: their global mutex is taken on every allocation,
 * and a send's composing, sending and recording threads contended for it.
 * A statement journal stays in memory up to 4 MiB before it spills to a
 * file (the default, 64 KiB, made an ingest's upserts write every page
 * twice); temp_store stays FILE, so a sync's temporary tables are still
 * bounded by their page cache. A library that initialized SQLite first
 * makes these fail: then the defaults hold, which are only slower.
 * Under AddressSanitizer the spill stays at SQLite's 64 KiB: the journal
 * takes its whole spill size as one allocation at each statement's first
 * write, and ASan maps and poisons every block over 128 KiB afresh, so
 * 4 MiB cost about 3 ms a statement there (test_import took 64 s, the
 * desk tests' import of 5,000 readers 40 s). Only the speed differs: a
 * statement journal past the spill goes to a temporary file. */
#if defined(__SANITIZE_ADDRESS__)
#define STMT_JOURNAL_SPILL (64 << 10)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STMT_JOURNAL_SPILL (64 << 10)
#endif
#endif
#ifndef STMT_JOURNAL_SPILL
#define STMT_JOURNAL_SPILL (4 << 20)
#endif
static void sqlite_settings(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	(void)sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, STMT_JOURNAL_SPILL);
}

/* Checks a store's schema version without migrating (READONLY). */
static int check_version(struct td_store *st, struct td_err *err)
{
	int version, rc;
	if ((rc = read_version(st, &version, err)))
		return rc;
	if (version > schema_version_of(st))
		return refuse_newer(st, version, err);
	if (version == 0 && td_db_backend(st->db) == TD_DB_POSTGRES)
		return td_err_set(err, EX_NOINPUT,
				  "store: %s holds no tagdigest store yet: run "
				  "`tagdigest ingest` (or `tagdigest run`) first", st->path);
	if (version != schema_version_of(st))
		return td_err_set(err, EX_NOINPUT,
				  "store: %s has schema version %d, this tagdigest "
				  "uses %d: run `tagdigest ingest` to migrate it",
				  st->path, version, schema_version_of(st));
	return 0;
}

/* A PostgreSQL store: the database must exist (an administrator creates
 * it and its owner); the schema is made or migrated on a read-write open.
 * A read-only connection refuses writes at the server. */
static int open_postgres(const char *url, enum td_store_mode mode,
			 struct td_store **out, struct td_err *err)
{
	struct td_store *st = td_xcalloc(1, sizeof *st);
	int rc;
	st->path = td_xstrdup(url);
	/* not a read-only session even for READONLY: a walk that only reads
	 * still makes its temporary tables (roster.c), which PostgreSQL
	 * counts as writing; READONLY still never migrates */
	if ((rc = td_db_open(url, false, false, &st->db, err)) ||
	    (rc = mode == TD_STORE_READWRITE ? migrate(st, err) : check_version(st, err))) {
		td_store_close(st);
		return rc;
	}
	*out = st;
	return 0;
}

int td_store_open(const char *path, enum td_store_mode mode,
		  struct td_store **out, struct td_err *err)
{
	static pthread_once_t settings_once = PTHREAD_ONCE_INIT;
	pthread_once(&settings_once, sqlite_settings);
	int rc;
	*out = NULL;
	if (td_db_is_url(path))
		return open_postgres(path, mode, out, err);
	if (mode == TD_STORE_READONLY && access(path, F_OK) < 0)
		return td_err_set(err, EX_NOINPUT,
				  "store: %s does not exist yet: run `tagdigest ingest` "
				  "(or `tagdigest run`) first", path);
	if (mode == TD_STORE_READWRITE && (rc = td_mkdir_parents(path, err)))
		return rc;

	struct td_store *st = td_xcalloc(1, sizeof *st);
	st->path = td_xstrdup(path);
	if ((rc = td_db_open(path, mode == TD_STORE_READONLY, true, &st->db, err))) {
		td_store_close(st);
		return rc;
	}
	sqlite3_busy_timeout(td_db_sqlite(st->db), 5000);
	/* What one connection may hold in memory, said here rather than left
	 * to the library's build (store.h, TD_STORE_CACHE_KIB): a run opens
	 * several (the caller's, the recorder's, one per sender and per
	 * composer), and a default page cache of 2 MB each only fills on a
	 * big store, so the run's peak would follow the store's size. No
	 * memory-mapped reads: mapped pages count in the resident set as
	 * they are touched. Temporary tables (a sync's marks and addresses
	 * met) and sorts spill to an unlinked file past their own cache. */
	if ((rc = exec_sql(st, "PRAGMA cache_size = -" TD_STR(TD_STORE_CACHE_KIB) ";"
			       "PRAGMA temp.cache_size = -" TD_STR(TD_STORE_CACHE_KIB) ";"
			       "PRAGMA mmap_size = 0;"
			       "PRAGMA temp_store = FILE;", err)) ||
	    (rc = td_store_roster_functions(st, err))) {
		td_store_close(st);
		return rc;
	}
	if (mode == TD_STORE_READWRITE) {
		/* WAL lets a preview read while a run writes; NORMAL sync is
		 * durable across process crashes, which is what at-least-once
		 * delivery needs (an OS crash may lose the last commit: then a
		 * message is sent twice, never lost). */
		if ((rc = exec_sql(st, "PRAGMA journal_mode = WAL;"
				       "PRAGMA synchronous = NORMAL;"
				       "PRAGMA foreign_keys = ON;", err)) ||
		    (rc = migrate(st, err))) {
			td_store_close(st);
			return rc;
		}
	} else if ((rc = check_version(st, err))) {
		td_store_close(st);
		return rc;
	}
	*out = st;
	return 0;
}

void td_store_close(struct td_store *st)
{
	if (!st)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		td_db_finalize(st->stmt[i]);
	for (int i = 0; i < TD_STORE_ROSTER_STMTS; i++)
		td_db_finalize(st->roster[i]);
	td_db_close(st->db);
	free(st->path);
	free(st);
}

void td_store_set_busy_wait(struct td_store *st, int ms)
{
	if (td_db_sqlite(st->db)) {
		sqlite3_busy_timeout(td_db_sqlite(st->db), ms);
		return;
	}
	/* PostgreSQL: the session's lock_timeout (none from db_pg.c) */
	char sql[64];
	snprintf(sql, sizeof sql, "SET lock_timeout = %d", ms);
	if (td_db_exec(st->db, sql) != TD_DB_OK)
		td_log_warnx("store: %s: lock waits stay unbounded: %s", st->path,
			     td_db_errmsg(st->db));
}

int td_store_schema_version(struct td_store *st)
{
	int v = -1;
	read_version(st, &v, NULL);
	return v;
}

/* A transaction's BEGIN or COMMIT from its prepared statement, failing
 * as exec_sql does (the same message and code as before they were kept). */
static int run_stmt(struct td_store *st, enum stmt_id id, struct td_err *err)
{
	struct td_db_stmt *s = stmt_get(st, id, err);
	if (!s)
		return err ? err->code : EX_SOFTWARE;
	int step = td_db_step(s);
	int rc = step == TD_DB_DONE ? 0 :
		td_err_set(err, EX_SOFTWARE, "store: %s: %s", st->path, td_db_errmsg(st->db));
	td_db_reset(s);
	return rc;
}

int td_store_sp_begin(struct td_store *st, const char *name, bool *own,
		      struct td_err *err)
{
	char sql[64];
	*own = td_db_autocommit(st->db);
	if (*own)
		return run_stmt(st, ST_BEGIN, err);
	snprintf(sql, sizeof sql, "SAVEPOINT %s", name);
	return exec_sql(st, sql, err);
}

int td_store_sp_end(struct td_store *st, const char *name, bool own, int rc,
		    struct td_err *err)
{
	char sql[96];
	if (rc) {
		if (own)
			snprintf(sql, sizeof sql, "ROLLBACK");
		else
			snprintf(sql, sizeof sql, "ROLLBACK TO %s; RELEASE %s", name, name);
		td_db_exec(st->db, sql);
		return rc;
	}
	if (own)
		return run_stmt(st, ST_COMMIT, err);
	snprintf(sql, sizeof sql, "RELEASE %s", name);
	return exec_sql(st, sql, err);
}

int td_store_begin(struct td_store *st, struct td_err *err)
{
	return run_stmt(st, ST_BEGIN, err);
}

int td_store_begin_read(struct td_store *st, struct td_err *err)
{
	/* the snapshot of the transaction open already serves */
	if (!td_db_autocommit(st->db)) {
		st->nested_reads++;
		return 0;
	}
	return run_stmt(st, ST_BEGIN_READ, err);
}

int td_store_commit(struct td_store *st, struct td_err *err)
{
	if (st->nested_reads) {
		st->nested_reads--;
		return 0;
	}
	/* PostgreSQL only warns about a COMMIT with no transaction: a
	 * caller's lost BEGIN is an error on both backends */
	if (td_db_autocommit(st->db))
		return td_err_set(err, EX_SOFTWARE, "store: %s: commit without a transaction",
				  st->path);
	return run_stmt(st, ST_COMMIT, err);
}

void td_store_rollback(struct td_store *st)
{
	/* a nested read wrote nothing: the outer transaction decides */
	if (st->nested_reads) {
		st->nested_reads--;
		return;
	}
	td_db_exec(st->db, "ROLLBACK");
}

static int step_done(struct td_store *st, struct td_db_stmt *s, struct td_err *err,
		     const char *what)
{
	int rc = td_db_step(s);
	stmt_done(s);
	return rc == TD_DB_DONE ? 0 : db_error(st, err, what);
}

/* An INSERT ... RETURNING's one value: the id the new row was given. */
static int step_id(struct td_store *st, struct td_db_stmt *s, int64_t *id,
		   struct td_err *err, const char *what)
{
	int rc = td_db_step(s);
	*id = rc == TD_DB_ROW ? td_db_column_int64(s, 0) : 0;
	if (rc == TD_DB_ROW)
		rc = td_db_step(s);
	stmt_done(s);
	return rc == TD_DB_DONE ? 0 : db_error(st, err, what);
}

static void bind_key(struct td_db_stmt *s, int i, const char *key)
{
	if (key)
		td_store_bind_text(s, i, key);
	else
		td_db_bind_null(s, i);
}

/* One item's tags (and their display names: the last a source gave),
 * replacing what the item said before when `replace`. */
static int write_item_tags(struct td_store *st, int64_t item,
			   const struct td_post *post, bool replace,
			   struct td_err *err)
{
	struct td_db_stmt *del = stmt_get(st, ST_DELETE_ITEM_TAGS, err);
	struct td_db_stmt *ins = stmt_get(st, ST_INSERT_ITEM_TAG, err);
	struct td_db_stmt *tag = stmt_get(st, ST_UPSERT_TAG, err);
	int rc;
	if (!del || !ins || !tag)
		return err ? err->code : EX_SOFTWARE;
	if (replace) {
		td_db_bind_int64(del, 1, item);
		if ((rc = step_done(st, del, err, "delete item tags")))
			return rc;
	}
	for (size_t i = 0; i < post->tags.n; i++) {
		const char *name = i < post->tag_names.n ? post->tag_names.v[i] :
							   post->tags.v[i];
		td_store_bind_text(tag, 1, post->tags.v[i]);
		td_store_bind_text(tag, 2, name);
		if ((rc = step_done(st, tag, err, "store tag")))
			return rc;
		td_db_bind_int64(ins, 1, item);
		td_store_bind_text(ins, 2, post->tags.v[i]);
		if ((rc = step_done(st, ins, err, "store item tag")))
			return rc;
	}
	return 0;
}

/* A post's tags are the union of what its items say. A pair that stays
 * keeps its arrival number; pairs new to a post that is itself new come
 * with it (its seq); pairs new to a post stored before arrive now, with
 * one number from the counter that numbers posts (migration 6). */
static int union_post_tags(struct td_store *st, int64_t seq, bool new_post,
			   struct td_err *err)
{
	struct td_db_stmt *drop = stmt_get(st, ST_DROP_POST_TAGS, err);
	struct td_db_stmt *any = stmt_get(st, ST_NEW_POST_TAGS, err);
	struct td_db_stmt *ins = stmt_get(st, ST_UNION_POST_TAGS, err);
	struct td_db_stmt *next = stmt_get(st, ST_NEXT_NUMBER, err);
	int rc;
	if (!drop || !any || !ins || !next)
		return err ? err->code : EX_SOFTWARE;
	/* a post stored just now has no pairs to drop: the statement's
	 * subquery costs a third of this function */
	td_db_bind_int64(drop, 1, seq);
	if (!new_post && (rc = step_done(st, drop, err, "drop post tags")))
		return rc;
	if (new_post)
		stmt_done(drop);
	int64_t arrived = seq;
	if (!new_post) {
		td_db_bind_int64(any, 1, seq);
		int step = td_db_step(any);
		stmt_done(any);
		if (step == TD_DB_DONE)
			return 0;
		if (step != TD_DB_ROW)
			return db_error(st, err, "find new post tags");
		step = td_db_step(next);
		arrived = step == TD_DB_ROW ? td_db_column_int64(next, 0) : 0;
		if (step == TD_DB_ROW)
			step = td_db_step(next);
		stmt_done(next);
		if (step != TD_DB_DONE || arrived <= seq)
			return step != TD_DB_DONE ? db_error(st, err, "number a tag's arrival") :
				td_err_set(err, EX_SOFTWARE, "store: %s: the seq counter is "
					   "missing or behind post %lld", st->path, (long long)seq);
	}
	td_db_bind_int64(ins, 1, seq);
	td_db_bind_int64(ins, 2, arrived);
	return step_done(st, ins, err, "store post tags");
}

/* The post another source's item with these keys already is (*seq), or
 * *seq = 0. The guid is the stronger sign, so it is asked first. */
static int match_post(struct td_store *st, const char *source,
		      const char *guid_key, const char *url_key, int64_t *seq,
		      struct td_err *err)
{
	*seq = 0;
	for (int pass = 0; pass < 2 && *seq == 0; pass++) {
		const char *key = pass == 0 ? guid_key : url_key;
		if (!key)
			continue;
		struct td_db_stmt *s = stmt_get(st, pass == 0 ? ST_MATCH_GUID_KEY :
					   ST_MATCH_URL_KEY, err);
		if (!s)
			return err ? err->code : EX_SOFTWARE;
		td_store_bind_text(s, 1, key);
		td_store_bind_text(s, 2, source);
		if (pass == 1)
			bind_key(s, 3, guid_key);
		int step = td_db_step(s);
		if (step == TD_DB_ROW)
			*seq = td_db_column_int64(s, 0);
		stmt_done(s);
		if (step != TD_DB_ROW && step != TD_DB_DONE)
			return db_error(st, err, "find post by key");
	}
	return 0;
}

static int insert_item(struct td_store *st, const char *source, const char *guid,
		       int64_t seq, const char *content_hash, const char *guid_key,
		       const char *url_key, int64_t *id, struct td_err *err)
{
	struct td_db_stmt *s = stmt_get(st, ST_INSERT_ITEM, err);
	if (!s)
		return err ? err->code : EX_SOFTWARE;
	td_store_bind_text(s, 1, source);
	td_store_bind_text(s, 2, guid);
	td_db_bind_int64(s, 3, seq);
	td_store_bind_text(s, 4, content_hash);
	bind_key(s, 5, guid_key);
	bind_key(s, 6, url_key);
	return step_id(st, s, id, err, "insert post item");
}

static void bind_post(struct td_db_stmt *s, const char *source,
		      const struct td_post *p, time_t now)
{
	td_store_bind_text(s, 1, source);
	td_store_bind_text(s, 2, p->guid);
	td_store_bind_text(s, 3, p->url);
	td_store_bind_text(s, 4, p->title);
	td_store_bind_text(s, 5, p->author);
	/* a source that gives no date: the post is as new as its arrival */
	time_t published = p->published ? p->published : now;
	td_db_bind_int64(s, 6, (int64_t)published);
	td_db_bind_int64(s, 7, (int64_t)(p->updated ? p->updated : published));
	td_store_bind_text(s, 8, p->excerpt_html);
	td_store_bind_text(s, 9, p->excerpt_text);
	td_store_bind_text(s, 10, p->content_html);
	td_store_bind_text(s, 11, p->content_hash);
	td_db_bind_int64(s, 12, (int64_t)now);
}

/* An item seen before whose content changed: the post takes this
 * version, whichever of its sources brought it. */
static int update_item(struct td_store *st, int64_t id, int64_t seq,
		       const char *source, const struct td_post *post,
		       time_t now, struct td_err *err)
{
	struct td_db_stmt *up = stmt_get(st, ST_UPDATE_POST, err);
	struct td_db_stmt *it = stmt_get(st, ST_UPDATE_ITEM, err);
	if (!up || !it)
		return err ? err->code : EX_SOFTWARE;
	bind_post(up, source, post, now);
	td_db_bind_int64(up, 13, seq);
	int rc = step_done(st, up, err, "update post");
	if (rc)
		return rc;
	char *url_key = td_post_url_key(post->url);
	td_db_bind_int64(it, 1, id);
	td_store_bind_text(it, 2, post->content_hash);
	bind_key(it, 3, url_key);
	free(url_key);
	if ((rc = step_done(st, it, err, "update post item")) ||
	    (rc = write_item_tags(st, id, post, true, err)))
		return rc;
	return union_post_tags(st, seq, false, err);
}

/* An item not seen before: a new post, or one more source of a post
 * already stored (which keeps its seq, so it is not announced again). */
static int add_item(struct td_store *st, const char *source,
		    const struct td_post *post, time_t now, bool *merged,
		    struct td_err *err)
{
	char *guid_key = post->guid_local ? NULL : td_post_guid_key(post->guid, post->url);
	char *url_key = td_post_url_key(post->url);
	int64_t seq, id;
	int rc = match_post(st, source, guid_key, url_key, &seq, err);
	*merged = seq != 0;
	if (!rc && !seq) {
		struct td_db_stmt *s = stmt_get(st, ST_INSERT_POST, err);
		if (!s) {
			rc = err ? err->code : EX_SOFTWARE;
		} else {
			bind_post(s, source, post, now);
			rc = step_id(st, s, &seq, err, "insert post");
		}
	}
	if (!rc)
		rc = insert_item(st, source, post->guid, seq, post->content_hash,
				 guid_key, url_key, &id, err);
	free(guid_key);
	free(url_key);
	if (rc || (rc = write_item_tags(st, id, post, false, err)))
		return rc;
	return union_post_tags(st, seq, !*merged, err);
}

/* Source's item guid: whether it exists, its id and seq, and whether it
 * is stored with content_hash. */
static int find_item(struct td_store *st, const char *source, const char *guid,
		     const char *content_hash, bool *exists, int64_t *id,
		     int64_t *seq, bool *same, struct td_err *err)
{
	struct td_db_stmt *find = stmt_get(st, ST_FIND_ITEM, err);
	if (!find)
		return err ? err->code : EX_SOFTWARE;
	td_store_bind_text(find, 1, source);
	td_store_bind_text(find, 2, guid);
	int step = td_db_step(find);
	if (step != TD_DB_ROW && step != TD_DB_DONE) {
		stmt_done(find);
		return db_error(st, err, "find post");
	}
	*exists = step == TD_DB_ROW;
	*id = *exists ? td_db_column_int64(find, 0) : 0;
	*seq = *exists ? td_db_column_int64(find, 1) : 0;
	*same = *exists && strcmp((const char *)td_db_column_text(find, 2),
				  content_hash ? content_hash : "") == 0;
	stmt_done(find);
	return 0;
}

int td_store_item_unchanged(struct td_store *st, const char *source,
			    const char *guid, const char *content_hash,
			    bool *unchanged, struct td_err *err)
{
	bool exists;
	int64_t id, seq;
	return find_item(st, source, guid, content_hash, &exists, &id, &seq,
			 unchanged, err);
}

int td_store_upsert_post(struct td_store *st, const char *source,
			 const struct td_post *post, time_t now,
			 enum td_upsert *result, struct td_err *err)
{
	bool exists, same;
	int64_t id, seq;
	int rc = find_item(st, source, post->guid, post->content_hash, &exists,
			   &id, &seq, &same, err);
	if (rc)
		return rc;

	if (same) {
		*result = TD_UPSERT_UNCHANGED;
		return 0;
	}
	if (exists) {
		*result = TD_UPSERT_UPDATED;
		return update_item(st, id, seq, source, post, now, err);
	}
	bool merged;
	rc = add_item(st, source, post, now, &merged, err);
	*result = merged ? TD_UPSERT_MERGED : TD_UPSERT_NEW;
	return rc;
}

/* Migration 4's data: every post stored so far becomes the first item of
 * itself, with the keys add_item would give it and its tags. */
static int index_existing_posts(struct td_store *st, struct td_err *err)
{
	struct td_db_stmt *next = NULL, *copy = NULL;
	int rc = 0;
	if (td_db_prepare(st->db,
			       "SELECT seq, source, guid, url, content_hash FROM posts"
			       " WHERE seq > ?1 ORDER BY seq LIMIT 1", &next) != TD_DB_OK ||
	    td_db_prepare(st->db,
			       "INSERT OR IGNORE INTO item_tags (item, tag)"
			       " SELECT ?1, tag FROM post_tags WHERE seq = ?2", &copy) != TD_DB_OK) {
		rc = db_error(st, err, "prepare migration 4");
		goto out;
	}
	for (int64_t last = 0;;) {
		td_db_bind_int64(next, 1, last);
		int step = td_db_step(next);
		if (step != TD_DB_ROW) {
			stmt_done(next);
			if (step != TD_DB_DONE)
				rc = db_error(st, err, "read posts");
			break;
		}
		int64_t seq = td_db_column_int64(next, 0), id;
		char *source = td_store_col_dup(next, 1), *guid = td_store_col_dup(next, 2);
		char *url = td_store_col_dup(next, 3), *hash = td_store_col_dup(next, 4);
		stmt_done(next);
		last = seq;
		char *guid_key = td_post_guid_key(guid, url), *url_key = td_post_url_key(url);
		rc = insert_item(st, source, guid, seq, hash, guid_key, url_key, &id, err);
		free(source);
		free(guid);
		free(url);
		free(hash);
		free(guid_key);
		free(url_key);
		if (rc)
			break;
		td_db_bind_int64(copy, 1, id);
		td_db_bind_int64(copy, 2, seq);
		if ((rc = step_done(st, copy, err, "copy post tags")))
			break;
	}
out:
	td_db_finalize(next);
	td_db_finalize(copy);
	return rc;
}

/* Migration 6's data: a post that another source had already brought
 * (the keys add_item looks for) before tagdigest made one post of them is
 * merged into that earlier one, in seq order. The earlier post keeps its
 * seq and its tags' arrival numbers, so nobody who had it gets it again;
 * a tag only the later copy had arrived with that copy (its seq), so the
 * readers of that tag whose watermark is below it still get the post,
 * once, as they would have got the copy. Deliveries, watermarks and
 * pending retries hold only seqs and counts, never a post row, so they
 * stay exactly as they were; AUTOINCREMENT never hands a removed seq out
 * again. A post with more than one item was made by add_item, which
 * merged it already. */
static int merge_existing_posts(struct td_store *st, struct td_err *err)
{
	static const char *const sql[] = {
		"SELECT seq FROM posts WHERE seq > ?1 ORDER BY seq LIMIT 1",
		"SELECT source, guid_key, url_key, (SELECT COUNT(*) FROM post_items o"
		" WHERE o.seq = ?1) FROM post_items WHERE seq = ?1",
		/* the earlier post's pairs stay; the later copy's join it */
		"INSERT OR IGNORE INTO post_tags (tag, seq, arrived)"
		" SELECT tag, ?2, arrived FROM post_tags WHERE seq = ?1",
		"UPDATE post_items SET seq = ?2 WHERE seq = ?1",
		/* post_tags first: do not count on foreign_keys cascading */
		"DELETE FROM post_tags WHERE seq = ?1",
		"DELETE FROM posts WHERE seq = ?1",
	};
	enum { NEXT, ITEM, NMOVES = 4 };
	struct td_db_stmt *s[6] = { NULL };
	int rc = 0;
	for (size_t i = 0; i < 6; i++)
		if (td_db_prepare(st->db, sql[i], &s[i]) != TD_DB_OK) {
			rc = db_error(st, err, "prepare migration 6");
			goto out;
		}
	/* one post at a time, by seq: rows are deleted as the walk goes */
	for (int64_t last = 0;;) {
		td_db_bind_int64(s[NEXT], 1, last);
		int step = td_db_step(s[NEXT]);
		last = step == TD_DB_ROW ? td_db_column_int64(s[NEXT], 0) : 0;
		stmt_done(s[NEXT]);
		if (step != TD_DB_ROW) {
			if (step != TD_DB_DONE)
				rc = db_error(st, err, "read posts");
			break;
		}
		td_db_bind_int64(s[ITEM], 1, last);
		step = td_db_step(s[ITEM]);
		bool one = step == TD_DB_ROW && td_db_column_int(s[ITEM], 3) == 1;
		char *source = one ? td_store_col_dup(s[ITEM], 0) : NULL;
		char *guid_key = one && td_db_column_type(s[ITEM], 1) != TD_DB_NULL ?
			td_store_col_dup(s[ITEM], 1) : NULL;
		char *url_key = one && td_db_column_type(s[ITEM], 2) != TD_DB_NULL ?
			td_store_col_dup(s[ITEM], 2) : NULL;
		stmt_done(s[ITEM]);
		int64_t target = 0;
		if (step != TD_DB_ROW && step != TD_DB_DONE)
			rc = db_error(st, err, "read post items");
		else if (one)
			rc = match_post(st, source, guid_key, url_key, &target, err);
		free(source);
		free(guid_key);
		free(url_key);
		if (rc)
			break;
		/* the earliest post with the keys: this one itself, or one that
		 * comes later (which will be merged into this one), is none */
		if (target == 0 || target >= last)
			continue;
		for (size_t i = 0; i < NMOVES && !rc; i++) {
			td_db_bind_int64(s[2 + i], 1, last);
			if (i < 2)
				td_db_bind_int64(s[2 + i], 2, target);
			rc = step_done(st, s[2 + i], err, "merge post");
		}
		if (rc)
			break;
	}
out:
	for (size_t i = 0; i < 6; i++)
		td_db_finalize(s[i]);
	return rc;
}

static int64_t query_int(struct td_store *st, const char *sql, const char *arg)
{
	struct td_db_stmt *s;
	int64_t v = 0;
	if (td_db_prepare(st->db, sql, &s) != TD_DB_OK)
		return 0;
	if (arg)
		td_store_bind_text(s, 1, arg);
	if (td_db_step(s) == TD_DB_ROW)
		v = td_db_column_int64(s, 0);
	td_db_finalize(s);
	return v;
}

/* The counter hands out post seqs and tags' arrival numbers (migration 6):
 * a watermark set to this covers both. */
int64_t td_store_max_seq(struct td_store *st)
{
	struct td_db_stmt *s = stmt_get(st, ST_MAX_SEQ, NULL);
	int64_t v = 0;
	if (s && td_db_step(s) == TD_DB_ROW)
		v = td_db_column_int64(s, 0);
	if (s)
		stmt_done(s);
	return v;
}

size_t td_store_post_count(struct td_store *st)
{
	return (size_t)query_int(st, "SELECT COUNT(*) FROM posts", NULL);
}

size_t td_store_delivery_count(struct td_store *st, const char *status)
{
	return (size_t)query_int(st, "SELECT COUNT(*) FROM deliveries WHERE status = ?1",
				 status);
}

int td_store_recent_deliveries(struct td_store *st, const char *email, size_t limit,
			       struct td_delivery_record **out, size_t *n,
			       struct td_err *err)
{
	*out = NULL;
	*n = 0;
	struct td_db_stmt *s = NULL;
	/* asked once per `show`: not worth a cached statement */
	if (td_db_prepare(st->db,
			       "SELECT slot, created_at, status, message_id, post_count"
			       " FROM deliveries WHERE email = ?1 ORDER BY slot DESC LIMIT ?2", &s) != TD_DB_OK)
		return db_error(st, err, "prepare recent deliveries");
	char *key = lower_dup(email);
	td_store_bind_text(s, 1, key);
	free(key);
	td_db_bind_int64(s, 2, (int64_t)limit);
	int step;
	while ((step = td_db_step(s)) == TD_DB_ROW) {
		*out = td_xrealloc(*out, (*n + 1) * sizeof **out);
		struct td_delivery_record *d = &(*out)[(*n)++];
		d->slot = (time_t)td_db_column_int64(s, 0);
		d->at = (time_t)td_db_column_int64(s, 1);
		d->skipped = strcmp((const char *)td_db_column_text(s, 2), "skipped") == 0;
		d->message_id = td_store_col_dup(s, 3);
		d->post_count = (size_t)td_db_column_int64(s, 4);
	}
	int rc = step == TD_DB_DONE ? 0 : db_error(st, err, "read recent deliveries");
	td_db_finalize(s);
	if (rc) {
		td_store_delivery_records_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

void td_store_delivery_records_free(struct td_delivery_record *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].message_id);
	free(v);
}

/* A post's place in the array ST_POSTS_FOR_TAG filled, sortable by seq. */
struct seq_at {
	int64_t seq;
	size_t i;
};

static int by_seq(const void *a, const void *b)
{
	int64_t x = ((const struct seq_at *)a)->seq, y = ((const struct seq_at *)b)->seq;
	return x < y ? -1 : x > y;
}

/* The tags of the posts v[0..n) that ST_POSTS_FOR_TAG just returned for
 * the same parameters: one statement for all of them, its rows merged
 * into the posts by seq (both walked in seq order). */
static int load_tags_of_posts(struct td_store *st, struct td_store_post *v, size_t n,
			      const char *tag, int64_t after_seq, int64_t upto_seq,
			      time_t ingested_since, struct td_err *err)
{
	struct td_db_stmt *s = stmt_get(st, ST_TAGS_OF_TAG_POSTS, err);
	if (!s)
		return err ? err->code : EX_SOFTWARE;
	struct seq_at *idx = td_xmalloc(n * sizeof *idx);
	for (size_t i = 0; i < n; i++)
		idx[i] = (struct seq_at){ v[i].seq, i };
	qsort(idx, n, sizeof *idx, by_seq);   /* seqs are unique */
	td_store_bind_text(s, 1, tag);
	td_db_bind_int64(s, 2, after_seq);
	td_db_bind_int64(s, 3, upto_seq);
	td_db_bind_int64(s, 4, (int64_t)ingested_since);
	size_t k = 0;
	int step;
	while ((step = td_db_step(s)) == TD_DB_ROW) {
		int64_t seq = td_db_column_int64(s, 0);
		while (k < n && idx[k].seq < seq)
			k++;
		if (k == n || idx[k].seq != seq)
			continue;   /* not among the posts (another snapshot's) */
		struct td_store_post *p = &v[idx[k].i];
		p->tag_arrived = td_xrealloc(p->tag_arrived,
					     (p->tags.n + 1) * sizeof *p->tag_arrived);
		p->tag_arrived[p->tags.n] = td_db_column_int64(s, 3);
		td_strv_push_owned(&p->tags, td_store_col_dup(s, 1));
		td_strv_push_owned(&p->tag_names, td_store_col_dup(s, 2));
	}
	stmt_done(s);
	free(idx);
	return step == TD_DB_DONE ? 0 : db_error(st, err, "read post tags");
}

int td_store_posts_for_tag(struct td_store *st, const char *tag,
			   int64_t after_seq, int64_t upto_seq,
			   time_t ingested_since, struct td_store_post **out,
			   size_t *n, struct td_err *err)
{
	*out = NULL;
	*n = 0;
	struct td_db_stmt *s = stmt_get(st, ST_POSTS_FOR_TAG, err);
	if (!s)
		return err ? err->code : EX_SOFTWARE;
	td_store_bind_text(s, 1, tag);
	td_db_bind_int64(s, 2, after_seq);
	td_db_bind_int64(s, 3, upto_seq);
	td_db_bind_int64(s, 4, (int64_t)ingested_since);
	size_t cap = 0;
	struct td_store_post *v = NULL;
	int step;
	while ((step = td_db_step(s)) == TD_DB_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			v = td_xrealloc(v, cap * sizeof *v);
		}
		struct td_store_post *p = &v[(*n)++];
		memset(p, 0, sizeof *p);
		p->seq = td_db_column_int64(s, 0);
		p->url = td_store_col_dup(s, 1);
		p->title = td_store_col_dup(s, 2);
		p->author = td_store_col_dup(s, 3);
		p->published = (time_t)td_db_column_int64(s, 4);
		p->excerpt_html = td_store_col_dup(s, 5);
		p->excerpt_text = td_store_col_dup(s, 6);
	}
	stmt_done(s);
	int rc = step == TD_DB_DONE ? 0 : db_error(st, err, "read posts");
	if (!rc && *n)
		rc = load_tags_of_posts(st, v, *n, tag, after_seq, upto_seq, ingested_since,
					err);
	if (rc) {
		td_store_posts_free(v, *n);
		*n = 0;
		return rc;
	}
	*out = v;
	return 0;
}

void td_store_post_clear(struct td_store_post *p)
{
	free(p->url);
	free(p->title);
	free(p->author);
	free(p->excerpt_html);
	free(p->excerpt_text);
	td_strv_free(&p->tags);
	td_strv_free(&p->tag_names);
	free(p->tag_arrived);
	memset(p, 0, sizeof *p);
}

void td_store_posts_free(struct td_store_post *posts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		td_store_post_clear(&posts[i]);
	free(posts);
}

char *td_store_tag_name(struct td_store *st, const char *slug)
{
	struct td_db_stmt *s = stmt_get(st, ST_TAG_NAME, NULL);
	char *name = NULL;
	if (s) {
		td_store_bind_text(s, 1, slug);
		if (td_db_step(s) == TD_DB_ROW)
			name = td_store_col_dup(s, 0);
		stmt_done(s);
	}
	return name ? name : td_xstrdup(slug);
}

int td_store_subscriber_state(struct td_store *st, const char *email,
			      struct td_subscriber_state *state,
			      struct td_err *err)
{
	memset(state, 0, sizeof *state);
	struct td_db_stmt *s = stmt_get(st, ST_SUB_STATE, err);
	if (!s)
		return err ? err->code : EX_SOFTWARE;
	bind_email_key(s, 1, email);
	int step = td_db_step(s);
	if (step == TD_DB_ROW) {
		state->known = true;
		state->watermark = td_db_column_int64(s, 0);
		state->last_slot = (time_t)td_db_column_int64(s, 1);
		state->last_sent_at = (time_t)td_db_column_int64(s, 2);
		state->started_at = (time_t)td_db_column_int64(s, 3);
		state->started_last = td_db_column_int(s, 4) != 0;
	}
	stmt_done(s);
	return step == TD_DB_ROW || step == TD_DB_DONE ? 0 :
		db_error(st, err, "read subscriber state");
}

int td_store_reader_view(struct td_store *st, const char *email,
			  struct td_reader_view *v, struct td_err *err)
{
	memset(v, 0, sizeof *v);
	struct td_db_stmt *s = stmt_get(st, ST_READER_VIEW, err);
	if (!s)
		return err ? err->code : EX_SOFTWARE;
	bind_email_key(s, 1, email);
	int step;
	bool first = true;
	while ((step = td_db_step(s)) == TD_DB_ROW) {
		/* the reader's columns repeat on each suppression's row */
		if (first) {
			v->max_seq = td_db_column_int64(s, 0);
			v->state.known = td_db_column_int(s, 1) != 0;
			if (v->state.known) {
				v->state.watermark = td_db_column_int64(s, 2);
				v->state.last_slot = (time_t)td_db_column_int64(s, 3);
				v->state.last_sent_at = (time_t)td_db_column_int64(s, 4);
				v->state.started_at = (time_t)td_db_column_int64(s, 5);
				v->state.started_last = td_db_column_int(s, 6) != 0;
			}
			v->pending = td_db_column_int(s, 7) != 0;
			first = false;
		}
		if (td_db_column_type(s, 8) != TD_DB_NULL)
			td_strv_push_owned(&v->left, td_store_col_dup(s, 8));
	}
	stmt_done(s);
	if (step != TD_DB_DONE) {
		td_reader_view_free(v);
		return db_error(st, err, "read subscriber state");
	}
	return 0;
}

bool td_reader_view_suppressed(const struct td_reader_view *v)
{
	return td_strv_contains(&v->left, "all");
}

void td_reader_view_free(struct td_reader_view *v)
{
	td_strv_free(&v->left);
	memset(v, 0, sizeof *v);
}

int td_store_slot_done(struct td_store *st, const char *email, time_t slot,
		       bool *done, struct td_err *err)
{
	struct td_db_stmt *s = stmt_get(st, ST_SLOT_DONE, err);
	if (!s)
		return err ? err->code : EX_SOFTWARE;
	bind_email_key(s, 1, email);
	td_db_bind_int64(s, 2, (int64_t)slot);
	int step = td_db_step(s);
	*done = step == TD_DB_ROW;
	stmt_done(s);
	return step == TD_DB_ROW || step == TD_DB_DONE ? 0 :
		db_error(st, err, "read deliveries");
}

int td_store_record_delivery(struct td_store *st, const struct td_delivery *d,
			     struct td_err *err)
{
	int rc = td_store_begin(st, err);
	if (rc)
		return rc;
	if ((rc = td_store_put_delivery(st, d, err)) || (rc = td_store_commit(st, err))) {
		td_store_rollback(st);
		return rc;
	}
	return 0;
}

int td_store_record_attempt(struct td_store *st, const char *email,
			    time_t slot, const char *outcome,
			    const char *detail, time_t at, struct td_err *err)
{
	struct td_db_stmt *s = stmt_get(st, ST_RECORD_ATTEMPT, err);
	if (!s)
		return err ? err->code : EX_SOFTWARE;
	bind_email_key(s, 1, email);
	td_db_bind_int64(s, 2, (int64_t)slot);
	td_store_bind_text(s, 3, outcome);
	td_store_bind_text(s, 4, detail);
	td_db_bind_int64(s, 5, (int64_t)at);
	return step_done(st, s, err, "record attempt");
}

int td_store_source_result(struct td_store *st, const char *name, bool ok,
			   const char *error, time_t now, struct td_err *err)
{
	struct td_db_stmt *s;
	const char *sql = ok ?
		"INSERT INTO sources (name, last_success, failures) VALUES (?1, ?2, 0)"
		" ON CONFLICT (name) DO UPDATE SET last_success = ?2, failures = 0,"
		" ok_since = CASE WHEN sources.failures > 0 THEN ?2 ELSE sources.ok_since END" :
		"INSERT INTO sources (name, last_error, last_error_at, failures)"
		" VALUES (?1, ?3, ?2, 1) ON CONFLICT (name) DO UPDATE SET"
		" last_error = ?3, last_error_at = ?2, failures = sources.failures + 1,"
		" ok_since = 0";
	if (td_db_prepare(st->db, sql, &s) != TD_DB_OK)
		return db_error(st, err, "prepare source result");
	td_store_bind_text(s, 1, name);
	td_db_bind_int64(s, 2, (int64_t)now);
	if (!ok)
		td_store_bind_text(s, 3, error);
	int step = td_db_step(s);
	td_db_finalize(s);
	return step == TD_DB_DONE ? 0 : db_error(st, err, "record source result");
}

int td_store_source_state(struct td_store *st, const char *name,
			  struct td_source_state *state, struct td_err *err)
{
	memset(state, 0, sizeof *state);
	struct td_db_stmt *s;
	if (td_db_prepare(st->db,
			       "SELECT last_success, last_error_at, last_error, failures,"
			       " ok_since FROM sources WHERE name = ?1", &s) != TD_DB_OK)
		return db_error(st, err, "prepare source state");
	td_store_bind_text(s, 1, name);
	int step = td_db_step(s);
	if (step == TD_DB_ROW) {
		state->last_success = (time_t)td_db_column_int64(s, 0);
		state->last_error_at = (time_t)td_db_column_int64(s, 1);
		state->last_error = td_store_col_dup(s, 2);
		state->failures = td_db_column_int(s, 3);
		state->ok_since = (time_t)td_db_column_int64(s, 4);
	} else {
		state->last_error = td_xstrdup("");
	}
	td_db_finalize(s);
	return step == TD_DB_ROW || step == TD_DB_DONE ? 0 :
		db_error(st, err, "read source state");
}

int td_store_source_validators(struct td_store *st, const char *name,
			       const char *url, char **etag, char **last_modified,
			       struct td_err *err)
{
	*etag = *last_modified = NULL;
	struct td_db_stmt *s;
	if (td_db_prepare(st->db, "SELECT etag, last_modified FROM sources"
			       " WHERE name = ?1 AND validators_url = ?2", &s) != TD_DB_OK)
		return db_error(st, err, "prepare source validators");
	td_store_bind_text(s, 1, name);
	td_store_bind_text(s, 2, url);
	int step = td_db_step(s);
	*etag = step == TD_DB_ROW ? td_store_col_dup(s, 0) : td_xstrdup("");
	*last_modified = step == TD_DB_ROW ? td_store_col_dup(s, 1) : td_xstrdup("");
	td_db_finalize(s);
	return step == TD_DB_ROW || step == TD_DB_DONE ? 0 :
		db_error(st, err, "read source validators");
}

int td_store_set_source_validators(struct td_store *st, const char *name,
				   const char *url, const char *etag,
				   const char *last_modified, struct td_err *err)
{
	struct td_db_stmt *s;
	if (td_db_prepare(st->db,
			       "INSERT INTO sources (name, etag, last_modified, validators_url)"
			       " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO UPDATE SET"
			       " etag = ?2, last_modified = ?3, validators_url = ?4", &s) != TD_DB_OK)
		return db_error(st, err, "prepare source validators");
	td_store_bind_text(s, 1, name);
	td_store_bind_text(s, 2, etag);
	td_store_bind_text(s, 3, last_modified);
	td_store_bind_text(s, 4, url);
	int step = td_db_step(s);
	td_db_finalize(s);
	return step == TD_DB_DONE ? 0 : db_error(st, err, "store source validators");
}

/* The roster's status follows the "all" suppression (roster.h): its
 * reason, the first one recorded, says which status. A subscriber who
 * left cannot confirm an older sign-up afterwards. */
static const char member_left_sql[] =
	"UPDATE members SET status = CASE (SELECT reason FROM suppressions"
	"  WHERE email = ?1 AND scope = 'all')"
	" WHEN 'bounced' THEN 'bounced' WHEN 'complained' THEN 'complained'"
	" ELSE 'unsubscribed' END, confirm_nonce = '', changed_at = ?2"
	" WHERE email_key = ?1 AND status IN ('pending', 'active')";
/* Lifting it makes them active again: the editor's (or the reader's)
 * word that they may get digests; but a form sign-up that was never
 * confirmed goes back to pending: nobody but the reader can give the
 * double opt-in. */
#define MEMBER_BACK_SQL(now)                                                    \
	"UPDATE members SET status = CASE WHEN origin = 'form' AND confirmed_at = 0" \
	" THEN 'pending' ELSE 'active' END,"                                        \
	" changed_at = " now                                                        \
	" WHERE email_key = ?1 AND status IN ('unsubscribed', 'bounced', 'complained')"
static const char member_back_sql[] =
	MEMBER_BACK_SQL("CAST(strftime('%s', 'now') AS INTEGER)");
static const char member_back_sql_pg[] =
	MEMBER_BACK_SQL("CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)");

/* Runs sql with the key as ?1 and now as ?2 (when it has one). */
static int member_status_step(struct td_store *st, const char *sql, const char *key,
			      time_t now, struct td_err *err)
{
	struct td_db_stmt *s;
	if (td_db_prepare(st->db, sql, &s) != TD_DB_OK)
		return db_error(st, err, "prepare subscriber status");
	td_store_bind_text(s, 1, key);
	if (td_db_bind_parameter_count(s) >= 2)
		td_db_bind_int64(s, 2, (int64_t)now);
	int step = td_db_step(s);
	td_db_finalize(s);
	return step == TD_DB_DONE ? 0 : db_error(st, err, "subscriber status");
}

int td_store_suppress(struct td_store *st, const char *email, const char *scope,
		      const char *reason, const char *detail, time_t now,
		      struct td_err *err)
{
	struct td_db_stmt *s;
	int rc;
	/* the first reason stands: a repeated unsubscribe changes nothing */
	if (td_db_prepare(st->db,
			       "INSERT INTO suppressions (email, scope, reason, detail, created_at)"
			       " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (email, scope) DO NOTHING", &s) != TD_DB_OK)
		return db_error(st, err, "prepare suppression");
	/* the suppression and the status together, inside a caller's
	 * transaction or not */
	bool own;
	if ((rc = td_store_sp_begin(st, "suppress", &own, err))) {
		td_db_finalize(s);
		return rc;
	}
	char *key = lower_dup(email);
	td_store_bind_text(s, 1, key);
	td_store_bind_text(s, 2, scope);
	td_store_bind_text(s, 3, reason);
	td_store_bind_text(s, 4, detail);
	td_db_bind_int64(s, 5, (int64_t)now);
	int step = td_db_step(s);
	td_db_finalize(s);
	rc = step == TD_DB_DONE ? 0 : db_error(st, err, "record suppression");
	if (!rc && scope && strcmp(scope, "all") == 0)
		rc = member_status_step(st, member_left_sql, key, now, err);
	free(key);
	return td_store_sp_end(st, "suppress", own, rc, err);
}

int td_store_unsuppress(struct td_store *st, const char *email, const char *scope,
			size_t *removed, struct td_err *err)
{
	struct td_db_stmt *s;
	int rc;
	if (td_db_prepare(st->db, scope ?
			       "DELETE FROM suppressions WHERE email = ?1 AND scope = ?2" :
			       "DELETE FROM suppressions WHERE email = ?1", &s) != TD_DB_OK)
		return db_error(st, err, "prepare unsuppress");
	bool own;
	if ((rc = td_store_sp_begin(st, "unsuppress", &own, err))) {
		td_db_finalize(s);
		return rc;
	}
	char *key = lower_dup(email);
	td_store_bind_text(s, 1, key);
	if (scope)
		td_store_bind_text(s, 2, scope);
	int step = td_db_step(s);
	td_db_finalize(s);
	rc = step == TD_DB_DONE ? 0 : db_error(st, err, "lift suppression");
	if (!rc && removed)
		*removed = (size_t)td_db_changes(st->db);
	if (!rc && (!scope || strcmp(scope, "all") == 0))
		rc = member_status_step(st, td_db_pick(st->db, member_back_sql,
							member_back_sql_pg), key, 0, err);
	/* and the bounces that led there: the address starts afresh */
	if (!rc && (!scope || strcmp(scope, "all") == 0))
		rc = td_store_bounce_score_clear(st, key, err);
	free(key);
	return td_store_sp_end(st, "unsuppress", own, rc, err);
}

int td_store_suppressions(struct td_store *st, const char *email,
			  struct td_suppression **out, size_t *n,
			  struct td_err *err)
{
	*out = NULL;
	*n = 0;
	/* one subscriber's: asked for every digest, so prepared once */
	struct td_db_stmt *s = NULL;
	if (email)
		s = stmt_get(st, ST_SUPPRESSIONS_OF, err);
	else if (td_db_prepare(st->db,
				    "SELECT email, scope, reason, detail, created_at FROM"
				    " suppressions ORDER BY email, scope", &s) != TD_DB_OK)
		s = NULL;
	if (!s)
		return email ? (err ? err->code : EX_SOFTWARE) :
			db_error(st, err, "prepare suppressions");
	if (email)
		bind_email_key(s, 1, email);
	size_t cap = 0;
	int step;
	while ((step = td_db_step(s)) == TD_DB_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			*out = td_xrealloc(*out, cap * sizeof **out);
		}
		struct td_suppression *x = &(*out)[(*n)++];
		x->email = td_store_col_dup(s, 0);
		x->scope = td_store_col_dup(s, 1);
		x->reason = td_store_col_dup(s, 2);
		x->detail = td_store_col_dup(s, 3);
		x->created_at = (time_t)td_db_column_int64(s, 4);
	}
	if (email)
		stmt_done(s);
	else
		td_db_finalize(s);
	if (step != TD_DB_DONE) {
		td_store_suppressions_free(*out, *n);
		*out = NULL;
		*n = 0;
		return db_error(st, err, "read suppressions");
	}
	return 0;
}

void td_store_suppressions_free(struct td_suppression *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].email);
		free(v[i].scope);
		free(v[i].reason);
		free(v[i].detail);
	}
	free(v);
}

/* ---- the delivery engine (schema 3) ---- */

const char *td_store_path(const struct td_store *st)
{
	return st->path;
}

bool td_store_is_url(const char *where)
{
	return td_db_is_url(where);
}

uint64_t td_store_write_mark(struct td_store *st)
{
	if (td_db_backend(st->db) != TD_DB_POSTGRES)
		return 0;
	struct td_db_stmt *s;
	uint64_t mark = 0;
	if (td_db_prepare(st->db, "SELECT CAST(pg_snapshot_xmax(pg_current_snapshot())"
			  " AS TEXT)", &s) != TD_DB_OK)
		return 0;
	if (td_db_step(s) == TD_DB_ROW)
		mark = strtoull(td_store_col_cstr(s, 0), NULL, 10);
	td_db_finalize(s);
	return mark;
}

int td_store_put_delivery(struct td_store *st, const struct td_delivery *d,
			  struct td_err *err)
{
	int rc = 0;
	struct td_db_stmt *ins = stmt_get(st, ST_INSERT_DELIVERY, err);
	struct td_db_stmt *wm = stmt_get(st, ST_MOVE_WATERMARK, err);
	if (!ins || !wm)
		return err ? err->code : EX_SOFTWARE;
	bind_email_key(ins, 1, d->email);
	td_db_bind_int64(ins, 2, (int64_t)d->slot);
	td_store_bind_text(ins, 3, d->skipped ? "skipped" : "sent");
	if (d->message_id)
		td_store_bind_text(ins, 4, d->message_id);
	if (d->reply)
		td_store_bind_text(ins, 5, d->reply);
	td_db_bind_int64(ins, 6, d->from_seq);
	td_db_bind_int64(ins, 7, d->upto_seq);
	td_db_bind_int64(ins, 8, (int64_t)d->post_count);
	td_db_bind_int64(ins, 9, (int64_t)d->at);
	int step = td_db_step(ins);
	if (step == TD_DB_DONE && td_db_backend(st->db) == TD_DB_POSTGRES &&
	    td_db_changes(st->db) == 0) {
		/* Several senders share a PostgreSQL store: one that stalled
		 * past its lease (claims.h) can find the reader's digest
		 * recorded by the sender that took the batch over. The reader
		 * may have it twice (the bound of a lost lease); the record,
		 * the watermark and the retry are that sender's. */
		stmt_done(ins);
		td_log_warnx("send: %s's digest for this slot was recorded by another "
			     "sender first (this sender had lost its lease): they may "
			     "have it twice", d->email);
		return 0;
	}
	if (step != TD_DB_DONE) {
		/* the error before the reset, which keeps it but not for long */
		if (td_db_errcode(st->db) == TD_DB_CONSTRAINT)
			rc = td_err_set(err, EX_SOFTWARE,
					"store: a digest for %s in this slot is already "
					"recorded; refusing to record a second one", d->email);
		else
			rc = db_error(st, err, "record delivery");
		stmt_done(ins);
		return rc;
	}
	stmt_done(ins);
	bind_email_key(wm, 1, d->email);
	td_db_bind_int64(wm, 2, d->upto_seq);
	td_db_bind_int64(wm, 3, (int64_t)d->slot);
	td_db_bind_int64(wm, 4, d->skipped ? 0 : (int64_t)d->at);
	rc = step_done(st, wm, err, "move watermark");
	/* a delivered digest ends any retry and any run of bounces */
	if (!rc && !d->skipped && (rc = td_store_pending_delete(st, d->email, d->slot, err)) == 0)
		rc = td_store_bounce_reset(st, d->email, err);
	return rc;
}

/* One pending row of email: the one of `slot`, or (retry_only) the
 * newest in state 'retry', whatever its slot. */
static int pending_read(struct td_store *st, const char *email, time_t slot,
			bool retry_only, struct td_pending *out, bool *found,
			struct td_err *err)
{
	memset(out, 0, sizeof *out);
	*found = false;
	struct td_db_stmt *s = stmt_get(st, retry_only ? ST_PENDING_RETRY : ST_PENDING_GET, err);
	if (!s)
		return err ? err->code : EX_SOFTWARE;
	bind_email_key(s, 1, email);
	if (!retry_only)
		td_db_bind_int64(s, 2, (int64_t)slot);
	int step = td_db_step(s);
	if (step == TD_DB_ROW) {
		*found = true;
		out->email = lower_dup(email);
		out->slot = (time_t)td_db_column_int64(s, 10);
		out->state = td_store_col_dup(s, 0);
		out->message_id = td_store_col_dup(s, 1);
		const void *blob = td_db_column_blob(s, 2);
		size_t n = (size_t)td_db_column_bytes(s, 2);
		out->message = td_xmalloc(n + 1);
		if (n)
			memcpy(out->message, blob, n);
		out->message[n] = '\0';
		out->message_len = n;
		out->from_seq = td_db_column_int64(s, 3);
		out->upto_seq = td_db_column_int64(s, 4);
		out->post_count = (size_t)td_db_column_int64(s, 5);
		out->attempts = td_db_column_int(s, 6);
		out->first_attempt_at = (time_t)td_db_column_int64(s, 7);
		out->next_attempt_at = (time_t)td_db_column_int64(s, 8);
		out->last_error = td_store_col_dup(s, 9);
	}
	stmt_done(s);
	return step == TD_DB_ROW || step == TD_DB_DONE ? 0 :
		db_error(st, err, "read pending");
}

int td_store_pending_get(struct td_store *st, const char *email, time_t slot,
			 struct td_pending *out, bool *found, struct td_err *err)
{
	return pending_read(st, email, slot, false, out, found, err);
}

int td_store_pending_retry(struct td_store *st, const char *email,
			   struct td_pending *out, bool *found, struct td_err *err)
{
	return pending_read(st, email, 0, true, out, found, err);
}

void td_store_pending_free(struct td_pending *p)
{
	free(p->email);
	free(p->state);
	free(p->message_id);
	free(p->message);
	free(p->last_error);
	memset(p, 0, sizeof *p);
}

int td_store_pending_put(struct td_store *st, const struct td_pending *p,
			 struct td_err *err)
{
	struct td_db_stmt *s;
	if (td_db_prepare(st->db,
			       "INSERT INTO pending (email, slot, state, message_id, message,"
			       " from_seq, upto_seq, post_count, attempts, first_attempt_at,"
			       " next_attempt_at, last_error)"
			       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
			       " ON CONFLICT (email, slot) DO UPDATE SET state = ?3,"
			       " message = ?5, attempts = ?9, next_attempt_at = ?11,"
			       " last_error = ?12", &s) != TD_DB_OK)
		return db_error(st, err, "prepare pending");
	char *key = lower_dup(p->email);
	td_store_bind_text(s, 1, key);
	free(key);
	td_db_bind_int64(s, 2, (int64_t)p->slot);
	td_store_bind_text(s, 3, p->state);
	td_store_bind_text(s, 4, p->message_id);
	/* Only a digest that will be resent needs its bytes. */
	bool keep = p->state && strcmp(p->state, "retry") == 0;
	td_db_bind_blob(s, 5, keep && p->message ? p->message : "",
			keep ? p->message_len : 0);
	td_db_bind_int64(s, 6, p->from_seq);
	td_db_bind_int64(s, 7, p->upto_seq);
	td_db_bind_int64(s, 8, (int64_t)p->post_count);
	td_db_bind_int(s, 9, p->attempts);
	td_db_bind_int64(s, 10, (int64_t)p->first_attempt_at);
	td_db_bind_int64(s, 11, (int64_t)p->next_attempt_at);
	td_store_bind_text(s, 12, p->last_error);
	int step = td_db_step(s);
	td_db_finalize(s);
	return step == TD_DB_DONE ? 0 : db_error(st, err, "store pending");
}

int td_store_pending_delete(struct td_store *st, const char *email, time_t slot,
			    struct td_err *err)
{
	struct td_db_stmt *s = stmt_get(st, ST_PENDING_DELETE, err);
	if (!s)
		return err ? err->code : EX_SOFTWARE;
	bind_email_key(s, 1, email);
	td_db_bind_int64(s, 2, (int64_t)slot);
	return step_done(st, s, err, "delete pending");
}

size_t td_store_pending_count(struct td_store *st, const char *state)
{
	return (size_t)query_int(st, "SELECT COUNT(*) FROM pending WHERE state = ?1", state);
}

int td_store_bounce_note(struct td_store *st, const char *email, const char *reply,
			 time_t now, int *consecutive, struct td_err *err)
{
	struct td_db_stmt *s;
	if (td_db_prepare(st->db,
			       "INSERT INTO bounces (email, consecutive, last_reply, updated_at)"
			       " VALUES (?1, 1, ?2, ?3) ON CONFLICT (email) DO UPDATE SET"
			       " consecutive = bounces.consecutive + 1, last_reply = ?2, updated_at = ?3"
			       " RETURNING consecutive", &s) != TD_DB_OK)
		return db_error(st, err, "prepare bounce");
	char *key = lower_dup(email);
	td_store_bind_text(s, 1, key);
	free(key);
	td_store_bind_text(s, 2, reply);
	td_db_bind_int64(s, 3, (int64_t)now);
	int step = td_db_step(s);
	if (step == TD_DB_ROW) {
		if (consecutive)
			*consecutive = td_db_column_int(s, 0);
		step = td_db_step(s);
	}
	td_db_finalize(s);
	return step == TD_DB_DONE ? 0 : db_error(st, err, "record bounce");
}

int td_store_bounce_reset(struct td_store *st, const char *email, struct td_err *err)
{
	struct td_db_stmt *s = stmt_get(st, ST_BOUNCE_RESET, err);
	if (!s)
		return err ? err->code : EX_SOFTWARE;
	bind_email_key(s, 1, email);
	return step_done(st, s, err, "reset bounces");
}

int td_store_bounce_count(struct td_store *st, const char *email)
{
	char *key = lower_dup(email);
	int n = (int)query_int(st, "SELECT consecutive FROM bounces WHERE email = ?1", key);
	free(key);
	return n;
}
