/*
 * test_relays.c: the relay pool's choices (spread by weight within caps,
 * failover, pause, coming back) and the throttles' arithmetic (spacing,
 * the hour's bucket, which domain a recipient falls under), on a clock
 * the tests set: no sleeps, no servers (the e2e tests send through real
 * relays: tests/e2e/test_relays.py).
 */
#include <string.h>

#include "harness.h"
#include "tagdigest/deliver/relays.h"

static void pool(struct td_relay_pool *p, size_t n, const int *caps, const int *w)
{
	td_relay_pool_init(p, n, caps, w, 60);
}

/* Sessions go out in proportion to the weights, never past a cap. */
static void test_spread_by_weight(void)
{
	struct td_relay_pool p;
	int caps[] = { 10, 10 }, w[] = { 3, 1 };
	pool(&p, 2, caps, w);
	int on[2] = { 0, 0 };
	for (int i = 0; i < 8; i++) {
		int home = td_relay_pick(&p, 0);
		REQUIRE(home >= 0);
		CHECK(td_relay_settle(&p, home, -1, 0) == home);
		on[home]++;
	}
	CHECK(on[0] == 6 && on[1] == 2);
	CHECK(p.v[0].active == 6 && p.v[1].active == 2);
	td_relay_pool_free(&p);

	/* weight 10 to 1, but the heavy one takes 2 at once: the rest go
	 * to the light one, and past both caps there is nothing */
	int caps2[] = { 2, 3 }, w2[] = { 10, 1 };
	pool(&p, 2, caps2, w2);
	int got[2] = { 0, 0 };
	for (int i = 0; i < 5; i++) {
		int r = td_relay_pick(&p, 0);
		REQUIRE(r >= 0);
		td_relay_settle(&p, r, -1, 0);
		got[r]++;
	}
	CHECK(got[0] == 2 && got[1] == 3);
	CHECK(td_relay_pick(&p, 0) == -1);
	td_relay_pool_free(&p);
}

/* A relay that fails is paused for the pause, once: a second session
 * seeing the same outage does not stretch it. */
static void test_pause(void)
{
	struct td_relay_pool p;
	int caps[] = { 2, 2 }, w[] = { 1, 1 };
	pool(&p, 2, caps, w);
	CHECK(td_relay_up(&p, 0, 100));
	CHECK(td_relay_down(&p, 0, 100));
	CHECK(!td_relay_up(&p, 0, 100));
	CHECK(!td_relay_down(&p, 0, 130));          /* already paused */
	CHECK(!td_relay_up(&p, 0, 159.9));
	CHECK(td_relay_up(&p, 0, 160));             /* 100 + 60 */
	CHECK(td_relay_next_up(&p, 120) == 160);
	CHECK(td_relay_next_up(&p, 170) == 0);
	/* paused relays are not picked */
	CHECK(td_relay_pick(&p, 120) == 1);
	td_relay_pool_free(&p);
}

/* Two relays, one session each: A goes down, its session moves to B if
 * B has room, else parks; it goes home when the pause is over. */
