/*
 * test_bounce_store.c: what the store does with bounces (store/bounces.h):
 * a hard bounce suppresses (after hard_after), soft bounces add to a score
 * that halves every half-life and suppress at the threshold, one soft
 * bounce per digest (slot) or per day, a complaint unsubscribes, a note
 * changes nothing, a mail counts once, a failure records nothing, and
 * unsuppress starts the address afresh; and the roster's reader by id,
 * which a VERP token names.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "roster_fixture.h"
#include "tagdigest/store/bounces.h"
#include "tagdigest/store/roster.h"
#include "tagdigest/store/store.h"
#include "tagdigest/core/util.h"

static char dir[64];

#define DAY 86400
static const time_t T0 = 1798761600;   /* 2027-01-01 00:00 UTC */

/* A fresh store with one active reader of the editors' file. */
static struct td_store *store_with(const char *name, const char *email)
{
	struct td_store *st = fresh_store(dir, name);
	if (!st)
		return NULL;
	struct td_strv tags = TD_STRV_INIT;
	td_strv_push(&tags, "nato");
	struct td_roster_row row = { email, "A Reader", &tags, "csv", "t.csv:2" };
	enum td_roster_result r;
	struct td_err err = { 0, "" };
	if (td_roster_put(st, &row, T0 - 30 * DAY, &r, &err) != 0) {
		fprintf(stderr, "  put %s: %s\n", email, err.msg);
		td_store_close(st);
		st = NULL;
	}
	td_strv_free(&tags);
	return st;
}

static struct td_bounce_event event(const char *email, enum td_bounce_kind kind,
				    time_t slot)
{
	struct td_bounce_event e;
	memset(&e, 0, sizeof e);
	e.email = (char *)email;
	e.kind = kind;
	e.status = (char *)(kind == TD_BOUNCE_HARD ? "5.1.1" : kind == TD_BOUNCE_SOFT ?
			    "4.2.2" : "");
	e.reply_code = (char *)(kind == TD_BOUNCE_HARD ? "550" : "");
	e.reason = (char *)(kind == TD_BOUNCE_HARD ? "userunknown" :
			    kind == TD_BOUNCE_SOFT ? "mailboxfull" :
			    kind == TD_BOUNCE_COMPLAINT ? "feedback" : "vacation");
	e.feedback_type = (char *)(kind == TD_BOUNCE_COMPLAINT ? "abuse" : "");
	e.slot = slot;
	e.detail = (char *)"";
	return e;
}

/* Records one mail of one event; returns the event's action, or -1 on
 * an error. */
static int record1(struct td_store *st, const char *key, struct td_bounce_event e,
		   const struct td_bounce_policy *pol, time_t now)
{
	struct td_err err = { 0, "" };
	if (td_store_bounce_record(st, key, "bounce", &e, 1, pol, now, &err) != 0) {
		fprintf(stderr, "  record %s: %s\n", key, err.msg);
		return -1;
	}
	return (int)e.action;
}

static double score_of(struct td_store *st, const char *email,
		       const struct td_bounce_policy *pol, time_t now, int *hard)
{
	double s = -1;
	int h = -1;
	struct td_err err = { 0, "" };
	if (td_store_bounce_score(st, email, pol, now, &s, &h, &err) != 0)
		fprintf(stderr, "  score: %s\n", err.msg);
	if (hard)
		*hard = h;
	return s;
}

static size_t suppressions_all(struct td_store *st, const char *email, char *reason,
			       size_t len)
{
	struct td_suppression *v;
	size_t n, all = 0;
	struct td_err err = { 0, "" };
	if (td_store_suppressions(st, email, &v, &n, &err) != 0)
		return 99;
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].scope, "all") == 0) {
			all++;
			snprintf(reason, len, "%s", v[i].reason);
		}
	td_store_suppressions_free(v, n);
	return all;
}

static void test_schema(void)
{
	struct td_store *st = fresh_store(dir, "schema");
	REQUIRE(st);
	/* SQLite's history gained the bounce tables in 8; PostgreSQL's
	 * first version has them */
	CHECK(td_store_schema_version(st) >= (store_on_pg ? 1 : 8));
	bool seen = true;
	struct td_err err = { 0, "" };
	CHECK(td_store_bounce_mail_seen(st, "abc", &seen, &err) == 0 && !seen);
	td_store_close(st);
}

