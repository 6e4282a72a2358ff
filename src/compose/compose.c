/*
 * compose.c: one subscriber's digest as one finished message (see
 * compose.h).
 */
#include "tagdigest/compose/compose.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tagdigest/core/address.h"
#include "tagdigest/compose/dkim.h"
#include "tagdigest/compose/mime.h"
#include "tagdigest/schedule/schedule.h"
#include "tagdigest/compose/token.h"
#include "tagdigest/core/util.h"

#define MAX_MESSAGE (16u << 20)

struct td_composer {
	struct td_compose_options opt;  /* a copy; its strings are the caller's */
	struct td_store *st;
	struct td_renderer *renderer;
	struct td_secret secret;
	struct td_dkim *dkim;     /* NULL when [dkim] is not configured */
	const char *id_domain;    /* Message-ID right-hand side: the sender's domain */
	struct td_post_cache *cache; /* send runs only: posts cannot change then */
	struct td_zones *zones;   /* the zones readers chose (schedule.h) */
	struct td_mac *id_mac;    /* keys digest Message-IDs (see digest_message_id) */
	struct td_mime_cache *mime; /* QP lines and buffers kept (mime.h) */
};

int td_composer_new(const struct td_compose_options *opt, struct td_store *st,
		    struct td_composer **out, struct td_err *err)
{
	struct td_composer *c = td_xcalloc(1, sizeof *c);
	c->opt = *opt;
	c->st = st;
	c->id_domain = td_address_domain(opt->from_address);
	c->zones = td_zones_new();
	c->mime = td_mime_cache_new();
	int rc = td_renderer_new(&opt->render, &c->renderer, err);
	if (!rc)
		rc = td_secret_load(opt->token_secret_env, opt->token_secret_file, true,
				    &c->secret, err);
	if (!rc)
		c->id_mac = td_mac_new(&c->secret, "message-id");
	/* The key is loaded once per run; a bad key stops the run before
	 * anything is sent. */
	if (!rc && opt->dkim_domain && opt->dkim_domain[0])
		rc = td_dkim_new(opt->dkim_domain, opt->dkim_selector,
				 opt->dkim_key_file, &c->dkim, err);
	if (rc) {
		td_composer_free(c);
		*out = NULL;
		return rc;
	}
	*out = c;
	return 0;
}

void td_composer_free(struct td_composer *c)
{
	if (!c)
		return;
	td_renderer_free(c->renderer);
	td_mac_free(c->id_mac);
	td_secret_free(&c->secret);
	td_dkim_free(c->dkim);
	td_post_cache_free(c->cache);
	td_zones_free(c->zones);
	td_mime_cache_free(c->mime);
	free(c);
}

/* The slot a message composed at now belongs to: the one a send run at
 * now serves this reader, by their own schedule (schedule.h), which is
 * the slot the run records the digest under (deliver.h). A reader who
 * changes their day or zone gets a new slot, so a digest recomposed
 * within one of their periods keeps its id, whatever the site's slot. */
static time_t compose_slot(struct td_composer *c, const struct td_subscriber *sub,
			   time_t now)
{
	struct td_schedule s = td_schedule_for(&c->opt.schedule, &sub->prefs, c->zones);
	return td_schedule_last_slot(&s, now);
}

/* Numbers go into the MAC's input as varints (7 bits a byte, the high bit
 * saying "more"): prefix-free, so the encoding stays unambiguous, short
 * (a seq takes 2-3 bytes: fewer SHA-256 blocks), and no printf per post. */
static void put_uint(struct td_buf *b, uint64_t v)
{
	unsigned char out[10];
	size_t n = 0;
	do {
		out[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v)
			out[n] |= 0x80;
		n++;
	} while (v);
	td_buf_append(b, out, n);
}