static void test_failover_and_back(void)
{
	struct td_relay_pool p;
	int caps[] = { 1, 2 }, w[] = { 1, 1 };
	pool(&p, 2, caps, w);
	int a = td_relay_settle(&p, 0, -1, 0);     /* session 1, home A */
	int b = td_relay_settle(&p, 1, -1, 0);     /* session 2, home B */
	CHECK(a == 0 && b == 1);
	td_relay_down(&p, 0, 10);
	/* session 1 moves to B, which has room for 2 */
	a = td_relay_settle(&p, 0, a, 11);
	CHECK(a == 1);
	CHECK(p.v[0].active == 0 && p.v[1].active == 2);
	/* while A is paused it stays on B */
	CHECK(td_relay_settle(&p, 0, a, 50) == 1);
	/* the pause is over: home again, and B's count goes down */
	a = td_relay_settle(&p, 0, a, 70);
	CHECK(a == 0);
	CHECK(p.v[0].active == 1 && p.v[1].active == 1);
	td_relay_pool_free(&p);

	/* B full: session 1 parks (counted nowhere) while B carries */
	int caps2[] = { 1, 1 };
	pool(&p, 2, caps2, w);
	a = td_relay_settle(&p, 0, -1, 0);
	b = td_relay_settle(&p, 1, -1, 0);
	td_relay_down(&p, 0, 10);
	a = td_relay_settle(&p, 0, a, 10);
	CHECK(a == -1);
	CHECK(p.v[0].active == 0 && p.v[1].active == 1);
	CHECK(td_relay_settle(&p, 0, -1, 30) == -1);  /* still paused */
	CHECK(td_relay_settle(&p, 0, -1, 70) == 0);   /* tried again */
	CHECK(p.v[0].active == 1);
	(void)b;
	td_relay_pool_free(&p);
}

/* Every relay down: sessions stay where they are (their messages fail
 * and take the retry path), as with one relay; a pool of one never
 * parks. */
static void test_all_down(void)
{
	struct td_relay_pool p;
	int caps[] = { 1, 1 }, w[] = { 1, 1 };
	pool(&p, 2, caps, w);
	int a = td_relay_settle(&p, 0, -1, 0);
	int b = td_relay_settle(&p, 1, -1, 0);
	td_relay_down(&p, 0, 5);
	td_relay_down(&p, 1, 5);
	CHECK(td_relay_settle(&p, 0, a, 6) == 0);
	CHECK(td_relay_settle(&p, 1, b, 6) == 1);
	CHECK(p.v[0].active == 1 && p.v[1].active == 1);
	td_relay_pool_free(&p);

	int one[] = { 4 }, w1[] = { 1 };
	pool(&p, 1, one, w1);
	int s[4];
	for (int i = 0; i < 4; i++)
		s[i] = td_relay_settle(&p, 0, -1, 0);
	td_relay_down(&p, 0, 1);
	for (int i = 0; i < 4; i++)
		CHECK(td_relay_settle(&p, 0, s[i], 2) == 0);
	CHECK(p.v[0].active == 4);
	td_relay_pool_free(&p);
}

/* per_second: starts at least 1/per_second apart; WAIT says when. */
static void test_throttle_spacing(void)
{
	struct td_throttle_config c[] = { { (char *)"gmail.com", 4, 0 } };
	struct td_throttles t;
	td_throttles_init(&t, c, 1, 0);
	struct td_throttle *th = td_throttle_for(&t, "a@gmail.com");
	REQUIRE(th != NULL);
	double at = -1;
	CHECK(td_throttle_take(th, 10.0, &at) == TD_THROTTLE_GO);
	CHECK(td_throttle_take(th, 10.1, &at) == TD_THROTTLE_WAIT);
	CHECK(at == 10.25);
	CHECK(td_throttle_take(th, 10.2, &at) == TD_THROTTLE_WAIT);   /* nothing charged */
	CHECK(at == 10.25);
	CHECK(td_throttle_take(th, 10.25, &at) == TD_THROTTLE_GO);
	CHECK(td_throttle_take(th, 10.4, &at) == TD_THROTTLE_WAIT && at == 10.5);
	/* over 10 s of asking all the time: at most 4 a second */
	int go = 0;
	for (int i = 0; i < 1000; i++)
		go += td_throttle_take(th, 20 + i * 0.01, &at) == TD_THROTTLE_GO;
	CHECK(go == 40);
	td_throttles_free(&t);
}

/* per_hour: a full bucket of K at the start, refilled at K an hour;
 * past it, SPENT (the message waits for a later run), and a spent
 * domain charges nothing. */
