/*
 * notice.c: the mails a reader gets outside the digests (notice.h): so far
 * the double opt-in confirmation.
 *
 * Composed the way a digest is, from the same templates folder and with
 * the same rules: the subject reduced to one line, the text part wrapped
 * at 72 columns, the HTML part escaped, mime.h for the message and the
 * digests' DKIM key when [dkim] is set. What differs is what a
 * confirmation is not: list mail. It carries no List-Id and no
 * List-Unsubscribe (the reader is not on the list yet), gets a random
 * Message-ID (each sign-up is its own mail), and says Auto-Submitted so
 * that vacation responders do not answer it (RFC 3834).
 */
#include "tagdigest/compose/notice.h"

#include <stdlib.h>
#include <string.h>

#include "tagdigest/compose/dkim.h"
#include "tagdigest/compose/mime.h"
#include "tagdigest/compose/render.h"
#include "tagdigest/compose/template.h"
#include "tagdigest/core/address.h"

#define MAX_MESSAGE (4u << 20)

static const char *const required[] = {
	"confirm.subject", "confirm.txt", "confirm.html",
};

struct td_notice_composer {
	struct td_compose_options opt;  /* a copy; its strings are the caller's */
	struct td_template_set *set;
	struct td_dkim *dkim;           /* NULL when [dkim] is not configured */
	const char *id_domain;          /* Message-ID right-hand side */
};

int td_notice_composer_new(const struct td_compose_options *opt,
			   struct td_notice_composer **out, struct td_err *err)
{
	struct td_notice_composer *c = td_xcalloc(1, sizeof *c);
	c->opt = *opt;
	c->id_domain = td_address_domain(opt->from_address);
	/* the whole folder, as the digests load it: confirm.* may call the
	 * same partials */
	int rc = td_render_templates_load(opt->render.templates_dir, required,
					  sizeof required / sizeof required[0], &c->set, err);
	/* a bad key is found when the server starts, not at the first
	 * sign-up */
	if (!rc && opt->dkim_domain && opt->dkim_domain[0])
		rc = td_dkim_new(opt->dkim_domain, opt->dkim_selector,
				 opt->dkim_key_file, &c->dkim, err);
	if (rc) {
		td_notice_composer_free(c);
		*out = NULL;
		return rc;
	}
	*out = c;
	return 0;
}

void td_notice_composer_free(struct td_notice_composer *c)
{
	if (!c)
		return;
	td_template_set_free(c->set);
	td_dkim_free(c->dkim);
	free(c);
}

static struct td_value *confirmation_context(const struct td_notice_composer *c,
					     const struct td_confirmation *m)
{
	struct td_value *ctx = td_value_map();
	td_value_map_set(ctx, "site", td_render_site_value(&c->opt.render));

	const char *name = m->name ? m->name : "";
	struct td_value *who = td_value_map_set(ctx, "subscriber", td_value_map());
	td_value_map_set_str(who, "email", m->email);
	td_value_map_set_str(who, "name", name);
	td_value_map_set_bool(who, "has_name", name[0] != '\0');

	td_value_map_set_str(ctx, "confirm_url", m->confirm_url);
	td_value_map_set_int(ctx, "expires_hours", m->expires_hours);
	td_value_map_set_str(ctx, "frequency", m->frequency ? m->frequency : "");
	struct td_value *tags = td_value_map_set(ctx, "tags", td_value_list());
	for (size_t i = 0; m->tag_names && i < m->tag_names->n; i++) {
		struct td_value *t = td_value_list_push(tags, td_value_map());
		td_value_map_set_str(t, "name", m->tag_names->v[i]);
	}
	return ctx;
}

int td_notice_confirmation(struct td_notice_composer *c, const struct td_confirmation *m,
			   time_t now, struct td_buf *out, struct td_err *err)
{
	if (!m->email || !m->confirm_url)
		return td_err_set(err, EX_DATAERR, "confirmation: no %s",
				  m->email ? "confirm_url" : "address");
	char *subject = NULL, *text = NULL, *html = NULL;
	struct td_value *ctx = confirmation_context(c, m);
	int rc = td_render_template(c->set, "confirm.subject", ctx, false, &subject, err);
	if (!rc)
		rc = td_render_template(c->set, "confirm.txt", ctx, false, &text, err);
	if (!rc)
		rc = td_render_template(c->set, "confirm.html", ctx, true, &html, err);
	td_value_free(ctx);

	char *line = NULL, *wrapped = NULL, *id = NULL;
	struct td_buf msg;
	td_buf_init(&msg, MAX_MESSAGE);
	if (!rc) {
		line = td_render_one_line(subject);
		wrapped = td_render_wrap(text, 72);
		id = td_mime_message_id(c->id_domain);
		struct td_mime_message mm = {
			.from_name = c->opt.from_name,
			.from_addr = c->opt.from_address,
			.reply_to = c->opt.reply_to,
			.to_name = m->name ? m->name : "",
			.to_addr = m->email,
			.subject = line,
			.text = wrapped,
			.html = html,
			.date = now,
			.message_id = id,
			.list_name = "",
			.auto_submitted = "auto-generated",
		};
		/* the address and name come from a web form: mime.h checks
		 * them (EX_DATAERR), as it checks the subscriber file's */
		if ((rc = td_mime_build(&mm, &msg, err)))
			td_err_prefix(err, "confirmation: %s", m->email);
	}
	if (!rc && c->dkim && (rc = td_dkim_sign(c->dkim, &msg, now, err)))
		td_err_prefix(err, "dkim: %s", m->email);
	if (!rc && td_buf_append(out, msg.data, msg.len) < 0)
		rc = td_err_set(err, EX_SOFTWARE, "confirmation: %s: the message "
				"does not fit the caller's buffer", m->email);
	td_buf_free(&msg);
	free(subject);
	free(text);
	free(html);
	free(line);
	free(wrapped);
	free(id);
	return rc;
}
