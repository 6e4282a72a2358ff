/*
 * options.c: the config, cut into each module's options (see options.h).
 *
 * Plain field copies: the config loader has already filled defaults and
 * checked every value, so nothing here decides anything. The verp is
 * the exception that owns something: it needs the secret loaded.
 */
#include "tagdigest/cli/options.h"

#include <string.h>

#include "tagdigest/core/util.h"

struct td_schedule td_options_schedule(const struct td_config *cfg)
{
	return (struct td_schedule){
		.wday = cfg->slot_wday,
		.hour = cfg->slot_hour,
		.minute = cfg->slot_minute,
		.tz = cfg->tz,
	};
}

struct td_digest_options td_options_digest(const struct td_config *cfg)
{
	return (struct td_digest_options){
		.max_posts = cfg->max_posts,
		.first_digest_days = cfg->first_digest_days,
		.tag_url = cfg->tag_url,
	};
}

struct td_render_options td_options_render(const struct td_config *cfg)
{
	return (struct td_render_options){
		.templates_dir = cfg->templates_dir,
		.site_name = cfg->site_name,
		.site_url = cfg->site_url,
		.tag_url = cfg->tag_url,
		.excerpt_chars = cfg->excerpt_chars,
		.tz = cfg->tz,
		.language = cfg->language,
		.postal_address = cfg->postal_address,
	};
}

struct td_fetch_options td_options_fetch(const struct td_config *cfg)
{
	return (struct td_fetch_options){
		.parallel = cfg->fetch_parallel,
		.timeout = cfg->fetch_timeout,
		.connect_timeout = cfg->fetch_connect_timeout,
		.max_bytes = cfg->fetch_max_bytes,
		.max_redirects = cfg->fetch_max_redirects,
	};
}

struct td_ingest_options td_options_ingest(const struct td_config *cfg)
{
	return (struct td_ingest_options){
		.sources = cfg->sources,
		.nsources = cfg->nsources,
		.fetch = td_options_fetch(cfg),
	};
}

struct td_transport_options td_options_transport(const struct td_config *cfg)
{
	return (struct td_transport_options){
		.type = cfg->transport_type,
		.timeout = cfg->smtp_timeout,
		.maildir = cfg->maildir_path,
		.sendmail = cfg->sendmail_path,
		.smtp = {
			.url = cfg->smtp_url,
			.username = cfg->smtp_username,
			.password_env = cfg->smtp_password_env,
			.password_file = cfg->smtp_password_file,
			.starttls = cfg->smtp_starttls,
			.ca_file = cfg->smtp_ca_file,
			.max_messages_per_connection = cfg->max_messages_per_connection,
			.ehlo = cfg->smtp_ehlo,
			.from_address = cfg->from_address,
			.site_url = cfg->site_url,
		},
	};
}

struct td_status_options td_options_status(const struct td_config *cfg)
{
	return (struct td_status_options){
		.schedule = td_options_schedule(cfg),
		.store_path = cfg->store_path,
		.sources = cfg->sources,
		.nsources = cfg->nsources,
		.digest = td_options_digest(cfg),
		.bounces = td_options_bounces(cfg, NULL).policy,
	};
}

struct td_compose_options td_options_compose(const struct td_config *cfg)
{
	return (struct td_compose_options){
		.render = td_options_render(cfg),
		.digest = td_options_digest(cfg),
		.schedule = td_options_schedule(cfg),
		.token_secret_env = cfg->token_secret_env,
		.token_secret_file = cfg->token_secret_file,
		.dkim_domain = cfg->dkim_domain,
		.dkim_selector = cfg->dkim_selector,
		.dkim_key_file = cfg->dkim_key_file,
		.from_name = cfg->from_name,
		.from_address = cfg->from_address,
		.reply_to = cfg->reply_to,
		.unsubscribe_url = cfg->unsubscribe_url,
		.preferences_url = cfg->preferences_url,
		.unsubscribe_mailto = cfg->unsubscribe_mailto,
		.list_id = cfg->list_id,
		.feedback_id = cfg->feedback_id,
	};
}