/*
 * A digest's Message-ID is a function of what the reader gets, not a
 * random draw: a crash between the relay's 250 and the record of the
 * delivery makes the next run compose that digest again, and with the
 * same id the second copy is one the reader's client can drop (Gmail,
 * Sieve's "duplicate", formail -D all go by Message-ID alone). So the id
 * covers exactly what makes a digest different for the reader: who
 * (lower-cased, as the store keys subscribers), which of their slots, the
 * watermark it starts from, and per section the tag, the posts shown and
 * the "and N more" count. A digest recomposed with a post the first copy
 * lacked gets a new id, so it is never dropped; one that shows the same
 * posts keeps it, even when posts arrived meanwhile in tags the reader
 * does not follow (which is why the store's upto_seq is left out) or a
 * first digest's window moved on by a few hours (should a post leave that
 * window meanwhile, the copies differ and so do their ids: a reader may
 * see both, never lose one). The hash is keyed with the token secret, so
 * an id reveals nothing about the address and cannot be made by anyone
 * else. No store write: recomposing is enough.
 */
static char *digest_message_id(struct td_composer *c, const struct td_subscriber *sub,
			       time_t slot, const struct td_digest *d)
{
	struct td_buf b = TD_BUF_INIT;
	size_t elen = strlen(sub->email);
	put_uint(&b, elen);
	for (size_t i = 0; i < elen; i++)
		td_buf_putc(&b, (char)tolower((unsigned char)sub->email[i]));
	put_uint(&b, (uint64_t)slot);
	put_uint(&b, (uint64_t)d->from_seq);
	put_uint(&b, d->nsections);
	for (size_t i = 0; i < d->nsections; i++) {
		const struct td_digest_section *s = &d->sections[i];
		size_t tlen = strlen(s->tag);
		put_uint(&b, tlen);
		td_buf_append(&b, s->tag, tlen);
		put_uint(&b, s->nposts);
		for (size_t k = 0; k < s->nposts; k++)
			put_uint(&b, (uint64_t)s->posts[k].seq);
		put_uint(&b, s->more);
	}
	unsigned char mac[TD_MAC_BYTES];
	td_mac_compute(c->id_mac, b.data, b.len, mac);
	td_buf_free(&b);
	return td_mime_message_id_keyed(mac, sizeof mac, c->id_domain);
}

/* a then b, malloc'd: a link and its token, several a digest, without
 * printf's cost */
static char *join(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	char *s = td_xmalloc(na + nb + 1);
	memcpy(s, a, na);
	memcpy(s + na, b, nb + 1);
	return s;
}

void td_composer_hold_posts(struct td_composer *c)
{
	if (!c->cache)
		c->cache = td_post_cache_new();
	td_renderer_share_posts(c->renderer);
}

/* sub's digest read in one snapshot: the reader's view and every query
 * the digest makes. */
static int build_in_snapshot(struct td_composer *c, const struct td_subscriber *sub,
			     time_t now, struct td_digest *d, struct td_err *err)
{
	int rc = td_store_begin_read(c->st, err);
	if (rc)
		return rc;
	rc = td_digest_build_view(c->st, &c->opt.digest, sub, NULL, now, c->cache, d, err);
	if (rc) {
		td_store_rollback(c->st);
		return rc;
	}
	if ((rc = td_store_commit(c->st, err)))
		td_digest_free(d);
	return rc;
}

/* sub's digest; view: the reader's, read by the caller (td_compose_view),
 * or NULL; test_to: NULL for the reader's own message, else the
 * address of a test copy (compose.h), whose unsubscribe links are made
 * for that address instead of sub's. */