static void test_hard_suppresses(void)
{
	const char *who = "Hard@Example.org";
	struct td_store *st = store_with("hard", who);
	REQUIRE(st);
	struct td_bounce_policy pol = { 1, 5, 7 };
	CHECK(status_of(st, who) == TD_MEMBER_ACTIVE);
	CHECK(record1(st, "k1", event(who, TD_BOUNCE_HARD, T0), &pol, T0) ==
	      TD_BOUNCE_SUPPRESSED);
	CHECK(status_of(st, who) == TD_MEMBER_BOUNCED);
	char reason[32] = "";
	CHECK(suppressions_all(st, "hard@example.org", reason, sizeof reason) == 1);
	CHECK_STR(reason, "bounced");
	bool seen = false;
	struct td_err err = { 0, "" };
	CHECK(td_store_bounce_mail_seen(st, "k1", &seen, &err) == 0 && seen);
	/* another hard bounce, another mail: recorded, nothing more to do */
	CHECK(record1(st, "k2", event(who, TD_BOUNCE_HARD, T0 + 7 * DAY), &pol,
		      T0 + 7 * DAY) == TD_BOUNCE_ALREADY);
	struct td_bounce_event *ev;
	size_t n;
	REQUIRE(td_store_bounce_events(st, who, 10, &ev, &n, &err) == 0);
	CHECK(n == 2);
	if (n == 2) {
		/* newest first, as stored */
		CHECK_STR(ev[0].message_key, "k2");
		CHECK(ev[0].action == TD_BOUNCE_ALREADY);
		CHECK(ev[1].kind == TD_BOUNCE_HARD && ev[1].action == TD_BOUNCE_SUPPRESSED);
		CHECK_STR(ev[1].email, "hard@example.org");
		CHECK_STR(ev[1].status, "5.1.1");
		CHECK_STR(ev[1].reply_code, "550");
		CHECK_STR(ev[1].reason, "userunknown");
		CHECK(ev[1].slot == T0 && ev[1].at == T0);
	}
	td_bounce_events_free(ev, n);
	td_store_close(st);
}

static void test_hard_after_two(void)
{
	const char *who = "two@example.org";
	struct td_store *st = store_with("hard2", who);
	REQUIRE(st);
	struct td_bounce_policy pol = { 2, 5, 7 };
	int hard;
	CHECK(record1(st, "a", event(who, TD_BOUNCE_HARD, T0), &pol, T0) ==
	      TD_BOUNCE_RECORDED);
	CHECK(status_of(st, who) == TD_MEMBER_ACTIVE);
	CHECK(score_of(st, who, &pol, T0, &hard) == 0 && hard == 1);
	CHECK(record1(st, "b", event(who, TD_BOUNCE_HARD, T0 + DAY), &pol, T0 + DAY) ==
	      TD_BOUNCE_SUPPRESSED);
	CHECK(status_of(st, who) == TD_MEMBER_BOUNCED);
	td_store_close(st);
}

static void test_soft_score_and_once_per_digest(void)
{
	const char *who = "soft@example.org";
	struct td_store *st = store_with("soft", who);
	REQUIRE(st);
	struct td_bounce_policy pol = { 1, 3, 7 };
	/* a delay warning and the final failure of one digest: one */
	CHECK(record1(st, "s1", event(who, TD_BOUNCE_SOFT, T0), &pol, T0) ==
	      TD_BOUNCE_RECORDED);
	CHECK(record1(st, "s1b", event(who, TD_BOUNCE_SOFT, T0), &pol, T0 + 3600) ==
	      TD_BOUNCE_COUNTED_BEFORE);
	/* a slotted score does not decay with time, only with good digests */
	double s = score_of(st, who, &pol, T0 + 2 * DAY - 1, NULL);
	CHECK(s > 0.999 && s < 1.001);
	/* without a slot: one per day */
	CHECK(record1(st, "s2", event(who, TD_BOUNCE_SOFT, 0), &pol, T0 + 2 * DAY) ==
	      TD_BOUNCE_RECORDED);
	CHECK(record1(st, "s2b", event(who, TD_BOUNCE_SOFT, 0), &pol,
		      T0 + 2 * DAY + 60) == TD_BOUNCE_COUNTED_BEFORE);
	CHECK(status_of(st, who) == TD_MEMBER_ACTIVE);
	/* the last counted had no slot: time decay, a day in 2 * 0.5^(1/7),
	 * so the third digest's bounce stays under the threshold of 3 */
	double before = score_of(st, who, &pol, T0 + 3 * DAY, NULL);
	CHECK(before > 1.80 && before < 1.82);
	CHECK(record1(st, "s3", event(who, TD_BOUNCE_SOFT, T0 + 3 * DAY), &pol,
		      T0 + 3 * DAY) == TD_BOUNCE_RECORDED);
	CHECK(status_of(st, who) == TD_MEMBER_ACTIVE);
	/* one more on the same day: another digest (slot), so it counts */
	CHECK(record1(st, "s4", event(who, TD_BOUNCE_SOFT, T0 + 3 * DAY + 60), &pol,
		      T0 + 3 * DAY + 120) == TD_BOUNCE_SUPPRESSED);
	CHECK(status_of(st, who) == TD_MEMBER_BOUNCED);
	char reason[32] = "";
	CHECK(suppressions_all(st, who, reason, sizeof reason) == 1);
	CHECK_STR(reason, "bounced");
	td_store_close(st);
}

