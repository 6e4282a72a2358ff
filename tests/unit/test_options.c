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
#include "tagdigest/cli/options.h"

static const char config_text[] =
	"[site]\n"
	"name = Options Weekly\n"
	"url = https://opts.example.org\n"
	"from = digest@mail.opts.example.org\n"
	"tag_url = https://opts.example.org/t/{tag}\n"
	"from_name = Opts Desk\n"
	"list_id = weekly.opts.example.org\n"
	"unsubscribe_url = https://u.opts.example.org/off/\n"
	"unsubscribe_mailto = off@opts.example.org\n"
	"feedback_id = w1:opts\n"
	"[subscribers]\npath = subs.csv\n"
	"[secrets]\ntoken_secret_env = OPTS_SECRET\ntoken_secret_file = opts.secret\n"
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
	"connections = 5\nrate_per_second = 31\nrate_per_hour = 3700\n"
	"run_retries = 4\nretry_max_attempts = 9\nretry_max_hours = 29\n"
	"retry_backoff = 61\nmax_permanent_failures = 6\n"
	"max_consecutive_tempfails = 23\n"
	"[fetch]\nparallel = 3\ntimeout = 19\nconnect_timeout = 7\n"
	"max_bytes = 4096\nmax_redirects = 2\n"
	"[public]\nurl = https://r.opts.example.org\nsignup_tags = World, Asia\n"
	"confirm_hours = 12\nwelcome = now\nsignups_per_hour = 7\n"
	"confirm_mails_per_day = 2\ntrusted_proxies = 10.9.8.7\nthreads = 3\n"
	"max_connections = 300\nmax_connections_per_ip = 9\nconnection_timeout = 14\n"
	"[bounces]\nreturn_path = b+{token}@bounce.opts.example.org\n"
	"mailbox = imaps://bb@imap.opts.example.org/Bounces\npassword_env = BPW\n"
	"password_file = bpw.txt\nca_file = bca.pem\nprocessed_folder = Done\n"
	"timeout = 8\nhard_after = 2\nsoft_threshold = 4\n"
	"soft_half_life_days = 6\nmax_messages = 77\n"
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
	write_file(tmpl, "o.conf", config_text);
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

	struct td_compose_options co = td_options_compose(&cfg);
	CHECK_STR(co.render.site_name, "Options Weekly");
	CHECK(co.render.excerpt_chars == 123 && co.render.tz == cfg.tz);
	CHECK(co.digest.max_posts == 13 && co.digest.first_digest_days == 11);
	CHECK(co.schedule.wday == 3 && co.schedule.hour == 9 &&
	      co.schedule.minute == 45 && co.schedule.tz == cfg.tz);
	CHECK_STR(co.token_secret_env, "OPTS_SECRET");
	CHECK(co.token_secret_file == cfg.token_secret_file && co.token_secret_file);
	CHECK(co.dkim_domain == NULL && co.dkim_selector == NULL &&
	      co.dkim_key_file == NULL);
	CHECK_STR(co.from_name, "Opts Desk");
	CHECK_STR(co.from_address, "digest@mail.opts.example.org");
	CHECK_STR(co.unsubscribe_url, "https://u.opts.example.org/off/");
	CHECK_STR(co.preferences_url, "https://r.opts.example.org/preferences/");
	CHECK_STR(co.unsubscribe_mailto, "off@opts.example.org");
	CHECK_STR(co.list_id, "weekly.opts.example.org");
	CHECK_STR(co.feedback_id, "w1:opts");

	struct td_deliver_options dv = td_options_deliver(&cfg);
	CHECK_STR(dv.compose.from_address, "digest@mail.opts.example.org");
	CHECK_STR(dv.compose.list_id, "weekly.opts.example.org");
	CHECK(dv.transport.type == TD_TRANSPORT_SMTP && dv.transport.timeout == 17);
	CHECK(dv.transport.smtp.max_messages_per_connection == 42);
	CHECK(dv.connections == 5);
	CHECK(dv.rate_per_second == 31 && dv.rate_per_hour == 3700);
	CHECK(dv.run_retries == 4 && dv.retry_max_attempts == 9);
	CHECK(dv.retry_max_hours == 29 && dv.retry_backoff == 61);
	CHECK(dv.max_permanent_failures == 6 && dv.max_consecutive_tempfails == 23);

	struct td_desk_options dk = td_options_desk(&cfg);
	CHECK(dk.store_path == cfg.store_path && dk.store_path);
	CHECK(dk.subscribers_path == cfg.subscribers_path && dk.subscribers_path);
	CHECK(dk.ingest.sources == cfg.sources && dk.ingest.nsources == 2);
	CHECK(dk.ingest.fetch.timeout == 19);
	CHECK(dk.deliver.connections == 5 && dk.deliver.retry_backoff == 61);
	CHECK_STR(dk.deliver.compose.feedback_id, "w1:opts");
	CHECK(dk.deliver.compose.render.templates_dir == cfg.templates_dir);

	struct td_public_options po = td_options_public(&cfg);
	CHECK_STR(po.base_url, "https://r.opts.example.org");
	CHECK(po.signup_tags == &cfg.signup_tags && po.signup_tags->n == 2);
	CHECK_STR(po.signup_tags->v[0], "world");
	CHECK(po.confirm_hours == 12 && po.welcome_now);
	CHECK(po.signups_per_hour == 7 && po.confirm_mails_per_day == 2);
	CHECK(po.trusted_proxies->n == 1);
	CHECK_STR(po.trusted_proxies->v[0], "10.9.8.7");
	CHECK(po.threads == 3 && po.max_connections == 300);
	CHECK(po.max_connections_per_ip == 9 && po.connection_timeout == 14);

	/* the deliver options leave the verp to the caller */
	CHECK(dv.verp == NULL);
	struct td_verp_setup vs;
	setenv("OPTS_SECRET", "an options test secret, 32 bytes", 1);
	CHECK(td_options_verp(&cfg, false, &vs, &err) == 0);
	CHECK(vs.use == &vs.verp && vs.verp.secret == &vs.secret);
	CHECK(vs.secret.len == 32);
	CHECK_STR(vs.verp.prefix, "b+");
	CHECK_STR(vs.verp.suffix, "@bounce.opts.example.org");
	struct td_bounce_options bo = td_options_bounces(&cfg, vs.use);
	CHECK(bo.verp == vs.use);
	CHECK_STR(bo.mailbox.spec, "imaps://bb@imap.opts.example.org/Bounces");
	CHECK_STR(bo.mailbox.password_env, "BPW");
	CHECK(bo.mailbox.password_file == cfg.bounce_password_file &&
	      strstr(bo.mailbox.password_file, "/bpw.txt"));
	CHECK(bo.mailbox.ca_file == cfg.bounce_ca_file && strstr(bo.mailbox.ca_file, "/bca.pem"));
	CHECK_STR(bo.mailbox.processed_folder, "Done");
	CHECK(bo.mailbox.timeout == 8);
	CHECK(bo.policy.hard_after == 2 && bo.policy.soft_threshold == 4.0 &&
	      bo.policy.soft_half_life_days == 6);
	CHECK(bo.max_messages == 77 && bo.log == NULL);
	td_options_verp_free(&vs);
	CHECK(vs.use == NULL && vs.secret.bytes == NULL);
	/* without a return path: nothing loaded, no verp */
	free(cfg.return_path);
	cfg.return_path = NULL;
	unsetenv("OPTS_SECRET");
	CHECK(td_options_verp(&cfg, false, &vs, &err) == 0);
	CHECK(vs.use == NULL && vs.secret.bytes == NULL);
	td_options_verp_free(&vs);
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