static int compose(struct td_composer *c, const struct td_subscriber *sub,
		   const struct td_reader_view *view, const char *test_to, time_t now,
		   struct td_composed *out, struct td_err *err)
{
	const struct td_compose_options *opt = &c->opt;
	/* whose unsubscribe tokens the links carry */
	const char *owner = test_to ? test_to : sub->email;
	memset(out, 0, sizeof *out);
	td_buf_init(&out->message, MAX_MESSAGE);
	int rc = view ? td_digest_build_view(c->st, &opt->digest, sub, view, now, c->cache,
					     &out->digest, err) :
		 build_in_snapshot(c, sub, now, &out->digest, err);
	if (rc)
		return rc;
	char *token = td_token_make(&c->secret, owner, "all");
	char *unsub = join(opt->unsubscribe_url, token);
	free(token);
	/* one link per section that leaves only that tag */
	struct td_strv tag_unsub = TD_STRV_INIT;
	for (size_t i = 0; i < out->digest.nsections; i++) {
		const char *tag = out->digest.sections[i].tag;
		char *t = td_token_make(&c->secret, owner, tag);
		td_strv_push(&tag_unsub, tag);
		td_strv_push_owned(&tag_unsub, join(opt->unsubscribe_url, t));
		free(t);
	}
	/* the preference centre's link: per reader, never expiring (old
	 * digests stay useful), for the test address in a test copy */
	char *prefs = NULL;
	if (opt->preferences_url) {
		char *pt = td_token_make_for(&c->secret, "preferences", owner, "", 0);
		if (pt)
			prefs = join(opt->preferences_url, pt);
		free(pt);
	}
	rc = td_render_digest(c->renderer, sub, &out->digest, unsub, prefs, &tag_unsub,
			      now, &out->parts, err);
	td_strv_free(&tag_unsub);
	free(prefs);
	if (!rc && test_to) {
		char *subject = td_xasprintf("[TEST] %s", out->parts.subject);
		free(out->parts.subject);
		out->parts.subject = subject;
		/* random: a test copy must never pass for the reader's digest */
		out->message_id = td_mime_message_id(c->id_domain);
	} else if (!rc) {
		out->message_id = digest_message_id(c, sub, compose_slot(c, sub, now),
						    &out->digest);
	}
	if (!rc) {
		struct td_mime_message m = {
			.from_name = opt->from_name,
			.from_addr = opt->from_address,
			.reply_to = opt->reply_to,
			.to_name = test_to ? "" : sub->name,
			.to_addr = owner,
			.subject = out->parts.subject,
			.text = out->parts.text,
			.html = out->parts.html,
			.date = now,
			.message_id = out->message_id,
			.list_name = opt->render.site_name,
			.list_id = opt->list_id,
			.unsubscribe_url = unsub,
			.unsubscribe_mailto = test_to ? NULL : opt->unsubscribe_mailto,
			.feedback_id = test_to ? NULL : opt->feedback_id,
			.cache = c->mime,
		};
		rc = td_mime_build(&m, &out->message, err);
		if (rc)
			td_err_prefix(err, "mime: %s", owner);
	}
	/* Signed last, once: a retry resends these very bytes. */
	if (!rc && !test_to && c->dkim &&
	    (rc = td_dkim_sign(c->dkim, &out->message, now, err)))
		td_err_prefix(err, "dkim: %s", sub->email);
	free(unsub);
	if (rc)
		td_composed_free(out);
	return rc;
}

int td_compose(struct td_composer *c, const struct td_subscriber *sub,
	       time_t now, struct td_composed *out, struct td_err *err)
{
	return compose(c, sub, NULL, NULL, now, out, err);
}

int td_compose_view(struct td_composer *c, const struct td_subscriber *sub,
		    const struct td_reader_view *view, time_t now,
		    struct td_composed *out, struct td_err *err)
{
	return compose(c, sub, view, NULL, now, out, err);
}

int td_compose_test(struct td_composer *c, const struct td_subscriber *sub,
		    const char *address, time_t now, struct td_composed *out,
		    struct td_err *err)
{
	return compose(c, sub, NULL, address, now, out, err);
}

void td_composed_free(struct td_composed *m)
{
	td_digest_free(&m->digest);
	td_rendered_free(&m->parts);
	free(m->message_id);
	td_buf_free(&m->message);
	m->message_id = NULL;
}

