/*
 * test_options.c: every module's options carry the config keys meant for
 * them. The config sets each key to a value no other key has, so a field
 * wired to the wrong key (fetch.timeout into connect_timeout, say) shows.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "tagdigest/options.h"

static const char config_text[] =
	"[site]\n"
	"name = Options Weekly\n"
	"url = https://opts.example.org\n"
	"from = digest@mail.opts.example.org\n"
	"tag_url = https://opts.example.org/t/{tag}\n"
	"[store]\npath = var/o.db\n"
	"[schedule]\nday = wednesday\ntime = 09:45\ntimezone = Asia/Kolkata\n"
	"first_digest_days = 11\n"
	"[digest]\nmax_posts = 13\nexcerpt_chars = 123\n"
	"[templates]\ndir = tpl\n"
	"[transport]\ntype = smtp\nurl = smtp://relay.opts.example.org:2525\n"
	"username = u1\npassword_file = pw.txt\ntimeout = 17\nstarttls = required\n"
	"ca_file = ca.pem\nehlo = helo.opts.example.org\n"
	"sendmail_path = /usr/lib/sendmail\nmax_messages_per_connection = 42\n"
	"path = box\n"
	"[fetch]\nparallel = 3\ntimeout = 19\nconnect_timeout = 7\n"
	"max_bytes = 4096\nmax_redirects = 2\n"
	"[source.local]\ntype = posts\npath = posts\n"
	"[source.wire]\ntype = feed\nurl = https://wire.example.org/feed\n";

static void test_built_from_config(void)
{
	char tmpl[] = "/tmp/td-options-XXXXXX";
	if (!mkdtemp(tmpl)) {
		CHECK(!"mkdtemp");
		return;
	}
	char *path = td_xasprintf("%s/o.conf", tmpl);
	FILE *f = fopen(path, "wb");
	CHECK(f && fputs(config_text, f) >= 0 && fclose(f) == 0);
	struct td_config cfg;
	struct td_err err = { 0, "" };
	int rc = td_config_load(&cfg, path, NULL, 0, &err);
	CHECK(rc == 0);
	if (rc) {
		fprintf(stderr, "  config: %s\n", err.msg);
		goto out;
	}

	struct td_schedule s = td_options_schedule(&cfg);
	CHECK(s.wday == 3 && s.hour == 9 && s.minute == 45);
	CHECK(s.tz == cfg.tz);
	CHECK_STR(td_tz_name(s.tz), "Asia/Kolkata");

	struct td_digest_options d = td_options_digest(&cfg);
	CHECK(d.max_posts == 13 && d.first_digest_days == 11);
	CHECK_STR(d.tag_url, "https://opts.example.org/t/{tag}");

	struct td_render_options r = td_options_render(&cfg);
	CHECK_STR(r.site_name, "Options Weekly");
	CHECK_STR(r.site_url, "https://opts.example.org");
	CHECK_STR(r.tag_url, "https://opts.example.org/t/{tag}");
	CHECK(r.templates_dir == cfg.templates_dir);
	CHECK(r.excerpt_chars == 123);
	CHECK(r.tz == cfg.tz);

	struct td_fetch_options fe = td_options_fetch(&cfg);
	CHECK(fe.parallel == 3 && fe.timeout == 19 && fe.connect_timeout == 7);
	CHECK(fe.max_bytes == 4096 && fe.max_redirects == 2);

	struct td_ingest_options in = td_options_ingest(&cfg);
	CHECK(in.sources == cfg.sources && in.nsources == 2);
	CHECK(in.fetch.parallel == 3 && in.fetch.timeout == 19 &&
	      in.fetch.connect_timeout == 7 && in.fetch.max_bytes == 4096 &&
	      in.fetch.max_redirects == 2);

	struct td_transport_options t = td_options_transport(&cfg);
	CHECK(t.type == TD_TRANSPORT_SMTP);
	CHECK(t.timeout == 17);
	CHECK(t.maildir == cfg.maildir_path);
	CHECK_STR(t.sendmail, "/usr/lib/sendmail");
	CHECK_STR(t.smtp.url, "smtp://relay.opts.example.org:2525");
	CHECK_STR(t.smtp.username, "u1");
	CHECK(t.smtp.password_env == NULL);
	CHECK(t.smtp.password_file == cfg.smtp_password_file && t.smtp.password_file);
	CHECK(t.smtp.starttls == TD_STARTTLS_REQUIRED);
	CHECK(t.smtp.ca_file == cfg.smtp_ca_file && t.smtp.ca_file);
	CHECK(t.smtp.max_messages_per_connection == 42);
	CHECK_STR(t.smtp.ehlo, "helo.opts.example.org");
	CHECK_STR(t.smtp.from_address, "digest@mail.opts.example.org");
	CHECK_STR(t.smtp.site_url, "https://opts.example.org");

	struct td_status_options st = td_options_status(&cfg);
	CHECK(st.schedule.wday == 3 && st.schedule.hour == 9 &&
	      st.schedule.minute == 45 && st.schedule.tz == cfg.tz);
	CHECK(st.store_path == cfg.store_path);
	CHECK(st.sources == cfg.sources && st.nsources == 2);
	CHECK(st.digest.max_posts == 13 && st.digest.first_digest_days == 11 &&
	      st.digest.tag_url == cfg.tag_url);
	td_config_free(&cfg);
out:
	unlink(path);
	free(path);
	rmdir(tmpl);
}

int main(void)
{
	TD_RUN(test_built_from_config);
	return TD_DONE("options");
}
