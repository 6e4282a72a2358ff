/*
 * config: the INI configuration (parsed with inih), checked and resolved.
 *
 * td_config_load() reads the file, applies the `-o SECTION.KEY=VALUE`
 * overrides in order, fills defaults, validates every value, and resolves
 * relative paths against the directory holding the config file (so cron,
 * which starts in $HOME, sees the same files as a shell in the repo).
 *
 * Errors name file, line and key: "config/tagdigest.conf:12: schedule.day:
 * 'Funday' is not a day of the week". An override error names the option:
 * "-o schedule.day=Funday: ...". Unknown sections and keys are errors.
 * Secrets are never read from the config text: a key such as
 * `password` is refused with a message pointing at `password_file` /
 * `password_env`.
 *
 * Only the config loader and whoever wires the program together (the
 * command line, the desk, the delivery engine) see this struct; each
 * module gets its own options, built from it by options.h.
 *
 * Ownership: the config owns every string and the loaded zone (tz);
 * td_config_free() releases them.
 */
#ifndef TAGDIGEST_CONFIG_H
#define TAGDIGEST_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "tagdigest/core/err.h"
#include "tagdigest/sources/source.h"
#include "tagdigest/deliver/relays.h"
#include "tagdigest/deliver/transport.h"
#include "tagdigest/core/tz.h"
#include "tagdigest/core/util.h"

struct td_config {
	char *file;              /* the config file as given */
	char *base_dir;          /* its directory; relative paths resolve here */

	/* [site] */
	char *site_name;         /* required */
	char *site_url;          /* required, http(s)://..., no trailing slash kept */
	char *from_address;      /* required, validated address */
	char *from_name;         /* default: site_name */
	char *list_id;           /* default: "digest." + host of site_url */
	char *unsubscribe_url;   /* default: public_url + "/unsubscribe/"; token appended */
	char *tag_url;           /* default: site_url + "/tag/{tag}/"; {tag} -> slug */
	char *unsubscribe_mailto;/* optional: also offer mailto: in List-Unsubscribe */
	char *feedback_id;       /* optional Feedback-ID header value */
	char *reply_to;          /* optional Reply-To: address (validated) */
	char *postal_address;    /* optional one-line postal address for the
				  * footer (CAN-SPAM asks for one in
				  * commercial mail); UTF-8, no controls */
	char *language;          /* `language`: the site's language for dates
				  * and the digest's fixed words, a language
				  * tag such as en, de, fr, pt-BR; default en */

	/* [store] */
	char *store_path;        /* default: var/tagdigest.db (resolved); the
				  * [store] url instead when one is set, so
				  * whatever opens the store takes either */
	char *store_url;         /* postgresql://...; NULL: SQLite at the path */

	/* [schedule] */
	int slot_wday;           /* 0 = Sunday .. 6 = Saturday; `day = monday` */
	int slot_hour;           /* `time = 08:00` */
	int slot_minute;
	char *timezone;          /* IANA name, default "UTC"; must exist in zoneinfo */
	struct td_tz *tz;        /* that zone, loaded (tz.h) */
	int first_digest_days;   /* default 7: what a new subscriber's first digest covers */

	/* [digest] */
	int max_posts;           /* per-digest cap, default 20, 1..1000 */
	int excerpt_chars;       /* default 280, 0..TD_EXCERPT_MAX; 0: titles only */

	/* [send]: several senders on one PostgreSQL store (store/claims.h) */
	int send_lease;          /* seconds a claimed batch stays a sender's
				  * without renewal, default 30, 3..3600 */
	int send_batch;          /* member ids per batch, default 1000,
				  * 1..1000000 */

	/* [subscribers] */
	char *subscribers_path;  /* default: subscribers/subscribers.csv (resolved) */

	/* [templates] */
	char *templates_dir;     /* default: templates (resolved) when that
				  * folder exists, else the installed
				  * BINDIR/../share/tagdigest/templates */

	/* [transport] */
	enum td_transport_type transport_type;  /* `type = maildir|smtp|sendmail` */
	char *maildir_path;      /* default: outbox (resolved) */
	char *smtp_url;          /* smtp://host:port or smtps://host:port */
	char *smtp_username;     /* optional */
	char *smtp_password_env; /* name of an environment variable */
	char *smtp_password_file;/* resolved path */
	int smtp_timeout;        /* seconds, default 30 */
	enum td_starttls smtp_starttls; /* after loading: REQUIRED or OFF;
				  * default REQUIRED with a username, else OFF;
				  * OFF with a username on smtp:// is refused */
	char *smtp_ca_file;      /* PEM CA bundle to verify the server (resolved) */
	char *smtp_ehlo;         /* EHLO name; default: the domain of site.from */
	char *sendmail_path;     /* type = sendmail; default /usr/sbin/sendmail */
	int connections;         /* parallel sessions, default 1, 1..64 */
	int max_messages_per_connection; /* then reconnect; default 100 */
	int rate_per_second;     /* 0 = no limit */
	int rate_per_hour;       /* 0 = no limit */
	int run_retries;         /* in-run retries of a temporary failure
				  * (1 s, then 4 s, ...), default 2, 0..5 */
	int retry_max_attempts;  /* attempts over all runs before giving up on
				  * one digest, default 30 */
	int retry_backoff;       /* seconds before a later run may retry:
				  * doubles per attempt, capped at 6 h;
				  * default 300 */
	int retry_max_hours;     /* age after which a digest is given up,
				  * default 72 */
	int max_permanent_failures;   /* consecutive, then suppressed; default 3 */
	int max_consecutive_tempfails;/* then the run stops early; default 20 */
	int relay_pause;         /* seconds a relay that failed is left alone,
				  * default 60 */