static void test_soft_score_decays(void)
{
	const char *who = "decay@example.org";
	struct td_store *st = store_with("decay", who);
	REQUIRE(st);
	struct td_bounce_policy pol = { 1, 3, 7 };
	/* mails without a slot (no VERP token): the score halves with time */
	CHECK(record1(st, "d1", event(who, TD_BOUNCE_SOFT, 0), &pol, T0) ==
	      TD_BOUNCE_RECORDED);
	CHECK(record1(st, "d2", event(who, TD_BOUNCE_SOFT, 0), &pol, T0 + DAY) ==
	      TD_BOUNCE_RECORDED);
	/* 1 * 0.5^(1/7) + 1 = 1.906, a half-life later 0.953 */
	double s = score_of(st, who, &pol, T0 + 8 * DAY, NULL);
	CHECK(s > 0.95 && s < 0.96);
	/* so a third soft bounce then is under the threshold of 3 */
	CHECK(record1(st, "d3", event(who, TD_BOUNCE_SOFT, 0), &pol, T0 + 8 * DAY) ==
	      TD_BOUNCE_RECORDED);
	CHECK(status_of(st, who) == TD_MEMBER_ACTIVE);
	/* 1.953 * 0.906 + 1 = 2.77, then 2.77 * 0.906 + 1 = 3.51: over */
	CHECK(record1(st, "d4", event(who, TD_BOUNCE_SOFT, 0), &pol, T0 + 9 * DAY) ==
	      TD_BOUNCE_RECORDED);
	CHECK(status_of(st, who) == TD_MEMBER_ACTIVE);
	CHECK(record1(st, "d5", event(who, TD_BOUNCE_SOFT, 0), &pol, T0 + 10 * DAY) ==
	      TD_BOUNCE_SUPPRESSED);
	CHECK(status_of(st, who) == TD_MEMBER_BOUNCED);
	td_store_close(st);
}

static int sent(struct td_store *st, const char *email, time_t slot)
{
	struct td_delivery d = { email, slot, false, "<d@example.org>", "250 ok",
				 0, 0, 1, slot };
	struct td_err err = { 0, "" };
	int rc = td_store_record_delivery(st, &d, &err);
	if (rc)
		fprintf(stderr, "  delivery: %s\n", err.msg);
	return rc;
}

/* A weekly reader whose digests fail five weeks running reaches the
 * default threshold of 5 (a time half-life of 7 days never would: 1,
 * 1.5, 1.75, ...); the same five failures with a good digest between
 * each two halve the sum each time and stay under it. */
static void test_soft_counts_failed_digests(void)
{
	struct td_bounce_policy pol = { 1, 5, 7 };
	const char *bad = "weekly@example.org", *good = "between@example.org";
	struct td_store *st = store_with("weekly", bad);
	struct td_store *st2 = store_with("between", good);
	REQUIRE(st && st2);
	char key[16];
	for (int k = 0; k < 5; k++) {
		time_t slot = T0 + k * 7 * DAY;
		snprintf(key, sizeof key, "w%d", k);
		int want = k < 4 ? TD_BOUNCE_RECORDED : TD_BOUNCE_SUPPRESSED;
		CHECK(record1(st, key, event(bad, TD_BOUNCE_SOFT, slot), &pol,
			      slot + 3600) == want);
		if (k)
			CHECK(sent(st2, good, slot - 7 * DAY / 2) == 0);
		CHECK(record1(st2, key, event(good, TD_BOUNCE_SOFT, slot), &pol,
			      slot + 3600) == TD_BOUNCE_RECORDED);
	}
	CHECK(status_of(st, bad) == TD_MEMBER_BOUNCED);
	CHECK(status_of(st2, good) == TD_MEMBER_ACTIVE);
	/* 1, 1.5, 1.75, 1.875, 1.9375; one more good digest halves it */
	double s = score_of(st2, good, &pol, T0 + 40 * DAY, NULL);
	CHECK(s > 1.93 && s < 1.94);
	CHECK(sent(st2, good, T0 + 31 * DAY) == 0);
	s = score_of(st2, good, &pol, T0 + 40 * DAY, NULL);
	CHECK(s > 0.96 && s < 0.97);
	td_store_close(st);
	td_store_close(st2);
}