static void test_throttle_hour(void)
{
	struct td_throttle_config c[] = { { (char *)"yahoo.com", 0, 3 } };
	struct td_throttles t;
	td_throttles_init(&t, c, 1, 1000);
	struct td_throttle *th = td_throttle_for(&t, "x@yahoo.com");
	REQUIRE(th != NULL);
	double at;
	for (int i = 0; i < 3; i++)
		CHECK(td_throttle_take(th, 1000 + i, &at) == TD_THROTTLE_GO);
	CHECK(th->spent == 0);
	CHECK(td_throttle_take(th, 1003, &at) == TD_THROTTLE_SPENT);
	CHECK(td_throttle_take(th, 1500, &at) == TD_THROTTLE_SPENT);
	CHECK(th->spent == 2);
	/* one message comes back every 1200 s (3 an hour): 1002 + 1200 */
	CHECK(td_throttle_take(th, 2190, &at) == TD_THROTTLE_SPENT);
	CHECK(td_throttle_take(th, 2203, &at) == TD_THROTTLE_GO);
	CHECK(td_throttle_take(th, 2204, &at) == TD_THROTTLE_SPENT);
	/* never more than a full bucket, however long it rests */
	int go = 0;
	for (int i = 0; i < 10; i++)
		go += td_throttle_take(th, 100000 + i, &at) == TD_THROTTLE_GO;
	CHECK(go == 3);
	td_throttles_free(&t);

	/* both limits: spent wins over wait, and a wait charges the hour
	 * nothing */
	struct td_throttle_config c2[] = { { (char *)"both.example", 1, 2 } };
	td_throttles_init(&t, c2, 1, 0);
	th = &t.v[0];
	CHECK(td_throttle_take(th, 0, &at) == TD_THROTTLE_GO);
	for (int i = 1; i < 9; i++)
		CHECK(td_throttle_take(th, i * 0.1, &at) == TD_THROTTLE_WAIT);
	CHECK(td_throttle_take(th, 1.0, &at) == TD_THROTTLE_GO);
	CHECK(td_throttle_take(th, 2.0, &at) == TD_THROTTLE_SPENT);
	td_throttles_free(&t);
}

/* The domain and its subdomains, any case; the longest match wins;
 * other domains and look-alikes are not covered. */
static void test_throttle_for(void)
{
	struct td_throttle_config c[] = {
		{ (char *)"example.com", 1, 0 },
		{ (char *)"eu.example.com", 2, 0 },
		{ (char *)"gmail.com", 3, 0 },
	};
	struct td_throttles t;
	td_throttles_init(&t, c, 3, 0);
	CHECK(td_throttle_for(&t, "a@gmail.com") == &t.v[2]);
	CHECK(td_throttle_for(&t, "a@GMail.COM") == &t.v[2]);
	CHECK(td_throttle_for(&t, "a@mx.gmail.com") == &t.v[2]);
	CHECK(td_throttle_for(&t, "a@notgmail.com") == NULL);
	CHECK(td_throttle_for(&t, "a@gmail.com.evil") == NULL);
	CHECK(td_throttle_for(&t, "a@yahoo.com") == NULL);
	CHECK(td_throttle_for(&t, "a@example.com") == &t.v[0]);
	CHECK(td_throttle_for(&t, "a@x.eu.example.com") == &t.v[1]);
	CHECK(td_throttle_for(&t, "a@us.example.com") == &t.v[0]);
	CHECK(td_throttle_for(&t, "\"odd@gmail.com\"@yahoo.com") == NULL);
	CHECK(td_throttle_for(&t, "no-at-sign") == NULL);
	td_throttles_free(&t);
}

int main(void)
{
	TD_RUN(test_spread_by_weight);
	TD_RUN(test_pause);
	TD_RUN(test_failover_and_back);
	TD_RUN(test_all_down);
	TD_RUN(test_throttle_spacing);
	TD_RUN(test_throttle_hour);
	TD_RUN(test_throttle_for);
	return TD_DONE("test_relays");
}