	/* [relay.NAME]: several SMTP relays instead of [transport] url (and
	 * its login keys); type must be smtp. With them, connections is
	 * the sessions over all relays: when the file does not set it, the
	 * sum of the relays' connections */
	struct td_relay_config *relays;  /* in file order; NULL, 0: none */
	size_t nrelays;
	/* [throttle.DOMAIN]: per receiving domain limits (relays.h) */
	struct td_throttle_config *throttles;
	size_t nthrottles;

	/* [fetch]: how feeds are downloaded */
	int fetch_parallel;       /* sources fetched at once, default 4 */
	int fetch_timeout;        /* whole transfer, seconds, default 30 */
	int fetch_connect_timeout;/* seconds, default 10 */
	int fetch_max_bytes;      /* body cap, default 10 MiB */
	int fetch_max_redirects;  /* default 5 */

	/* [dkim]: all three or none; signing is off when none is set */
	char *dkim_domain;        /* d=, e.g. newsroom.example.org */
	char *dkim_selector;      /* s=, e.g. digest2026 */
	char *dkim_key_file;      /* PEM private key (RSA or Ed25519), resolved */

	/* [secrets] */
	char *token_secret_env;  /* default "TAGDIGEST_TOKEN_SECRET" */
	char *token_secret_file; /* default: store_path + ".secret" */

	/* [public]: the reader's pages of `serve --public` */
	char *public_url;        /* `url`, default site_url; no trailing slash kept */
	char *preferences_url;   /* not a key: public_url + "/preferences/";
				  * a "preferences" token is appended */
	struct td_strv signup_tags; /* slugs (names are slugified); empty:
				  * every tag the site has */
	int confirm_hours;       /* a confirmation link's life, default 48, 1..720 */
	bool welcome_now;        /* `welcome = now`; default next-slot (false) */
	int signups_per_hour;    /* per client address, default 5, 1..10000 */
	int confirm_mails_per_day; /* per subscriber address, default 3, 1..100 */
	struct td_strv trusted_proxies; /* IP addresses (inet_ntop form) whose
				  * X-Forwarded-For is believed; default none */
	int public_threads;      /* `threads`, default 4, 1..256 */
	int max_connections;     /* default 1000, 1..100000 */
	int max_connections_per_ip; /* default 16, at most max_connections */
	int connection_timeout;  /* seconds without progress, default 10, 1..3600 */

	/* [bounces]: mail that comes back (bounce/process.h, compose/verp.h) */
	char *return_path;       /* VERP template with one {token} in the local
				  * part; NULL: off, the envelope is site.from */
	char *bounce_mailbox;    /* `mailbox` spec (mailbox.h); NULL: not read */
	char *bounce_password_env;  /* `password_env` */
	char *bounce_password_file; /* `password_file`, resolved */
	char *bounce_ca_file;       /* `ca_file`, resolved */
	char *bounce_processed_folder; /* `processed_folder`; NULL: delete */
	int bounce_timeout;         /* `timeout`, seconds, default 30, 1..600 */
	int bounce_hard_after;      /* `hard_after`, default 1, 1..100 */
	int bounce_soft_threshold;  /* `soft_threshold`, default 5, 1..1000 */
	int bounce_soft_half_life_days; /* `soft_half_life_days`, default 7, 1..365 */
	int bounce_max_messages;    /* `max_messages`: mails acted on per run
				     * (process.h), default 10000 */

	struct td_source_config *sources;   /* in file order */
	size_t nsources;
};

/* Loads path with the overrides ("section.key=value", n of them).
 * Returns 0, EX_NOINPUT (cannot read the file) or EX_CONFIG. */
int td_config_load(struct td_config *cfg, const char *path,
		   const char *const *overrides, size_t noverrides,
		   struct td_err *err);
void td_config_free(struct td_config *cfg);

struct td_buf;
/* Appends tagdigest.conf(5), in man(7) roff, generated from the reader's
 * own table of sections and keys (each row carries its description,
 * default and allowed values), so the page cannot drift from what the
 * reader accepts. `make` builds build/man/tagdigest.conf.5 with it
 * (tools/conf_doc.c). Returns 0, or EX_SOFTWARE with err naming the key
 * or section that has no description, which fails the build. */
int td_config_write_man(struct td_buf *out, struct td_err *err);

#endif