static void test_complaint_and_note(void)
{
	const char *who = "angry@example.org", *away = "away@example.org";
	struct td_store *st = store_with("complaint", who);
	REQUIRE(st);
	struct td_strv tags = TD_STRV_INIT;
	td_strv_push(&tags, "usa");
	struct td_roster_row row = { away, "", &tags, "csv", "t.csv:3" };
	enum td_roster_result r;
	struct td_err err = { 0, "" };
	CHECK(td_roster_put(st, &row, T0 - DAY, &r, &err) == 0);
	td_strv_free(&tags);
	struct td_bounce_policy pol = { 1, 5, 7 };
	CHECK(record1(st, "c1", event(who, TD_BOUNCE_COMPLAINT, T0), &pol, T0) ==
	      TD_BOUNCE_UNSUBSCRIBED);
	CHECK(status_of(st, who) == TD_MEMBER_COMPLAINED);
	char reason[32] = "";
	CHECK(suppressions_all(st, who, reason, sizeof reason) == 1);
	CHECK_STR(reason, "complained");
	CHECK(record1(st, "n1", event(away, TD_BOUNCE_NOTE, T0), &pol, T0) ==
	      TD_BOUNCE_RECORDED);
	CHECK(status_of(st, away) == TD_MEMBER_ACTIVE);
	CHECK(suppressions_all(st, away, reason, sizeof reason) == 0);
	int hard;
	CHECK(score_of(st, away, &pol, T0, &hard) == 0 && hard == 0);
	size_t totals[4];
	CHECK(td_store_bounce_totals(st, T0 - DAY, totals, &err) == 0);
	CHECK(totals[TD_BOUNCE_COMPLAINT] == 1 && totals[TD_BOUNCE_NOTE] == 1 &&
	      totals[TD_BOUNCE_HARD] == 0 && totals[TD_BOUNCE_SOFT] == 0);
	CHECK(td_store_bounce_totals(st, T0 + 1, totals, &err) == 0);
	CHECK(totals[TD_BOUNCE_COMPLAINT] == 0 && totals[TD_BOUNCE_NOTE] == 0);
	td_store_close(st);
}

static void test_mail_counts_once(void)
{
	const char *who = "once@example.org";
	struct td_store *st = store_with("once", who);
	REQUIRE(st);
	struct td_bounce_policy pol = { 2, 5, 7 };
	CHECK(record1(st, "same", event(who, TD_BOUNCE_HARD, T0), &pol, T0) ==
	      TD_BOUNCE_RECORDED);
	/* the same mail again (a crash before it was removed) */
	CHECK(record1(st, "same", event(who, TD_BOUNCE_HARD, T0), &pol, T0 + 5) ==
	      TD_BOUNCE_ALREADY);
	int hard;
	score_of(st, who, &pol, T0, &hard);
	CHECK(hard == 1);
	CHECK(status_of(st, who) == TD_MEMBER_ACTIVE);
	struct td_bounce_event *ev;
	size_t n;
	struct td_err err = { 0, "" };
	CHECK(td_store_bounce_events(st, NULL, 0, &ev, &n, &err) == 0 && n == 1);
	td_bounce_events_free(ev, n);
	/* a mail for nobody we know is remembered too */
	CHECK(td_store_bounce_record(st, "nobody", "unknown", NULL, 0, &pol, T0, &err) == 0);
	bool seen = false;
	CHECK(td_store_bounce_mail_seen(st, "nobody", &seen, &err) == 0 && seen);
	td_store_close(st);
}

static void test_failure_records_nothing(void)
{
	const char *who = "atomic@example.org";
	struct td_store *st = store_with("atomic", who);
	REQUIRE(st);
	struct td_bounce_policy pol = { 1, 5, 7 };
	struct td_bounce_event ev[2] = { event(who, TD_BOUNCE_HARD, T0),
					 event("", TD_BOUNCE_HARD, T0) };
	struct td_err err = { 0, "" };
	CHECK(td_store_bounce_record(st, "bad", "bounce", ev, 2, &pol, T0, &err) != 0);
	/* the first event's suppression went with the rest */
	CHECK(status_of(st, who) == TD_MEMBER_ACTIVE);
	bool seen = true;
	CHECK(td_store_bounce_mail_seen(st, "bad", &seen, &err) == 0 && !seen);
	struct td_bounce_event *got;
	size_t n = 9;
	CHECK(td_store_bounce_events(st, NULL, 0, &got, &n, &err) == 0 && n == 0);
	td_bounce_events_free(got, n);
	int hard = -1;
	score_of(st, who, &pol, T0, &hard);
	CHECK(hard == 0);
	/* inside a caller's transaction the same holds, and theirs goes on */
	CHECK(td_store_begin(st, &err) == 0);
	CHECK(td_store_bounce_record(st, "bad", "bounce", ev, 2, &pol, T0, &err) != 0);
	CHECK(td_store_bounce_record(st, "good", "bounce", ev, 1, &pol, T0, &err) == 0);
	CHECK(td_store_commit(st, &err) == 0);
	CHECK(status_of(st, who) == TD_MEMBER_BOUNCED);
	CHECK(td_store_bounce_mail_seen(st, "bad", &seen, &err) == 0 && !seen);
	td_store_close(st);
}