struct td_deliver_options td_options_deliver(const struct td_config *cfg)
{
	return (struct td_deliver_options){
		.compose = td_options_compose(cfg),
		.transport = td_options_transport(cfg),
		.connections = cfg->connections,
		.rate_per_second = cfg->rate_per_second,
		.rate_per_hour = cfg->rate_per_hour,
		.run_retries = cfg->run_retries,
		.retry_max_attempts = cfg->retry_max_attempts,
		.retry_backoff = cfg->retry_backoff,
		.retry_max_hours = cfg->retry_max_hours,
		.max_permanent_failures = cfg->max_permanent_failures,
		.max_consecutive_tempfails = cfg->max_consecutive_tempfails,
		.relays = cfg->relays,
		.nrelays = cfg->nrelays,
		.relay_pause = cfg->relay_pause,
		.throttles = cfg->throttles,
		.nthrottles = cfg->nthrottles,
	};
}

struct td_desk_options td_options_desk(const struct td_config *cfg)
{
	return (struct td_desk_options){
		.deliver = td_options_deliver(cfg),
		.ingest = td_options_ingest(cfg),
		.store_path = cfg->store_path,
		.subscribers_path = cfg->subscribers_path,
		.bounces = td_options_bounces(cfg, NULL).policy,
	};
}

struct td_public_options td_options_public(const struct td_config *cfg)
{
	return (struct td_public_options){
		.base_url = cfg->public_url,
		.signup_tags = &cfg->signup_tags,
		.confirm_hours = cfg->confirm_hours,
		.welcome_now = cfg->welcome_now,
		.signups_per_hour = cfg->signups_per_hour,
		.confirm_mails_per_day = cfg->confirm_mails_per_day,
		.trusted_proxies = &cfg->trusted_proxies,
		.threads = cfg->public_threads,
		.max_connections = cfg->max_connections,
		.max_connections_per_ip = cfg->max_connections_per_ip,
		.connection_timeout = cfg->connection_timeout,
	};
}

int td_options_verp(const struct td_config *cfg, bool create, struct td_verp_setup *out,
		    struct td_err *err)
{
	memset(out, 0, sizeof *out);
	if (!cfg->return_path)
		return 0;
	int rc = create ? td_mkdir_parents(cfg->token_secret_file, err) : 0;
	if (!rc)
		rc = td_secret_load(cfg->token_secret_env, cfg->token_secret_file, create,
				    &out->secret, err);
	/* the template was checked when the config was loaded */
	if (!rc)
		rc = td_verp_init(&out->verp, cfg->return_path, &out->secret, err);
	if (rc) {
		td_options_verp_free(out);
		return rc;
	}
	out->use = &out->verp;
	return 0;
}

void td_options_verp_free(struct td_verp_setup *s)
{
	td_verp_free(&s->verp);
	td_secret_free(&s->secret);
	s->use = NULL;
}

struct td_bounce_options td_options_bounces(const struct td_config *cfg,
					    const struct td_verp *verp)
{
	return (struct td_bounce_options){
		.mailbox = {
			.spec = cfg->bounce_mailbox,
			.password_env = cfg->bounce_password_env,
			.password_file = cfg->bounce_password_file,
			.ca_file = cfg->bounce_ca_file,
			.processed_folder = cfg->bounce_processed_folder,
			.timeout = cfg->bounce_timeout,
		},
		.verp = verp,
		.policy = {
			.hard_after = cfg->bounce_hard_after,
			.soft_threshold = cfg->bounce_soft_threshold,
			.soft_half_life_days = cfg->bounce_soft_half_life_days,
		},
		.max_messages = (size_t)cfg->bounce_max_messages,
		.log = NULL,
	};
}