static void test_unsuppress_starts_afresh(void)
{
	const char *who = "back@example.org";
	struct td_store *st = store_with("afresh", who);
	REQUIRE(st);
	struct td_bounce_policy pol = { 2, 2, 7 };
	CHECK(record1(st, "u1", event(who, TD_BOUNCE_SOFT, T0), &pol, T0) ==
	      TD_BOUNCE_RECORDED);
	CHECK(record1(st, "u2", event(who, TD_BOUNCE_HARD, T0), &pol, T0) ==
	      TD_BOUNCE_RECORDED);
	CHECK(record1(st, "u3", event(who, TD_BOUNCE_SOFT, T0 + 60), &pol, T0) ==
	      TD_BOUNCE_SUPPRESSED);
	CHECK(status_of(st, who) == TD_MEMBER_BOUNCED);
	size_t removed = 0;
	struct td_err err = { 0, "" };
	CHECK(td_store_unsuppress(st, who, NULL, &removed, &err) == 0 && removed == 1);
	CHECK(status_of(st, who) == TD_MEMBER_ACTIVE);
	int hard = -1;
	CHECK(score_of(st, who, &pol, T0, &hard) == 0 && hard == 0);
	/* one hard bounce now is one, not the second */
	CHECK(record1(st, "u4", event(who, TD_BOUNCE_HARD, T0 + DAY), &pol, T0 + DAY) ==
	      TD_BOUNCE_RECORDED);
	CHECK(status_of(st, who) == TD_MEMBER_ACTIVE);
	/* a per-tag unsuppress leaves the score alone */
	CHECK(td_store_suppress(st, who, "nato", "unsubscribed", "", T0, &err) == 0);
	CHECK(td_store_unsuppress(st, who, "nato", &removed, &err) == 0 && removed == 1);
	score_of(st, who, &pol, T0 + DAY, &hard);
	CHECK(hard == 1);
	/* the history stays */
	struct td_bounce_event *ev;
	size_t n;
	CHECK(td_store_bounce_events(st, who, 0, &ev, &n, &err) == 0 && n == 4);
	td_bounce_events_free(ev, n);
	td_store_close(st);
}

/* The reader a VERP token names by id (roster.h). */
static void test_member_by_id(void)
{
	struct td_store *st = store_with("byid", "ById@Example.org");
	REQUIRE(st);
	struct td_member m, again;
	bool found = false;
	struct td_err err = { 0, "" };
	REQUIRE(td_roster_get(st, "byid@example.org", &m, &found, &err) == 0 && found);
	CHECK(m.id > 0);
	CHECK(td_roster_get_by_id(st, m.id, &again, &found, &err) == 0 && found);
	CHECK_STR(again.email, "ById@Example.org");
	CHECK(again.status == TD_MEMBER_ACTIVE);
	td_member_free(&again);
	CHECK(td_roster_get_by_id(st, m.id + 1000, &again, &found, &err) == 0 && !found);
	td_member_free(&again);
	td_member_free(&m);
	td_store_close(st);
}

int main(void)
{
	strcpy(dir, "/tmp/td-bstore-XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	store_fixture_init("bounce_store");
	TD_RUN(test_schema);
	TD_RUN(test_hard_suppresses);
	TD_RUN(test_hard_after_two);
	TD_RUN(test_soft_score_and_once_per_digest);
	TD_RUN(test_soft_score_decays);
	TD_RUN(test_soft_counts_failed_digests);
	TD_RUN(test_complaint_and_note);
	TD_RUN(test_mail_counts_once);
	TD_RUN(test_failure_records_nothing);
	TD_RUN(test_unsuppress_starts_afresh);
	TD_RUN(test_member_by_id);
	store_fixture_done();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return TD_DONE(store_fixture_label("bounce store"));
}
