/*
 * config.c: reads tagdigest.conf with inih, applies -o overrides, fills
 * defaults, validates every value and resolves relative paths (config.h).
 *
 * It works in three passes. First the file is read into a flat list of
 * (section, key, value, origin) entries; then each override replaces or
 * adds an entry; only then are the entries checked and turned into the
 * struct td_config, so an override can fix a bad file value and a bad
 * override is reported as the -o that caused it. Every entry remembers
 * where it came from (file line or -o argument) for its messages.
 *
 * Debian's inih has two traps (see ../shared/tech/BRIEF.md §7): the handler
 * gets no line number, and lines longer than INI_MAX_LINE (200) are cut
 * without a word. So we feed inih through our own reader, which counts
 * lines, refuses a line that does not fit in inih's buffer, and checks the
 * shape of each line (section header, key = value, comment) so syntax errors
 * come with a useful message instead of inih's bare line number. The reader
 * also strips leading whitespace: inih would otherwise read an indented
 * "url = ..." as a continuation of the previous key's value.
 */
#include "tagdigest/cli/config.h"

#include <errno.h>
#include <arpa/inet.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tagdigest/core/address.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/core/util.h"
#include "tagdigest/core/version.h"
#include "tagdigest/bounce/mailbox.h"
#include "tagdigest/compose/render.h"
#include "tagdigest/compose/verp.h"
#include "tagdigest/sources/slug.h"

#define SOURCE_NAME_MAX 40     /* inih keeps section names below 50 bytes */

/* What a key's value must look like, and how it is stored. */
enum conf_kind {
	K_TEXT,          /* one line of UTF-8 without controls */
	K_NAME,          /* a display name: td_display_name_valid (address.h) */
	K_SITE_URL,      /* http(s) base URL, trailing '/' stripped */
	K_HTTP_URL,      /* any http(s) URL */
	K_TAG_URL,       /* http(s) URL holding "{tag}" */
	K_ADDRESS,       /* e-mail address (address.h) */
	K_LIST_ID,       /* RFC 2919 list id */
	K_PATH,          /* file or folder, resolved against base_dir */
	K_INT,           /* whole number in [min, max] */
	K_DAY,           /* monday .. sunday, mon .. sun */
	K_TIME,          /* HH:MM, sets slot_hour and slot_minute */
	K_TZ,            /* IANA zone name, also loaded into cfg->tz */
	K_TRANSPORT,     /* maildir | smtp | sendmail */
	K_STARTTLS,      /* required | off */
	K_SMTP_URL,      /* smtp(s)://host[:port] */
	K_ENV_NAME,      /* environment variable name */
	K_SOURCE_TYPE,   /* posts | feed */
	K_FEED_URL,      /* http(s):// or file:// URL of a feed */
	K_BOOL,          /* yes/no, true/false, on/off, 1/0 */
	K_TAGS,          /* comma-separated display names */
	K_DOMAIN,        /* DNS name: LDH labels separated by dots */
	K_FEEDBACK_ID,   /* printable ASCII, no spaces (Feedback-ID header) */
	K_SLUGS,         /* comma-separated tag names or slugs, stored as slugs */
	K_IPS,           /* comma-separated IP addresses, stored normalised */
	K_WELCOME,       /* now | next-slot */
	K_RETURN_PATH,   /* VERP template (verp.h) */
	K_MAILBOX,       /* bounce mailbox spec, td_mailbox_spec_check (mailbox.h) */
	K_FOLDER,        /* a mail folder name */
	K_LANGUAGE,      /* a language tag: en, de, pt-BR */
};

/* One key the reader knows. The table is also the documentation: each
 * row says what the key does, its default and (through its kind, see
 * kind_values) what it accepts; tagdigest.conf(5) is generated from it
 * (td_config_write_man), so a key cannot exist undocumented. */
struct conf_key {
	const char *section;   /* "source" stands for every [source.NAME], "relay"
				* for [relay.NAME], "throttle" for
				* [throttle.DOMAIN] */
	const char *key;
	enum conf_kind kind;
	size_t off;            /* into td_config, or the named section's struct
				* (td_source_config, td_relay_config,
				* td_throttle_config) */
	int min, max;          /* K_INT only */
	int def;               /* K_INT only: the default, set before any entry */
	const char *def_text;  /* other kinds: the default in words; NULL: unset */
	const char *doc;       /* what it does, one or two sentences */
};

#define CF(field) offsetof(struct td_config, field)
#define SF(field) offsetof(struct td_source_config, field)
#define RF(field) offsetof(struct td_relay_config, field)
#define TF(field) offsetof(struct td_throttle_config, field)
/* a K_INT row's tail: range and default; NULL default text */
#define INT(min, max, def) (min), (max), (def), NULL
/* another kind's tail: its default in words */
#define DEF(text) 0, 0, 0, (text)

static const struct conf_key conf_keys[] = {
	{ "site", "name", K_NAME, CF(site_name), DEF("required"),
	  "The newsletter's name: the sender's display name and the digest's title." },
	{ "site", "url", K_SITE_URL, CF(site_url), DEF("required"),
	  "The public site; links to posts and tags start here." },
	{ "site", "from", K_ADDRESS, CF(from_address), DEF("required"),
	  "The From: and envelope sender address. It must be an address your "
	  "mail relay may send as." },
	{ "site", "from_name", K_NAME, CF(from_name), DEF("the site's name"),
	  "The display name in From:." },
	{ "site", "list_id", K_LIST_ID, CF(list_id), DEF("digest. and the host of url, e.g. digest.example.org"),
	  "The List-Id header (RFC 2919)." },
	{ "site", "unsubscribe_url", K_HTTP_URL, CF(unsubscribe_url),
	  DEF("[public] url followed by /unsubscribe/"),
	  "Where the unsubscribe link points; the reader's signed token is appended." },
	{ "site", "tag_url", K_TAG_URL, CF(tag_url), DEF("url followed by /tag/{tag}/"),
	  "The page of one tag; {tag} becomes the tag's slug. A digest links "
	  "\"and N more\" there." },
	{ "site", "unsubscribe_mailto", K_ADDRESS, CF(unsubscribe_mailto), DEF(NULL),
	  "Also offer this address as a mailto: in List-Unsubscribe." },
	{ "site", "feedback_id", K_FEEDBACK_ID, CF(feedback_id), DEF(NULL),
	  "The Feedback-ID header, for mailbox providers' complaint reports." },
	{ "site", "reply_to", K_ADDRESS, CF(reply_to), DEF(NULL),
	  "The Reply-To header: where readers' replies go (without it, to from)." },
	{ "site", "postal_address", K_TEXT, CF(postal_address), DEF(NULL),
	  "The postal address printed in every digest's footer, on one line "
	  "(CAN-SPAM requires one in commercial mail)." },
	{ "site", "language", K_LANGUAGE, CF(language), DEF("en"),
	  "The language of the dates in the digest." },
	{ "store", "path", K_PATH, CF(store_path), DEF("var/tagdigest.db"),
	  "The SQLite database: posts, readers, deliveries, unsubscribes, "
	  "watermarks. Its folder must be writable (the WAL lives next to it)." },
	{ "store", "url", K_TEXT, CF(store_url), DEF(NULL),
	  "A PostgreSQL database instead of the SQLite file, as "
	  "postgresql://user@host:port/dbname?sslmode=verify-full (libpq's URL; "
	  "TLS settings as its parameters). The password never goes here: "
	  "libpq reads PGPASSWORD or a 0600 PGPASSFILE. Several senders and "
	  "public servers can share it." },
	{ "schedule", "day", K_DAY, CF(slot_wday), DEF("monday"),
	  "The day of the weekly slot." },
	{ "schedule", "time", K_TIME, 0, DEF("08:00"),
	  "The local time of the weekly slot, in timezone." },
	{ "schedule", "timezone", K_TZ, CF(timezone), DEF("UTC"),
	  "The time zone of the slot; it must exist in the system's zoneinfo." },
	{ "schedule", "first_digest_days", K_INT, CF(first_digest_days), INT(1, 365, 7),
	  "How many days back a new subscriber's first digest reaches." },
	{ "digest", "max_posts", K_INT, CF(max_posts), INT(1, 1000, 20),
	  "At most this many posts in one digest; the rest are counted as "
	  "\"and N more\", linked to the tag's page." },
	{ "digest", "excerpt_chars", K_INT, CF(excerpt_chars), INT(0, TD_EXCERPT_MAX, 280),
	  "Length of a post's excerpt in characters (0: titles only). Cut when a "
	  "digest is rendered, so a change applies to every post on the next run." },
	{ "send", "lease", K_INT, CF(send_lease), INT(3, 3600, 30),
	  "PostgreSQL store: seconds a batch of readers stays one sender's "
	  "claim without renewal (a live sender renews every third of it); a "
	  "sender that died leaves its batches to the others after this long." },
	{ "send", "batch", K_INT, CF(send_batch), INT(1, 1000000, 1000),
	  "PostgreSQL store: readers (by member id) in one batch that a sender "
	  "claims; several senders split the list into such batches." },
	{ "subscribers", "path", K_PATH, CF(subscribers_path),
	  DEF("subscribers/subscribers.csv"),
	  "The subscriber file: CSV with the columns email, name and tags, "
	  "synced into the store on each run." },
	{ "templates", "dir", K_PATH, CF(templates_dir),
	  DEF("templates/ next to the config file if it exists, else the "
	      "installed default templates"),
	  "The folder with digest.subject.mustache, digest.txt.mustache, "
	  "digest.html.mustache and partials/." },
	{ "transport", "type", K_TRANSPORT, CF(transport_type), DEF("maildir"),
	  "How messages leave: maildir writes each message as a file into path "
	  "(safe for trying out); smtp hands them to the server at url; sendmail "
	  "runs sendmail_path." },
	{ "transport", "path", K_PATH, CF(maildir_path), DEF("outbox"),
	  "The Maildir that type = maildir writes into." },
	{ "transport", "url", K_SMTP_URL, CF(smtp_url), DEF("required with type = smtp"),
	  "The SMTP server: smtp:// (STARTTLS or plain) or smtps:// (TLS from "
	  "the start)." },
	{ "transport", "username", K_TEXT, CF(smtp_username), DEF(NULL),
	  "The SMTP AUTH login; needs password_env or password_file, and TLS." },
	{ "transport", "password_env", K_ENV_NAME, CF(smtp_password_env), DEF(NULL),
	  "The environment variable holding the SMTP password, read at send time." },
	{ "transport", "password_file", K_PATH, CF(smtp_password_file), DEF(NULL),
	  "The file holding the SMTP password; it must not be readable by group "
	  "or others." },
	{ "transport", "timeout", K_INT, CF(smtp_timeout), INT(1, 600, 30),
	  "Seconds to wait for each server reply (a whole transaction: 4 times that)." },
	{ "transport", "starttls", K_STARTTLS, CF(smtp_starttls),
	  DEF("required with a username, else off"),
	  "required fails the run when the server offers no STARTTLS; off only for "
	  "a local relay without credentials." },
	{ "transport", "ca_file", K_PATH, CF(smtp_ca_file), DEF("the system's CAs"),
	  "A PEM file of the CA that signed the relay's certificate; verification "
	  "is always on." },
	{ "transport", "ehlo", K_DOMAIN, CF(smtp_ehlo), DEF("the domain of [site] from"),
	  "The name sent in EHLO." },
	{ "transport", "sendmail_path", K_PATH, CF(sendmail_path),
	  DEF("/usr/sbin/sendmail"),
	  "The sendmail program for type = sendmail, run as sendmail -oi -f FROM "
	  "-- RCPT, without a shell." },
	{ "transport", "connections", K_INT, CF(connections), INT(1, 64, 1),
	  "Parallel SMTP sessions." },
	{ "transport", "max_messages_per_connection", K_INT,
	  CF(max_messages_per_connection), INT(1, 1000000, 100),
	  "Messages sent over one session before it quits and reconnects." },
	{ "transport", "rate_per_second", K_INT, CF(rate_per_second), INT(0, 100000, 0),
	  "At most this many message starts per second over all sessions (0: no limit)." },
	{ "transport", "rate_per_hour", K_INT, CF(rate_per_hour), INT(0, 100000000, 0),
	  "At most this many message starts per hour over all sessions (0: no limit)." },
	{ "transport", "run_retries", K_INT, CF(run_retries), INT(0, 5, 2),
	  "In-run retries of a temporary failure, after 1 s, then 4 s, ..." },
	{ "transport", "retry_max_attempts", K_INT, CF(retry_max_attempts),
	  INT(1, 1000, 30),
	  "Attempts over all runs before one digest is given up for its slot "
	  "(its posts stay for the next one)." },
	{ "transport", "retry_max_hours", K_INT, CF(retry_max_hours), INT(1, 24 * 365, 72),
	  "Age in hours after which a digest that keeps failing is given up." },
	{ "transport", "retry_backoff", K_INT, CF(retry_backoff), INT(0, 86400, 300),
	  "Seconds before a later run retries a failed digest; doubles per attempt, "
	  "at most 6 hours." },
	{ "transport", "max_permanent_failures", K_INT, CF(max_permanent_failures),
	  INT(1, 1000, 3),
	  "Refused digests in a row before the subscriber is suppressed as bounced." },
	{ "transport", "max_consecutive_tempfails", K_INT,
	  CF(max_consecutive_tempfails), INT(1, 1000000, 20),
	  "Temporary failures in a row that stop the run early (exit status 75)." },
	{ "transport", "relay_pause", K_INT, CF(relay_pause), INT(1, 86400, 60),
	  "Seconds a [relay.NAME] that refused or timed out a connection, or "
	  "answered 421, is left alone; its messages go to the other relays "
	  "meanwhile, and then it is tried again." },
	{ "relay", "url", K_SMTP_URL, RF(url), DEF("required"),
	  "The relay: smtp:// (STARTTLS or plain) or smtps:// (TLS from the start)." },
	{ "relay", "username", K_TEXT, RF(username), DEF(NULL),
	  "The SMTP AUTH login at this relay; needs password_env or password_file, "
	  "and TLS." },
	{ "relay", "password_env", K_ENV_NAME, RF(password_env), DEF(NULL),
	  "The environment variable holding this relay's password, read at send time." },
	{ "relay", "password_file", K_PATH, RF(password_file), DEF(NULL),
	  "The file holding this relay's password; it must not be readable by "
	  "group or others." },
	{ "relay", "starttls", K_STARTTLS, RF(starttls),
	  DEF("required with a username, else off"),
	  "As [transport] starttls, for this relay." },
	{ "relay", "ca_file", K_PATH, RF(ca_file), DEF("the system's CAs"),
	  "A PEM file of the CA that signed this relay's certificate." },
	{ "relay", "connections", K_INT, RF(connections), INT(1, 64, 1),
	  "Sessions this relay takes at once at most." },
	{ "relay", "weight", K_INT, RF(weight), INT(1, 1000, 1),
	  "This relay's share of the sessions, relative to the other relays' "
	  "weights (within each one's connections)." },
	{ "throttle", "per_second", K_INT, TF(per_second), INT(0, 100000, 0),
	  "Message starts to this domain per second at most, over all sessions "
	  "and relays of one sender process (0: no limit)." },
	{ "throttle", "per_hour", K_INT, TF(per_hour), INT(0, 100000000, 0),
	  "Messages to this domain per hour at most, per sender process: a budget "
	  "that starts full with each run and refills over the hour; readers past "
	  "it are left for the next run (0: no limit)." },
	{ "secrets", "token_secret_env", K_ENV_NAME, CF(token_secret_env),
	  DEF("TAGDIGEST_TOKEN_SECRET"),
	  "The environment variable holding the key that signs unsubscribe and "
	  "preference tokens; used when set." },
	{ "secrets", "token_secret_file", K_PATH, CF(token_secret_file),
	  DEF("the store's path followed by .secret"),
	  "The file holding that key when the variable is not set; created on "
	  "first use." },
	{ "source", "type", K_SOURCE_TYPE, SF(type), DEF("required"),
	  "posts reads a folder of Markdown posts with front matter; feed reads "
	  "an RSS or Atom feed." },
	{ "source", "path", K_PATH, SF(path), DEF("required with type = posts"),
	  "The folder of Markdown posts." },
	{ "source", "url", K_FEED_URL, SF(url), DEF("required with type = feed"),
	  "The feed's address." },
	{ "source", "categories", K_BOOL, SF(categories), DEF("yes"),
	  "For a feed: the items' categories become tags." },
	{ "source", "tags", K_TAGS, SF(tags), DEF(NULL),
	  "Fixed tags added to every post of this source, e.g. a tag feed's own tag." },
	{ "dkim", "domain", K_DOMAIN, CF(dkim_domain), DEF(NULL),
	  "The signing domain (d=). Set domain, selector and key_file together to "
	  "sign every message, or none of them to send unsigned." },
	{ "dkim", "selector", K_DOMAIN, CF(dkim_selector), DEF(NULL),
	  "The selector (s=) under which the public key is published in DNS." },
	{ "dkim", "key_file", K_PATH, CF(dkim_key_file), DEF(NULL),
	  "The private key, RSA or Ed25519 in PEM, mode 0600." },
	{ "fetch", "parallel", K_INT, CF(fetch_parallel), INT(1, 32, 4),
	  "Feeds downloaded at once." },
	{ "fetch", "timeout", K_INT, CF(fetch_timeout), INT(1, 600, 30),
	  "Seconds one feed's whole transfer may take." },
	{ "fetch", "connect_timeout", K_INT, CF(fetch_connect_timeout), INT(1, 300, 10),
	  "Seconds to wait for a feed's server to accept the connection." },
	{ "fetch", "max_bytes", K_INT, CF(fetch_max_bytes), INT(1024, 1 << 30, 10 << 20),
	  "The largest feed body read, in bytes; a larger feed is an error." },
	{ "fetch", "max_redirects", K_INT, CF(fetch_max_redirects), INT(0, 20, 5),
	  "Redirects followed for one feed." },
	{ "public", "url", K_SITE_URL, CF(public_url), DEF("[site] url"),
	  "Where readers reach serve --public. Links in the confirmation mail and "
	  "the digests' preference and unsubscribe links start here." },
	{ "public", "signup_tags", K_SLUGS, CF(signup_tags), DEF("every tag the site has"),
	  "The tags offered on the sign-up form." },
	{ "public", "confirm_hours", K_INT, CF(confirm_hours), INT(1, 720, 48),
	  "How long a confirmation link works, in hours." },
	{ "public", "welcome", K_WELCOME, CF(welcome_now), DEF("next-slot"),
	  "The first digest after confirming: now (recent posts in the chosen tags, "
	  "at once) or next-slot (at the reader's next scheduled time)." },
	{ "public", "signups_per_hour", K_INT, CF(signups_per_hour), INT(1, 10000, 5),
	  "Sign-ups one client address may make per hour." },
	{ "public", "confirm_mails_per_day", K_INT, CF(confirm_mails_per_day),
	  INT(1, 100, 3),
	  "Confirmation mails one address may get per day." },
	{ "public", "trusted_proxies", K_IPS, CF(trusted_proxies), DEF("none"),
	  "Reverse proxies whose X-Forwarded-For is believed, so the rate limits "
	  "see the reader's address and not the proxy's." },
	{ "public", "threads", K_INT, CF(public_threads), INT(1, 256, 4),
	  "Worker threads of the public server." },
	{ "public", "max_connections", K_INT, CF(max_connections), INT(1, 100000, 1000),
	  "Connections at once." },
	{ "public", "max_connections_per_ip", K_INT, CF(max_connections_per_ip),
	  INT(1, 100000, 16),
	  "Connections at once from one address; at most max_connections." },
	{ "public", "connection_timeout", K_INT, CF(connection_timeout), INT(1, 3600, 10),
	  "Seconds a connection may go without progress before it is closed "
	  "(slowloris protection)." },
	{ "bounces", "return_path", K_RETURN_PATH, CF(return_path), DEF("[site] from"),
	  "The envelope sender, with one {token} in the local part: each mail gets "
	  "its own signed return path naming the reader and the digest (VERP). Its "
	  "domain needs SPF and an MX that delivers to mailbox." },
	{ "bounces", "mailbox", K_MAILBOX, CF(bounce_mailbox), DEF("not read"),
	  "Where the bounces and complaints arrive, read by tagdigest bounces and "
	  "before each run's send." },
	{ "bounces", "password_env", K_ENV_NAME, CF(bounce_password_env), DEF(NULL),
	  "The environment variable holding the mailbox login's password." },
	{ "bounces", "password_file", K_PATH, CF(bounce_password_file), DEF(NULL),
	  "The file holding the mailbox login's password (mode 0600). IMAP and POP3 "
	  "need password_env or password_file." },
	{ "bounces", "ca_file", K_PATH, CF(bounce_ca_file), DEF("the system's CAs"),
	  "A PEM file of the CA that signed the mail server's certificate." },
	{ "bounces", "processed_folder", K_FOLDER, CF(bounce_processed_folder),
	  DEF("handled mails are deleted"),
	  "Where handled mails are moved (IMAP, Maildir; not POP3)." },
	{ "bounces", "timeout", K_INT, CF(bounce_timeout), INT(1, 600, 30),
	  "Seconds to wait for each reply of the mail server." },
	{ "bounces", "hard_after", K_INT, CF(bounce_hard_after), INT(1, 100, 1),
	  "Hard bounces that suppress an address." },
	{ "bounces", "soft_threshold", K_INT, CF(bounce_soft_threshold), INT(1, 1000, 5),
	  "The soft-bounce score that suppresses an address." },
	{ "bounces", "soft_half_life_days", K_INT, CF(bounce_soft_half_life_days),
	  INT(1, 365, 7),
	  "Days in which the soft-bounce score halves." },
	{ "bounces", "max_messages", K_INT, CF(bounce_max_messages), INT(1, 1000000, 10000),
	  "Mails acted on per run at most; what stays in the mailbox does not count." },
};

/* What each kind accepts, in words; K_INT's range comes from its row. */
static const char *const kind_values[] = {
	[K_TEXT] = "one line of text (UTF-8, no control characters)",
	[K_NAME] = "a display name: one line, no control characters",
	[K_SITE_URL] = "an http:// or https:// URL (a trailing / is dropped)",
	[K_HTTP_URL] = "an http:// or https:// URL",
	[K_TAG_URL] = "an http:// or https:// URL holding {tag}",
	[K_ADDRESS] = "an e-mail address",
	[K_LIST_ID] = "a list id: dot-separated labels of letters, digits and hyphens",
	[K_PATH] = "a path; a relative one is resolved against the folder holding "
		   "the config file",
	[K_INT] = "a whole number",
	[K_DAY] = "monday .. sunday, or mon .. sun",
	[K_TIME] = "HH:MM, 24-hour clock",
	[K_TZ] = "an IANA time zone name, such as Europe/Berlin or UTC",
	[K_TRANSPORT] = "maildir, smtp or sendmail",
	[K_STARTTLS] = "required or off",
	[K_SMTP_URL] = "smtp://HOST[:PORT] or smtps://HOST[:PORT]",
	[K_ENV_NAME] = "an environment variable's name",
	[K_SOURCE_TYPE] = "posts or feed",
	[K_FEED_URL] = "an http://, https:// or file:// URL",
	[K_BOOL] = "yes or no (also true/false, on/off, 1/0)",
	[K_TAGS] = "tag names, separated by commas",
	[K_DOMAIN] = "a DNS name: labels of letters, digits and hyphens, separated by dots",
	[K_FEEDBACK_ID] = "printable ASCII without spaces",
	[K_SLUGS] = "tag names or slugs, separated by commas",
	[K_IPS] = "IPv4 or IPv6 addresses, separated by commas",
	[K_WELCOME] = "now or next-slot",
	[K_RETURN_PATH] = "an e-mail address with one {token} in its local part",
	[K_MAILBOX] = "maildir:PATH, imaps://USER@HOST[:PORT][/FOLDER], imap://... "
		      "(STARTTLS), pop3s://USER@HOST[:PORT] or pop3://... (STLS)",
	[K_FOLDER] = "a mail folder name",
	[K_LANGUAGE] = "a BCP 47 language tag, such as en, de, fr or pt-BR",
};

/* The sections, each with its introduction in tagdigest.conf(5). */
static const struct conf_section {
	const char *name;
	const char *doc;
} conf_sections[] = {
	{ "site", "The newsletter itself: its name, its site, who sends it. "
	  "name, url and from are required." },
	{ "store", "The SQLite database that holds posts, readers, deliveries, "
	  "unsubscribes and watermarks." },
	{ "schedule", "The weekly slot. Cron or the systemd timer runs tagdigest run "
	  "often (hourly); digests go out once the slot has passed. Readers may "
	  "choose their own day, time and zone on the preference page." },
	{ "digest", "What one digest holds." },
	{ "send", "Several senders on one PostgreSQL store: send and run on "
	  "any number of machines share the list by claiming batches of readers "
	  "with a lease. Ignored on SQLite, where one sender runs at a time." },
	{ "subscribers", "The subscriber file, synced into the store on each run: "
	  "a row adds a reader or updates their name and tags." },
	{ "templates", "The Mustache templates the digests are rendered with "
	  "(see docs/TEMPLATES.md)." },
	{ "transport", "How messages leave: into a Maildir, to an SMTP server, or "
	  "through a local sendmail. The password is never written here." },
	{ "secrets", "The key that signs the readers' unsubscribe and preference "
	  "tokens: from the environment if set, else from a file." },
	{ "fetch", "How feeds are downloaded." },
	{ "dkim", "DKIM signing (relaxed/relaxed, covering the List-Unsubscribe "
	  "headers): all three keys, or none to send unsigned." },
	{ "public", "The readers' pages that tagdigest serve --public serves: "
	  "sign-up with double opt-in, confirmation, the preference centre and "
	  "one-click unsubscribes. Every key is optional." },
	{ "bounces", "Mail that comes back: bounces and complaints. "
	  "Every key is optional." },
};

/* Sections named by the user: [source.NAME], [relay.NAME],
 * [throttle.DOMAIN]. They are not in conf_sections: each instance's keys
 * go into its own struct (conf_key.off), in one array per kind. */
static const struct conf_named {
	const char *kind;       /* "source": [source.NAME] */
	const char *title;      /* in tagdigest.conf(5) */
	const char *doc;
} conf_named[] = {
	{ "source", "source.NAME",
	  "Where posts come from: one section per source, NAME made of a-z, 0-9, "
	  "_ and -. At least one is required." },
	{ "relay", "relay.NAME",
	  "Several SMTP relays instead of [transport] url: one section per relay, "
	  "NAME made of a-z, 0-9, _ and -; [transport] type must be smtp, and its "
	  "url and login keys stay unset (each relay has its own). The sessions "
	  "([transport] connections; unset: the sum of the relays' connections) "
	  "are spread over the relays by weight. A relay that refuses or times "
	  "out a connection or answers 421 is left alone for [transport] "
	  "relay_pause seconds while the others take its messages; when every "
	  "relay is down, the messages are retried as with one relay. timeout, "
	  "ehlo and max_messages_per_connection of [transport] apply to each." },
	{ "throttle", "throttle.DOMAIN",
	  "Limits for the mail to one receiving domain (DOMAIN in lower case, "
	  "e.g. [throttle.gmail.com]) and its subdomains; the longest matching "
	  "DOMAIN applies. Mail to other domains goes on while a throttled "
	  "domain waits. The limits hold per sender process: with several "
	  "senders, divide the provider's limit among them." },
};
#define NAMED_SOURCE 0
#define NAMED_RELAY 1
#define NAMED_THROTTLE 2
#define NNAMED (sizeof conf_named / sizeof *conf_named)

/* One key's value and where it came from. */
struct conf_entry {
	char *section;
	char *key;
	char *value;
	unsigned line;         /* file line; 0 when an override set it */
	char *opt;             /* the -o argument as given, for an override */
	const struct conf_key *spec;
};

/* A [source.NAME] (or another named section: kind indexes conf_named)
 * seen in the file (line) or created by an override (opt). */
struct conf_source {
	size_t kind;
	char *name;
	unsigned line;
	char *opt;
};

struct conf_state {
	const char *file;
	FILE *fp;
	unsigned lineno;       /* the line the reader handed to inih last */
	int read_errno;
	bool failed;           /* an error is recorded in err */
	unsigned err_line;     /* its line, when it came from the file */
	struct td_err *err;

	struct conf_entry *ents;
	size_t nents, capents;
	struct conf_source *srcs;
	size_t nsrcs, capsrcs;
};

/* ---- messages ---- */

static int conf_fail_line(struct conf_state *st, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int conf_fail_entry(struct conf_state *st, const struct conf_entry *e,
			   const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int conf_fail_source(struct conf_state *st, const struct conf_source *s,
			    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int conf_failv_opt(struct conf_state *st, const char *opt, const char *fmt,
			  ...) __attribute__((format(printf, 3, 4)));
static int conf_failv(struct conf_state *st, const char *prefix, const char *fmt,
		      va_list ap) __attribute__((format(printf, 3, 0)));

/* Records the first error only: the reader stops after it, and the first
 * problem in a file is the one worth fixing first. */
static int conf_failv(struct conf_state *st, const char *prefix, const char *fmt,
		      va_list ap)
{
	if (st->failed)
		return EX_CONFIG;
	struct td_buf b = TD_BUF_INIT;
	td_buf_puts(&b, prefix);
	td_buf_puts(&b, ": ");
	td_buf_vprintf(&b, fmt, ap);
	td_err_set(st->err, EX_CONFIG, "%s", td_buf_cstr(&b));
	td_buf_free(&b);
	st->failed = true;
	return EX_CONFIG;
}

/* "FILE:LINE: ...", or "FILE: ..." for line 0 (a problem of the whole file). */
static int conf_fail_line(struct conf_state *st, unsigned line, const char *fmt, ...)
{
	char prefix[PATH_MAX + 32];
	if (line)
		snprintf(prefix, sizeof prefix, "%s:%u", st->file, line);
	else
		snprintf(prefix, sizeof prefix, "%s", st->file);
	if (!st->failed)
		st->err_line = line;
	va_list ap;
	va_start(ap, fmt);
	int rc = conf_failv(st, prefix, fmt, ap);
	va_end(ap);
	return rc;
}

/* "FILE:LINE: section.key: ..." or "-o section.key=value: ...". */
static int conf_fail_entry(struct conf_state *st, const struct conf_entry *e,
			   const char *fmt, ...)
{
	struct td_buf prefix = TD_BUF_INIT;
	if (e->opt)
		td_buf_printf(&prefix, "-o %s", e->opt);
	else
		td_buf_printf(&prefix, "%s:%u: %s.%s", st->file, e->line,
			      e->section, e->key);
	va_list ap;
	va_start(ap, fmt);
	int rc = conf_failv(st, td_buf_cstr(&prefix), fmt, ap);
	va_end(ap);
	td_buf_free(&prefix);
	return rc;
}

/* Problems of a whole [source.NAME] (or [relay.NAME], ...): at its header
 * line or its first -o. */
static int conf_fail_source(struct conf_state *st, const struct conf_source *s,
			    const char *fmt, ...)
{
	struct td_buf prefix = TD_BUF_INIT;
	const char *kind = conf_named[s->kind].kind;
	if (s->opt)
		td_buf_printf(&prefix, "-o %s: %s.%s", s->opt, kind, s->name);
	else
		td_buf_printf(&prefix, "%s:%u: %s.%s", st->file, s->line, kind, s->name);
	va_list ap;
	va_start(ap, fmt);
	int rc = conf_failv(st, td_buf_cstr(&prefix), fmt, ap);
	va_end(ap);
	td_buf_free(&prefix);
	return rc;
}

/* "-o ARG: ..." for an override refused before it became an entry. */
static int conf_failv_opt(struct conf_state *st, const char *opt, const char *fmt, ...)
{
	struct td_buf prefix = TD_BUF_INIT;
	td_buf_printf(&prefix, "-o %s", opt);
	va_list ap;
	va_start(ap, fmt);
	int rc = conf_failv(st, td_buf_cstr(&prefix), fmt, ap);
	va_end(ap);
	td_buf_free(&prefix);
	return rc;
}

/* ---- small checks ---- */

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}


static bool source_name_valid(const char *name)
{
	size_t n = strlen(name);
	return n > 0 && n <= SOURCE_NAME_MAX &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* A throttle's domain as its section names it: lower-case LDH labels
 * between single dots. */
static bool throttle_name_valid(const char *name)
{
	size_t n = strlen(name);
	return n > 0 && n <= SOURCE_NAME_MAX && name[0] != '.' && name[n - 1] != '.' &&
	       name[0] != '-' && !strstr(name, "..") &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-.") == n;
}

/* Which named section kind (conf_named) section is, with *name after the
 * kind's dot ("" for a bare [source] or [source.]); -1 for none. */
static int named_kind(const char *section, const char **name)
{
	for (size_t k = 0; k < NNAMED; k++) {
		size_t n = strlen(conf_named[k].kind);
		if (strncmp(section, conf_named[k].kind, n) == 0 &&
		    (section[n] == '.' || section[n] == '\0')) {
			*name = section[n] ? section + n + 1 : section + n;
			return (int)k;
		}
	}
	return -1;
}

/* NULL when the section name is acceptable, else the problem. */
static const char *section_problem(const char *section, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof conf_sections / sizeof *conf_sections; i++)
		if (strcmp(section, conf_sections[i].name) == 0)
			return NULL;
	const char *name;
	int k = named_kind(section, &name);
	if (k >= 0 && !*name) {
		snprintf(buf, len, "section [%s] needs a name: [%s]", section,
			 conf_named[k].title);
		return buf;
	}
	if (k == NAMED_THROTTLE) {
		if (throttle_name_valid(name))
			return NULL;
		snprintf(buf, len, "section [%.60s]: a throttle names a domain in "
			 "lower case (like [throttle.gmail.com]), at most %d "
			 "characters", section, SOURCE_NAME_MAX);
		return buf;
	}
	if (k >= 0) {
		if (source_name_valid(name))
			return NULL;
		snprintf(buf, len, "section [%.60s]: a %s name uses only a-z, 0-9, "
			 "'_' and '-', at most %d characters", section,
			 conf_named[k].kind, SOURCE_NAME_MAX);
		return buf;
	}
	snprintf(buf, len, "unknown section [%.60s]", section);
	return buf;
}

/* Keys that would hold a secret in the file itself. Anything ending in
 * _env or _file names where a secret lives, which is what we want. */
static bool key_is_secret(const char *key)
{
	static const char *const words[] = {
		"password", "passwd", "secret", "api_key", "apikey",
		"private_key", "credential",
	};
	static const char *const exact[] = { "pass", "token" };
	size_t n = strlen(key);
	if ((n > 4 && strcmp(key + n - 4, "_env") == 0) ||
	    (n > 5 && strcmp(key + n - 5, "_file") == 0))
		return false;
	for (size_t i = 0; i < sizeof exact / sizeof *exact; i++)
		if (strcmp(key, exact[i]) == 0)
			return true;
	for (size_t i = 0; i < sizeof words / sizeof *words; i++)
		if (strstr(key, words[i]))
			return true;
	return n > 6 && (strcmp(key + n - 6, "_token") == 0 ||
			 strcmp(key + n - 5, "_pass") == 0);
}

static const struct conf_key *find_key(const char *section, const char *key)
{
	const char *name;
	int kind = named_kind(section, &name);
	const char *sec = kind >= 0 ? conf_named[kind].kind : section;
	for (size_t i = 0; i < sizeof conf_keys / sizeof *conf_keys; i++)
		if (strcmp(conf_keys[i].section, sec) == 0 &&
		    strcmp(conf_keys[i].key, key) == 0)
			return &conf_keys[i];
	return NULL;
}

/* NULL when section.key is a key we know, else the problem. */
static const char *key_problem(const char *section, const char *key,
			       char *buf, size_t len)
{
	if (key_is_secret(key)) {
		bool token = strstr(key, "token") || strcmp(section, "secrets") == 0;
		/* the bounce mailbox has its own password keys */
		bool bounces = strcmp(section, "bounces") == 0;
		bool relay = strncmp(section, "relay.", 6) == 0;
		snprintf(buf, len, "%.60s.%.40s: secrets are not read from the config "
			 "file, which is easy to leak; use %s",
			 section, key, token ?
			 "token_secret_file or token_secret_env in [secrets]" : bounces ?
			 "password_file or password_env in [bounces]" : relay ?
			 "password_file or password_env in its [relay.NAME]" :
			 "password_file or password_env in [transport]");
		return buf;
	}
	if (!find_key(section, key)) {
		snprintf(buf, len, "unknown key '%.40s' in [%.60s]", key, section);
		return buf;
	}
	return NULL;
}

static struct conf_entry *find_entry(struct conf_state *st, const char *section,
				     const char *key)
{
	for (size_t i = 0; i < st->nents; i++)
		if (strcmp(st->ents[i].section, section) == 0 &&
		    strcmp(st->ents[i].key, key) == 0)
			return &st->ents[i];
	return NULL;
}

static struct conf_entry *add_entry(struct conf_state *st, const char *section,
				    const char *key)
{
	if (st->nents == st->capents) {
		st->capents = st->capents ? st->capents * 2 : 16;
		st->ents = td_xrealloc(st->ents, st->capents * sizeof *st->ents);
	}
	struct conf_entry *e = &st->ents[st->nents++];
	memset(e, 0, sizeof *e);
	e->section = td_xstrdup(section);
	e->key = td_xstrdup(key);
	e->spec = find_key(section, key);
	return e;
}

/* Registers a [source.NAME] (or another named section, kind) once, in
 * the order it first appears. */
static void add_source(struct conf_state *st, size_t kind, const char *name,
		       unsigned line, const char *opt)
{
	for (size_t i = 0; i < st->nsrcs; i++)
		if (st->srcs[i].kind == kind && strcmp(st->srcs[i].name, name) == 0)
			return;
	if (st->nsrcs == st->capsrcs) {
		st->capsrcs = st->capsrcs ? st->capsrcs * 2 : 4;
		st->srcs = td_xrealloc(st->srcs, st->capsrcs * sizeof *st->srcs);
	}
	struct conf_source *s = &st->srcs[st->nsrcs++];
	s->kind = kind;
	s->name = td_xstrdup(name);
	s->line = line;
	s->opt = opt ? td_xstrdup(opt) : NULL;
}

static void state_free(struct conf_state *st)
{
	for (size_t i = 0; i < st->nents; i++) {
		free(st->ents[i].section);
		free(st->ents[i].key);
		free(st->ents[i].value);
		free(st->ents[i].opt);
	}
	free(st->ents);
	for (size_t i = 0; i < st->nsrcs; i++) {
		free(st->srcs[i].name);
		free(st->srcs[i].opt);
	}
	free(st->srcs);
}

/* ---- reading the file ---- */

/* Checks one line (already stripped of leading blanks and its line end)
 * the way inih will read it; registers source sections. */
static void check_line_shape(struct conf_state *st, const char *s)
{
	char buf[256];
	if (!*s || *s == ';' || *s == '#')
		return;
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close) {
			conf_fail_line(st, st->lineno, "section header without a closing ']'");
			return;
		}
		char *name = td_xstrndup(s + 1, (size_t)(close - s - 1));
		const char *problem = section_problem(name, buf, sizeof buf);
		const char *sname;
		int kind = named_kind(name, &sname);
		if (problem)
			conf_fail_line(st, st->lineno, "%s", problem);
		else if (kind >= 0)
			add_source(st, (size_t)kind, sname, st->lineno, NULL);
		free(name);
		return;
	}
	if (!strpbrk(s, "=:"))
		conf_fail_line(st, st->lineno,
			       "expected 'key = value', a [section] or a ';' comment");
}

/*
 * The ini_reader: like fgets, but it reads a whole physical line, counts
 * it, and refuses one that does not fit in inih's buffer (num bytes with
 * the NUL) instead of handing inih the first part. Returning NULL ends the
 * parse, which is what we want after the first error.
 */
static char *conf_read_line(char *str, int num, void *stream)
{
	struct conf_state *st = stream;
	if (st->failed || num < 2)
		return NULL;
	size_t max = (size_t)num - 1, n = 0;
	bool any = false, leading = true, nul = false;
	int c, last = 0;
	while ((c = getc(st->fp)) != EOF) {
		any = true;
		if (c == '\n')
			break;
		/* Leading blanks go: inih would take an indented line for the
		 * continuation of the previous value. */
		if (leading && (c == ' ' || c == '\t'))
			continue;
		leading = false;
		if (c == '\0')
			nul = true;
		if (n < max)
			str[n] = (char)c;
		n++;
		last = c;
	}
	if (c == EOF && ferror(st->fp)) {
		st->read_errno = errno ? errno : EIO;
		return NULL;
	}
	if (!any)
		return NULL;
	st->lineno++;
	if (last == '\r' && n > 0)
		n--;           /* CRLF line end */
	if (n > max) {
		conf_fail_line(st, st->lineno,
			       "line too long (%zu characters; at most %zu fit)", n, max);
		return NULL;
	}
	str[n] = '\0';
	if (nul) {
		conf_fail_line(st, st->lineno, "contains a NUL byte");
		return NULL;
	}
	/* A UTF-8 byte order mark (editors on Windows add one). */
	if (st->lineno == 1 && strncmp(str, "\xef\xbb\xbf", 3) == 0) {
		size_t skip = 3;
		while (str[skip] == ' ' || str[skip] == '\t')
			skip++;
		memmove(str, str + skip, n - skip + 1);
	}
	check_line_shape(st, str);
	return st->failed ? NULL : str;
}

static int conf_handler(void *user, const char *section, const char *name,
			const char *value)
{
	struct conf_state *st = user;
	char buf[256];
	const char *problem;
	if (st->failed)
		return 0;
	if (!*section) {
		conf_fail_line(st, st->lineno, "key '%.40s' outside of any [section]", name);
		return 0;
	}
	/* The reader has vetted the header; this catches what it could not. */
	if ((problem = section_problem(section, buf, sizeof buf)) ||
	    (problem = key_problem(section, name, buf, sizeof buf))) {
		conf_fail_line(st, st->lineno, "%s", problem);
		return 0;
	}
	struct conf_entry *e = find_entry(st, section, name);
	if (e) {
		conf_fail_line(st, st->lineno, "%s.%s: set twice (first on line %u)",
			       section, name, e->line);
		return 0;
	}
	e = add_entry(st, section, name);
	e->value = td_xstrdup(value);
	e->line = st->lineno;
	return 1;
}


/* ---- overrides ---- */

static void trim(char *s)
{
	size_t n = strlen(s), i = 0;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	memmove(s, s + i, n - i);
	s[n - i] = '\0';
}

/* "-o SECTION.KEY=VALUE": split at the first '=', then at the last '.' of
 * the left side, so "source.posts.path=..." names path in [source.posts].
 * A later override of the same key wins, as does any override over the
 * file. */
static int apply_override(struct conf_state *st, const char *opt)
{
	char buf[256];
	const char *problem = NULL;
	const char *eq = strchr(opt, '=');
	char *left = td_xstrndup(opt, eq ? (size_t)(eq - opt) : strlen(opt));
	trim(left);
	char *dot = strrchr(left, '.');
	if (!eq || !dot || dot == left || !dot[1]) {
		free(left);
		return conf_failv_opt(st, opt, "expected SECTION.KEY=VALUE");
	}
	*dot = '\0';
	const char *section = left, *key = dot + 1;
	if (key_is_secret(key)) {
		/* Never echo what may be a password into a log. */
		char shown[128];
		snprintf(shown, sizeof shown, "%.60s.%.40s=(hidden)", section, key);
		key_problem(section, key, buf, sizeof buf);
		free(left);
		return conf_failv_opt(st, shown, "%s", buf);
	}
	if ((problem = section_problem(section, buf, sizeof buf)) ||
	    (problem = key_problem(section, key, buf, sizeof buf))) {
		free(left);
		return conf_failv_opt(st, opt, "%s", problem);
	}
	const char *sname;
	int kind = named_kind(section, &sname);
	if (kind >= 0)
		add_source(st, (size_t)kind, sname, 0, opt);
	struct conf_entry *e = find_entry(st, section, key);
	if (!e)
		e = add_entry(st, section, key);
	free(e->value);
	free(e->opt);
	e->value = td_xstrdup(eq + 1);
	trim(e->value);
	e->line = 0;
	e->opt = td_xstrdup(opt);
	free(left);
	return 0;
}

/* ---- values ---- */

static bool is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Host names in URLs: LDH labels between single dots, or an [IPv6]. */
static bool host_valid(const char *h, size_t n)
{
	if (n >= 2 && h[0] == '[' && h[n - 1] == ']')
		return n > 2 && strspn(h + 1, "0123456789abcdefABCDEF:.") == n - 2;
	if (n == 0 || h[0] == '.' || h[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (c == '.' && h[i + 1] == '.')
			return false;
		if (!(c == '.' || c == '-' || (c >= '0' && c <= '9') ||
		      (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return false;
	}
	return true;
}

/* Checks scheme://host[:port] and returns NULL, or the problem. On success
 * host and hostlen give the host, rest what follows the authority. */
static const char *url_problem(const char *v, bool smtp, const char **host,
			       size_t *hostlen, const char **rest)
{
	static const char *const web[] = { "http://", "https://" };
	static const char *const mail[] = { "smtp://", "smtps://" };
	const char *const *schemes = smtp ? mail : web;
	const char *p = NULL;
	for (size_t i = 0; i < 2 && !p; i++)
		if (strncasecmp(v, schemes[i], strlen(schemes[i])) == 0)
			p = v + strlen(schemes[i]);
	if (!p)
		return smtp ? "must start with smtp:// or smtps://"
			    : "must start with http:// or https://";
	for (const unsigned char *q = (const unsigned char *)v; *q; q++) {
		if (*q == ' ')
			return "contains a space";
		if (*q >= 0x80)
			return "contains non-ASCII characters (percent-encode them)";
	}
	size_t alen = strcspn(p, "/?#");
	const char *aend = p + alen;
	/* Credentials in a URL end up in logs and process lists. */
	if (memchr(p, '@', alen))
		return "must not hold a user name or password";
	const char *hend;
	if (*p == '[') {
		const char *close = memchr(p, ']', alen);
		hend = close ? close + 1 : aend;
	} else {
		const char *colon = memchr(p, ':', alen);
		hend = colon ? colon : aend;
	}
	if (hend == p)
		return "has no host";
	if (!host_valid(p, (size_t)(hend - p)))
		return "has an invalid host name";
	if (hend < aend) {
		size_t plen = (size_t)(aend - hend - 1);
		if (*hend != ':' || plen == 0 || plen > 5 ||
		    strspn(hend + 1, "0123456789") < plen)
			return "has an invalid port";
		long port = strtol(hend + 1, NULL, 10);
		if (port < 1 || port > 65535)
			return "has an invalid port";
	}
	*host = p;
	*hostlen = (size_t)(hend - p);
	*rest = aend;
	return NULL;
}

static bool list_id_valid(const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || n > 255 || v[0] == '.' || v[n - 1] == '.' ||
	    strstr(v, "..") || !strchr(v, '.'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (v[i] != '.' && !is_atext((unsigned char)v[i]))
			return false;
	return true;
}

static bool env_name_valid(const char *v)
{
	size_t n = strlen(v);
	return n > 0 && !(v[0] >= '0' && v[0] <= '9') &&
	       strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789_") == n;
}

/* 0 = Sunday, as in struct tm; -1 when v is not a day. */
static int parse_day(const char *v)
{
	static const char *const days[] = {
		"sunday", "monday", "tuesday", "wednesday", "thursday",
		"friday", "saturday",
	};
	for (int i = 0; i < 7; i++)
		if (strcasecmp(v, days[i]) == 0 ||
		    (strlen(v) == 3 && strncasecmp(v, days[i], 3) == 0))
			return i;
	return -1;
}

/* H:MM or HH:MM, 24-hour clock. */
static bool parse_time(const char *v, int *hour, int *minute)
{
	size_t h = strspn(v, "0123456789");
	if (h < 1 || h > 2 || v[h] != ':' || strspn(v + h + 1, "0123456789") != 2 ||
	    v[h + 3] != '\0')
		return false;
	*hour = atoi(v);
	*minute = atoi(v + h + 1);
	return *hour <= 23 && *minute <= 59;
}

static bool parse_int(const char *v, int *out)
{
	size_t n = strlen(v);
	if (n == 0 || n > 9 || strspn(v, "0123456789") != n)
		return false;
	*out = atoi(v);
	return true;
}

/* The zone check the brief asks for, kept here so config does not depend
 * on the schedule module: "UTC", or a compiled zone file in zoneinfo.
 * Names with '.' are refused, which keeps out both ".." and the tables
 * (zone.tab, tzdata.zi) that live next to the zones. */
/* Joins a relative path to the config's folder. base_dir is canonical
 * (realpath), so leading "../" can be folded into it safely; later ".."
 * stay, since the folder before them may be a symlink. */
static char *resolve_path(const char *base, const char *p)
{
	if (p[0] == '/')
		return td_xstrdup(p);
	size_t blen = strlen(base);
	for (;;) {
		if (p[0] == '/') {
			p++;
		} else if (p[0] == '.' && (p[1] == '/' || !p[1])) {
			p++;
		} else if (base[0] == '/' && p[0] == '.' && p[1] == '.' &&
			   (p[2] == '/' || !p[2])) {
			while (blen > 1 && base[blen - 1] != '/')
				blen--;
			if (blen > 1)
				blen--;
			p += 2;
		} else {
			break;
		}
	}
	struct td_buf b = TD_BUF_INIT;
	td_buf_append(&b, base, blen);
	if (*p) {
		if (blen == 0 || base[blen - 1] != '/')
			td_buf_putc(&b, '/');
		td_buf_puts(&b, p);
	}
	return td_buf_steal(&b);
}

/* Splits a comma-separated value into out (emptied first), each item
 * trimmed of blanks; empty items are dropped. */
static void split_list(const char *v, struct td_strv *out)
{
	td_strv_free(out);
	for (const char *p = v; *p;) {
		size_t len = strcspn(p, ",");
		const char *a = p, *b = p + len;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if (b > a)
			td_strv_push_owned(out, td_xstrndup(a, (size_t)(b - a)));
		p += len + (p[len] == ',');
	}
}

/* An IPv4 or IPv6 address in the form inet_ntop writes (the form a
 * client's address is compared in), malloc'd; NULL when it is none. */
static char *ip_normalise(const char *v)
{
	unsigned char raw[sizeof(struct in6_addr)];
	char text[INET6_ADDRSTRLEN];
	int af = strchr(v, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(af, v, raw) != 1 || !inet_ntop(af, raw, text, sizeof text))
		return NULL;
	return td_xstrdup(text);
}

static char *base_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash == path ? td_xstrdup("/")
		  : slash ? td_xstrndup(path, (size_t)(slash - path))
		  : td_xstrdup(".");
	char *real = realpath(dir, NULL);
	if (!real)
		return dir;     /* the file opened, so this is unlikely */
	free(dir);
	dir = td_xstrdup(real);
	free(real);
	return dir;
}

static void set_str(char **dst, char *value)
{
	free(*dst);
	*dst = value;
}

static struct td_source_config *find_source(struct td_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nsources; i++)
		if (strcmp(cfg->sources[i].name, name) == 0)
			return &cfg->sources[i];
	return NULL;
}

static struct td_relay_config *find_relay(struct td_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nrelays; i++)
		if (strcmp(cfg->relays[i].name, name) == 0)
			return &cfg->relays[i];
	return NULL;
}

static struct td_throttle_config *find_throttle(struct td_config *cfg,
						const char *domain)
{
	for (size_t i = 0; i < cfg->nthrottles; i++)
		if (strcmp(cfg->throttles[i].domain, domain) == 0)
			return &cfg->throttles[i];
	return NULL;
}

/* Checks one entry and stores it in cfg (or in its named section). */
static int apply_entry(struct conf_state *st, struct td_config *cfg,
		       const struct conf_entry *e)
{
	const struct conf_key *k = e->spec;
	char *base = (char *)cfg;
	const char *sname;
	switch (named_kind(e->section, &sname)) {
	case NAMED_SOURCE:
		base = (char *)find_source(cfg, sname);
		break;
	case NAMED_RELAY:
		base = (char *)find_relay(cfg, sname);
		break;
	case NAMED_THROTTLE:
		base = (char *)find_throttle(cfg, sname);
		break;
	default:
		break;
	}
	char **sp = (char **)(void *)(base + k->off);
	int *ip = (int *)(void *)(base + k->off);
	const char *v = e->value, *host, *rest, *problem;
	size_t hostlen;
	char why[128];
	int n;

	if (!*v)
		return conf_fail_entry(st, e, "empty value (leave the key out for the default)");
	if (has_control(v))
		return conf_fail_entry(st, e, "contains a control character");

	switch (k->kind) {
	case K_TEXT:
	case K_NAME:
		if (!td_utf8_valid(v, strlen(v)))
			return conf_fail_entry(st, e, "not valid UTF-8");
		/* the rule the MIME builder applies: refused here, once, rather
		 * than in every message */
		if (k->kind == K_NAME && !td_display_name_valid(v, why, sizeof why))
			return conf_fail_entry(st, e, "the name %s", why);
		set_str(sp, td_xstrdup(v));
		break;
	case K_SITE_URL:
	case K_HTTP_URL:
	case K_TAG_URL:
		if ((problem = url_problem(v, false, &host, &hostlen, &rest)))
			return conf_fail_entry(st, e, "'%.100s' %s", v, problem);
		if (k->kind == K_SITE_URL) {
			/* Other URLs are built by appending "/...". */
			if (strpbrk(rest, "?#"))
				return conf_fail_entry(st, e, "'%.100s' must not have a "
						       "query or fragment", v);
			size_t len = strlen(v);
			while (len > (size_t)(rest - v) && v[len - 1] == '/')
				len--;
			set_str(sp, td_xstrndup(v, len));
			break;
		}
		if (k->kind == K_TAG_URL && !strstr(v, "{tag}"))
			return conf_fail_entry(st, e, "'%.100s' has no {tag} for the "
					       "tag's slug", v);
		set_str(sp, td_xstrdup(v));
		break;
	case K_ADDRESS:
		if (!td_address_valid(v, why, sizeof why))
			return conf_fail_entry(st, e, "'%.100s': %s", v, why);
		set_str(sp, td_xstrdup(v));
		break;
	case K_LIST_ID:
		if (!list_id_valid(v))
			return conf_fail_entry(st, e, "'%.100s' is not a list id "
					       "(like digest.example.org)", v);
		set_str(sp, td_xstrdup(v));
		break;
	case K_PATH:
		set_str(sp, resolve_path(cfg->base_dir, v));
		break;
	case K_INT:
		if (!parse_int(v, &n))
			return conf_fail_entry(st, e, "'%.40s' is not a whole number", v);
		if (n < k->min || n > k->max)
			return conf_fail_entry(st, e, "%d is out of range (%d to %d)",
					       n, k->min, k->max);
		*ip = n;
		break;
	case K_DAY:
		if ((n = parse_day(v)) < 0)
			return conf_fail_entry(st, e, "'%.40s' is not a day of the week", v);
		cfg->slot_wday = n;
		break;
	case K_TIME:
		if (!parse_time(v, &cfg->slot_hour, &cfg->slot_minute))
			return conf_fail_entry(st, e, "'%.40s' is not a time of day "
					       "(HH:MM, 00:00 to 23:59)", v);
		break;
	case K_TZ: {
		struct td_tz *tz = td_tz_load(v);
		if (!tz)
			return conf_fail_entry(st, e, "'%.64s' is not a time zone this "
					       "system knows (see /usr/share/zoneinfo/)", v);
		td_tz_free(cfg->tz);
		cfg->tz = tz;
		set_str(sp, td_xstrdup(v));
		break;
	}
	case K_TRANSPORT:
		if (strcasecmp(v, "maildir") == 0)
			cfg->transport_type = TD_TRANSPORT_MAILDIR;
		else if (strcasecmp(v, "smtp") == 0)
			cfg->transport_type = TD_TRANSPORT_SMTP;
		else if (strcasecmp(v, "sendmail") == 0)
			cfg->transport_type = TD_TRANSPORT_SENDMAIL;
		else
			return conf_fail_entry(st, e, "'%.40s' is not a transport "
					       "(maildir, smtp or sendmail)", v);
		break;
	case K_STARTTLS:
		if (strcasecmp(v, "required") == 0)
			*(enum td_starttls *)(void *)(base + k->off) = TD_STARTTLS_REQUIRED;
		else if (strcasecmp(v, "off") == 0)
			*(enum td_starttls *)(void *)(base + k->off) = TD_STARTTLS_OFF;
		else
			return conf_fail_entry(st, e, "'%.40s' is not required or off", v);
		break;
	case K_SMTP_URL:
		if ((problem = url_problem(v, true, &host, &hostlen, &rest)))
			return conf_fail_entry(st, e, "'%.100s' %s", v, problem);
		if (*rest && strcmp(rest, "/") != 0)
			return conf_fail_entry(st, e, "'%.100s' must be just "
					       "smtp(s)://host[:port]", v);
		set_str(sp, td_xstrdup(v));
		break;
	case K_ENV_NAME:
		if (!env_name_valid(v))
			return conf_fail_entry(st, e, "'%.40s' is not an environment "
					       "variable name (letters, digits, '_')", v);
		set_str(sp, td_xstrdup(v));
		break;
	case K_FEED_URL:
		if (strncmp(v, "file://", 7) == 0) {
			/* a local file: an absolute path after the scheme */
			if (v[7] != '/')
				return conf_fail_entry(st, e, "'%.100s': a file URL needs an "
						       "absolute path (file:///path/feed.xml)", v);
		} else if ((problem = url_problem(v, false, &host, &hostlen, &rest))) {
			return conf_fail_entry(st, e, "'%.100s' %s (or file:///path)", v,
					       problem);
		}
		set_str(sp, td_xstrdup(v));
		break;
	case K_BOOL:
		if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") ||
		    !strcasecmp(v, "on") || !strcmp(v, "1"))
			*(bool *)(void *)(base + k->off) = true;
		else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") ||
			 !strcasecmp(v, "off") || !strcmp(v, "0"))
			*(bool *)(void *)(base + k->off) = false;
		else
			return conf_fail_entry(st, e, "'%.40s' is not yes or no", v);
		break;
	case K_TAGS: {
		if (!td_utf8_valid(v, strlen(v)))
			return conf_fail_entry(st, e, "not valid UTF-8");
		struct td_strv *tags = (struct td_strv *)(void *)(base + k->off);
		split_list(v, tags);
		if (tags->n == 0)
			return conf_fail_entry(st, e, "no tags in '%.40s'", v);
		break;
	}
	case K_SLUGS: {
		/* Names as the site shows them or slugs as its URLs have them:
		 * the form posts slugs, so slugs are what is kept. */
		if (!td_utf8_valid(v, strlen(v)))
			return conf_fail_entry(st, e, "not valid UTF-8");
		struct td_strv names = { 0 };
		struct td_strv *slugs = (struct td_strv *)(void *)(base + k->off);
		td_strv_free(slugs);
		split_list(v, &names);
		for (size_t i = 0; i < names.n; i++) {
			char *slug = td_slugify(names.v[i]);
			if (!*slug) {
				free(slug);
				conf_fail_entry(st, e, "'%.40s' has nothing to make a tag "
						"slug of", names.v[i]);
				td_strv_free(&names);
				return EX_CONFIG;
			}
			if (td_strv_contains(slugs, slug))
				free(slug);
			else
				td_strv_push_owned(slugs, slug);
		}
		td_strv_free(&names);
		if (slugs->n == 0)
			return conf_fail_entry(st, e, "no tags in '%.40s'", v);
		break;
	}
	case K_IPS: {
		struct td_strv *ips = (struct td_strv *)(void *)(base + k->off);
		td_strv_free(ips);
		split_list(v, ips);
		for (size_t i = 0; i < ips->n; i++) {
			char *norm = ip_normalise(ips->v[i]);
			if (!norm)
				return conf_fail_entry(st, e, "'%.60s' is not an IP address "
						       "(like 192.0.2.10 or 2001:db8::1; "
						       "one per proxy, no ranges)",
						       ips->v[i]);
			free(ips->v[i]);
			ips->v[i] = norm;
		}
		if (ips->n == 0)
			return conf_fail_entry(st, e, "no addresses in '%.40s'", v);
		break;
	}
	case K_WELCOME:
		if (strcasecmp(v, "now") == 0)
			*(bool *)(void *)(base + k->off) = true;
		else if (strcasecmp(v, "next-slot") == 0)
			*(bool *)(void *)(base + k->off) = false;
		else
			return conf_fail_entry(st, e, "'%.40s' is not now or next-slot", v);
		break;
	case K_RETURN_PATH: {
		char tw[256];
		if (!td_verp_template_ok(v, tw, sizeof tw))
			return conf_fail_entry(st, e, "'%.100s' %s", v, tw);
		set_str(sp, td_xstrdup(v));
		break;
	}
	case K_MAILBOX:
		/* checked whole in finish(), with processed_folder */
		if (strncmp(v, "maildir:", 8) == 0 && v[8]) {
			/* a Maildir's path is resolved like every other path */
			char *path = resolve_path(cfg->base_dir, v + 8);
			set_str(sp, td_xasprintf("maildir:%s", path));
			free(path);
		} else {
			set_str(sp, td_xstrdup(v));
		}
		break;
	case K_FOLDER:
		/* IMAP names and Maildir++ folders: no path tricks */
		if (!td_utf8_valid(v, strlen(v)) || v[0] == '.' || v[0] == '/' ||
		    strstr(v, "..") || strchr(v, '\\'))
			return conf_fail_entry(st, e, "'%.100s' is not a folder name (like "
					       "Processed or INBOX.Processed)", v);
		set_str(sp, td_xstrdup(v));
		break;
	case K_FEEDBACK_ID:
		for (const unsigned char *c = (const unsigned char *)v; *c; c++)
			if (*c <= ' ' || *c >= 0x7F)
				return conf_fail_entry(st, e, "'%.100s': only printable "
						       "ASCII without spaces (like "
						       "campaign:list:tagdigest:sender)", v);
		set_str(sp, td_xstrdup(v));
		break;
	case K_LANGUAGE: {
		/* BCP 47's shape, loosely: a 2-3 letter language, then
		 * subtags of 2-8 letters or digits; then the renderer says
		 * whether it has that language */
		size_t lang = strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
		bool ok = lang >= 2 && lang <= 3;
		for (const char *c = v + lang; ok && *c;) {
			if (*c != '-' && *c != '_') {
				ok = false;
				break;
			}
			size_t sub = strspn(c + 1, "abcdefghijklmnopqrstuvwxyz"
					  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
			ok = sub >= 2 && sub <= 8;
			c += 1 + sub;
		}
		if (!ok)
			return conf_fail_entry(st, e, "'%.40s' is not a language tag "
					       "(like en, de or pt-BR)", v);
		/* the date formatter would fall back to English unasked */
		if (!td_render_language_known(v))
			return conf_fail_entry(st, e, "'%.40s' is not a language the "
					       "digest's dates can be written in (ICU "
					       "has no data for it; like en, de, fr or "
					       "pt-BR)", v);
		/* written as BCP 47 has it (pt_BR -> pt-BR): it is also the
		 * HTML part's lang attribute */
		set_str(sp, td_xstrdup(v));
		for (char *c = *sp; *c; c++)
			if (*c == '_')
				*c = '-';
		break;
	}
	case K_DOMAIN:
		if (!host_valid(v, strlen(v)))
			return conf_fail_entry(st, e, "'%.100s' is not a DNS name", v);
		set_str(sp, td_xstrdup(v));
		break;
	case K_SOURCE_TYPE:
		if (strcasecmp(v, "posts") != 0 && strcasecmp(v, "feed") != 0)
			return conf_fail_entry(st, e, "'%.40s' is not a source type "
					       "(posts or feed)", v);
		set_str(sp, td_xstrdup(strcasecmp(v, "posts") == 0 ? "posts" : "feed"));
		break;
	}
	return 0;
}

static bool is_dir(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* templates/ next to the config file (a site of its own, or the repo's
 * config/ run with `make run`); else the templates `make install` put
 * beside the binary's own folder (BINDIR/../share/tagdigest/templates,
 * found through /proc/self/exe, so a DESTDIR-staged or moved install
 * finds its own); else the first path, for the error to name. */
static char *default_templates_dir(const char *base_dir)
{
	char *local = resolve_path(base_dir, "templates");
	if (is_dir(local))
		return local;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return local;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		return local;
	*slash = '\0';
	char *installed = td_xasprintf("%s/../share/tagdigest/templates", exe);
	char *real = realpath(installed, NULL);
	free(installed);
	if (!real || !is_dir(real)) {
		free(real);
		return local;
	}
	free(local);
	return real;
}

/* An SMTP login's rules, for [transport] or a [relay.NAME] (section):
 * STARTTLS defaults to required with a username, else off; a password
 * never crosses the wire in the clear, and a username needs a password
 * source. check: the section is in use (type = smtp, or a relay). */
static int check_login(struct conf_state *st, const char *section, bool check,
		       const char *url, const char *username, const char *password_env,
		       const char *password_file, enum td_starttls *starttls)
{
	bool creds = username != NULL;
	bool smtps = url && strncasecmp(url, "smtps:", 6) == 0;
	if (*starttls == TD_STARTTLS_DEFAULT)
		*starttls = creds ? TD_STARTTLS_REQUIRED : TD_STARTTLS_OFF;
	else if (check && creds && !smtps && *starttls == TD_STARTTLS_OFF)
		return conf_fail_entry(st, find_entry(st, section, "starttls"),
				       "off, but %s.username is set: credentials are "
				       "only sent over TLS (use starttls = required, "
				       "or smtps://)", section);
	if (check && creds && !password_env && !password_file)
		return conf_fail_entry(st, find_entry(st, section, "username"),
				       "needs %s.password_env or %s.password_file",
				       section, section);
	return 0;
}

/* [relay.NAME] sections: each complete, and [transport] not saying the
 * same thing a second way. */
static int finish_relays(struct conf_state *st, struct td_config *cfg)
{
	static const char *const per_relay[] = {
		"url", "username", "password_env", "password_file", "starttls", "ca_file",
	};
	const struct conf_source *first = NULL;
	int sum = 0, rc;
	for (size_t i = 0; i < st->nsrcs; i++) {
		const struct conf_source *cs = &st->srcs[i];
		if (cs->kind == NAMED_THROTTLE) {
			const struct td_throttle_config *t = find_throttle(cfg, cs->name);
			if (!t->per_second && !t->per_hour)
				return conf_fail_source(st, cs, "sets no limit: per_second, "
							"per_hour or both");
		}
		if (cs->kind != NAMED_RELAY)
			continue;
		struct td_relay_config *r = find_relay(cfg, cs->name);
		if (!first)
			first = cs;
		if (!r->url)
			return conf_fail_source(st, cs, "url is required (smtp://host:port "
						"or smtps://host:port)");
		char *section = td_xasprintf("relay.%s", r->name);
		rc = check_login(st, section, true, r->url, r->username, r->password_env,
				 r->password_file, &r->starttls);
		free(section);
		if (rc)
			return rc;
		sum += r->connections;
	}
	if (!first)
		return 0;
	if (cfg->transport_type != TD_TRANSPORT_SMTP)
		return conf_fail_source(st, first, "relays need [transport] type = smtp");
	for (size_t i = 0; i < sizeof per_relay / sizeof *per_relay; i++) {
		const struct conf_entry *e = find_entry(st, "transport", per_relay[i]);
		if (e)
			return conf_fail_entry(st, e, "set, but so are [relay.NAME] "
					       "sections: each relay has its own (move it "
					       "into them)");
	}
	const struct conf_entry *conns = find_entry(st, "transport", "connections");
	if (!conns)
		cfg->connections = sum;
	else if (cfg->connections > sum)
		return conf_fail_entry(st, conns, "%d sessions, but the relays take %d "
				       "at once (the sum of their connections)",
				       cfg->connections, sum);
	return 0;
}

/* Required keys, defaults that depend on other keys, and the rules that
 * tie keys together. Runs after every entry was applied. */
static int finish(struct conf_state *st, struct td_config *cfg)
{
	static const struct {
		const char *what;
		size_t off;
	} required[] = {
		{ "site.name", CF(site_name) },
		{ "site.url", CF(site_url) },
		{ "site.from", CF(from_address) },
	};
	int rc;
	for (size_t i = 0; i < sizeof required / sizeof *required; i++)
		if (!*(char **)(void *)((char *)cfg + required[i].off))
			return conf_fail_line(st, 0, "%s is required but not set",
					      required[i].what);

	if (!cfg->from_name)
		cfg->from_name = td_xstrdup(cfg->site_name);
	if (!cfg->list_id) {
		const char *host, *rest;
		size_t hostlen;
		url_problem(cfg->site_url, false, &host, &hostlen, &rest);
		char *id = td_xasprintf("digest.%.*s", (int)hostlen, host);
		for (char *c = id; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		cfg->list_id = id;
		if (!list_id_valid(id))
			return conf_fail_line(st, 0, "site.list_id: cannot derive one "
					      "from the host of site.url; set it");
	}
	/* Readers reach the unsubscribe and preference pages at the public
	 * server, which may live elsewhere than the blog. */
	if (!cfg->public_url)
		cfg->public_url = td_xstrdup(cfg->site_url);
	if (!cfg->unsubscribe_url)
		cfg->unsubscribe_url = td_xasprintf("%s/unsubscribe/", cfg->public_url);
	cfg->preferences_url = td_xasprintf("%s/preferences/", cfg->public_url);
	if (cfg->max_connections_per_ip > cfg->max_connections) {
		const struct conf_entry *e = find_entry(st, "public", "max_connections_per_ip");
		if (!e)
			e = find_entry(st, "public", "max_connections");
		return conf_fail_entry(st, e, "%d connections per address is more than "
				       "public.max_connections (%d) allows",
				       cfg->max_connections_per_ip, cfg->max_connections);
	}
	if (!cfg->tag_url)
		cfg->tag_url = td_xasprintf("%s/tag/{tag}/", cfg->site_url);
	if (cfg->store_url) {
		const struct conf_entry *e = find_entry(st, "store", "url");
		if (strncmp(cfg->store_url, "postgresql://", 13) != 0 &&
		    strncmp(cfg->store_url, "postgres://", 11) != 0)
			return conf_fail_entry(st, e, "store.url must be a postgresql:// URL "
					       "(for an SQLite file, use store.path)");
		const char *auth = strstr(cfg->store_url, "://") + 3;
		const char *at = strchr(auth, '@'), *end = auth + strcspn(auth, "/?");
		if ((at && at < end && memchr(auth, ':', (size_t)(at - auth))) ||
		    strstr(cfg->store_url, "password="))
			return conf_fail_entry(st, e, "store.url carries a password: take it "
					       "out and give it to libpq in the PGPASSWORD "
					       "environment variable or a 0600 file named by "
					       "PGPASSFILE");
		/* both in the file is a mistake; a -o of one overrides the
		 * file's other (as -o overrides any key) */
		const struct conf_entry *p = find_entry(st, "store", "path");
		if (p && (p->line != 0) == (e->line != 0))
			return conf_fail_entry(st, e, "store.url and store.path both set: "
					       "keep the one this site uses");
		if (p && p->line == 0) {
			free(cfg->store_url);
			cfg->store_url = NULL;
		}
	}
	if (cfg->store_url) {
		/* the secret cannot sit next to a database on another host */
		if (!cfg->token_secret_file)
			cfg->token_secret_file = resolve_path(cfg->base_dir,
							      "var/tagdigest.secret");
		free(cfg->store_path);
		cfg->store_path = td_xstrdup(cfg->store_url);
	}
	if (!cfg->store_path)
		cfg->store_path = resolve_path(cfg->base_dir, "var/tagdigest.db");
	if (!cfg->timezone)
		cfg->timezone = td_xstrdup("UTC");
	if (!cfg->tz)
		cfg->tz = td_tz_load("UTC");
	if (!cfg->subscribers_path)
		cfg->subscribers_path = resolve_path(cfg->base_dir,
						     "subscribers/subscribers.csv");
	if (!cfg->templates_dir)
		cfg->templates_dir = default_templates_dir(cfg->base_dir);
	if (!cfg->maildir_path)
		cfg->maildir_path = resolve_path(cfg->base_dir, "outbox");
	if (!cfg->token_secret_env)
		cfg->token_secret_env = td_xstrdup("TAGDIGEST_TOKEN_SECRET");
	if (!cfg->token_secret_file)
		cfg->token_secret_file = td_xasprintf("%s.secret", cfg->store_path);

	if (cfg->transport_type == TD_TRANSPORT_SMTP && !cfg->smtp_url && !cfg->nrelays) {
		const struct conf_entry *e = find_entry(st, "transport", "type");
		return conf_fail_entry(st, e, "smtp needs transport.url "
				       "(smtp://host:port or smtps://host:port)");
	}

	if (!cfg->sendmail_path)
		cfg->sendmail_path = td_xstrdup("/usr/sbin/sendmail");
	if ((rc = check_login(st, "transport", cfg->transport_type == TD_TRANSPORT_SMTP,
			      cfg->smtp_url, cfg->smtp_username, cfg->smtp_password_env,
			      cfg->smtp_password_file, &cfg->smtp_starttls)))
		return rc;
	if ((rc = finish_relays(st, cfg)))
		return rc;

	int dkim_set = !!cfg->dkim_domain + !!cfg->dkim_selector + !!cfg->dkim_key_file;
	if (dkim_set != 0 && dkim_set != 3)
		return conf_fail_line(st, 0, "[dkim] needs domain, selector and key_file "
				      "together (or none of them to send unsigned)");

	if (cfg->bounce_mailbox) {
		/* the mailbox module's own check, without connecting */
		struct td_err merr = { 0, "" };
		const struct conf_entry *e = find_entry(st, "bounces", "mailbox");
		if (td_mailbox_spec_check(cfg->bounce_mailbox, cfg->bounce_processed_folder,
					  &merr)) {
			const char *m = merr.msg;
			if (strncmp(m, "bounces: ", 9) == 0)
				m += 9;
			if (strncmp(m, "processed_folder", 16) == 0)
				e = find_entry(st, "bounces", "processed_folder");
			return conf_fail_entry(st, e, "%s", m);
		}
		/* a login needs a password, never one from this file */
		if (strncmp(cfg->bounce_mailbox, "maildir:", 8) != 0 &&
		    !cfg->bounce_password_env && !cfg->bounce_password_file)
			return conf_fail_entry(st, e, "needs bounces.password_env or "
					       "bounces.password_file for the login");
	} else if (cfg->bounce_processed_folder) {
		const struct conf_entry *e = find_entry(st, "bounces", "processed_folder");
		return conf_fail_entry(st, e, "set, but bounces.mailbox is not");
	}

	if (cfg->nsources == 0)
		return conf_fail_line(st, 0, "no sources: add a [source.NAME] section "
				      "(type = posts, path = FOLDER)");
	for (size_t i = 0; i < st->nsrcs; i++) {
		const struct conf_source *cs = &st->srcs[i];
		if (cs->kind != NAMED_SOURCE)
			continue;
		const struct td_source_config *s = find_source(cfg, cs->name);
		if (!s->type)
			return conf_fail_source(st, cs, "type is required (posts or feed)");
		if (strcmp(s->type, "posts") == 0 && !s->path)
			return conf_fail_source(st, cs, "a posts source needs a path");
		if (strcmp(s->type, "feed") == 0 && !s->url)
			return conf_fail_source(st, cs, "a feed source needs a url");
	}
	return 0;
}

/* Whether a conf_keys section stands for a kind of named section. */
static bool is_named(const char *section)
{
	for (size_t k = 0; k < NNAMED; k++)
		if (strcmp(section, conf_named[k].kind) == 0)
			return true;
	return false;
}

static int build(struct conf_state *st, struct td_config *cfg)
{
	int rc;
	/* Defaults first; entries overwrite them. The whole numbers' come
	 * from the table, so tagdigest.conf(5) shows the ones in force. */
	cfg->slot_wday = 1;
	cfg->slot_hour = 8;
	cfg->slot_minute = 0;
	cfg->transport_type = TD_TRANSPORT_MAILDIR;
	for (size_t i = 0; i < sizeof conf_keys / sizeof *conf_keys; i++)
		if (conf_keys[i].kind == K_INT && !is_named(conf_keys[i].section))
			*(int *)(void *)((char *)cfg + conf_keys[i].off) = conf_keys[i].def;

	/* one array per kind of named section, in file order */
	size_t count[NNAMED] = { 0 };
	for (size_t i = 0; i < st->nsrcs; i++)
		count[st->srcs[i].kind]++;
	cfg->sources = td_xcalloc(count[NAMED_SOURCE], sizeof *cfg->sources);
	cfg->relays = td_xcalloc(count[NAMED_RELAY], sizeof *cfg->relays);
	cfg->throttles = td_xcalloc(count[NAMED_THROTTLE], sizeof *cfg->throttles);
	for (size_t i = 0; i < st->nsrcs; i++) {
		const char *name = st->srcs[i].name;
		char *base;
		switch (st->srcs[i].kind) {
		case NAMED_SOURCE:
			cfg->sources[cfg->nsources].name = td_xstrdup(name);
			cfg->sources[cfg->nsources].categories = true;
			cfg->nsources++;
			continue;
		case NAMED_RELAY:
			cfg->relays[cfg->nrelays].name = td_xstrdup(name);
			base = (char *)&cfg->relays[cfg->nrelays++];
			break;
		default:
			cfg->throttles[cfg->nthrottles].domain = td_xstrdup(name);
			base = (char *)&cfg->throttles[cfg->nthrottles++];
			break;
		}
		/* their whole numbers' defaults, from the table */
		for (size_t k = 0; k < sizeof conf_keys / sizeof *conf_keys; k++)
			if (conf_keys[k].kind == K_INT &&
			    strcmp(conf_keys[k].section, conf_named[st->srcs[i].kind].kind) == 0)
				*(int *)(void *)(base + conf_keys[k].off) = conf_keys[k].def;
	}

	for (size_t i = 0; i < st->nents; i++)
		if ((rc = apply_entry(st, cfg, &st->ents[i])))
			return rc;
	return finish(st, cfg);
}

int td_config_load(struct td_config *cfg, const char *path,
		   const char *const *overrides, size_t noverrides,
		   struct td_err *err)
{
	struct conf_state st;
	memset(&st, 0, sizeof st);
	memset(cfg, 0, sizeof *cfg);
	st.file = path;
	st.err = err;

	FILE *fp = fopen(path, "r");
	if (!fp)
		return td_err_set(err, EX_NOINPUT, "%s: cannot read: %s", path,
				  strerror(errno));
	st.fp = fp;
	int prc = ini_parse_stream(conf_read_line, &st, conf_handler, &st);
	fclose(fp);

	int rc = 0;
	if (st.read_errno) {
		rc = td_err_set(err, EX_NOINPUT, "%s: cannot read: %s", path,
				strerror(st.read_errno));
	} else if (prc > 0 && (!st.failed || (unsigned)prc < st.err_line)) {
		/* inih found a line our reader let through, before any
		 * problem we recorded. */
		st.failed = false;
		rc = conf_fail_line(&st, (unsigned)prc, "syntax error: expected "
				    "'key = value', a [section] or a ';' comment");
	} else if (st.failed) {
		rc = EX_CONFIG;
	} else if (prc < 0) {
		rc = td_err_set(err, EX_CONFIG, "%s: the INI parser failed (%d)",
				path, prc);
	}

	for (size_t i = 0; !rc && i < noverrides; i++)
		rc = apply_override(&st, overrides[i]);

	if (!rc) {
		cfg->file = td_xstrdup(path);
		cfg->base_dir = base_dir_of(path);
		rc = build(&st, cfg);
	}
	state_free(&st);
	if (rc)
		td_config_free(cfg);
	return rc;
}

void td_config_free(struct td_config *cfg)
{
	if (!cfg)
		return;
	char **strs[] = {
		&cfg->file, &cfg->base_dir, &cfg->site_name, &cfg->site_url,
		&cfg->from_address, &cfg->from_name, &cfg->list_id,
		&cfg->unsubscribe_url, &cfg->tag_url, &cfg->store_path, &cfg->store_url,
		&cfg->timezone, &cfg->subscribers_path, &cfg->templates_dir,
		&cfg->maildir_path, &cfg->smtp_url, &cfg->smtp_username,
		&cfg->smtp_password_env, &cfg->smtp_password_file,
		&cfg->token_secret_env, &cfg->token_secret_file,
		&cfg->dkim_domain, &cfg->dkim_selector, &cfg->dkim_key_file,
		&cfg->smtp_ca_file, &cfg->smtp_ehlo, &cfg->sendmail_path,
		&cfg->unsubscribe_mailto, &cfg->feedback_id, &cfg->public_url,
		&cfg->preferences_url, &cfg->return_path, &cfg->bounce_mailbox,
		&cfg->bounce_password_env, &cfg->bounce_password_file,
		&cfg->bounce_ca_file, &cfg->bounce_processed_folder,
		&cfg->reply_to, &cfg->postal_address, &cfg->language,
	};
	for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
		free(*strs[i]);
	for (size_t i = 0; i < cfg->nsources; i++) {
		free(cfg->sources[i].name);
		free(cfg->sources[i].type);
		free(cfg->sources[i].path);
		free(cfg->sources[i].url);
		td_strv_free(&cfg->sources[i].tags);
	}
	free(cfg->sources);
	for (size_t i = 0; i < cfg->nrelays; i++) {
		struct td_relay_config *r = &cfg->relays[i];
		free(r->name);
		free(r->url);
		free(r->username);
		free(r->password_env);
		free(r->password_file);
		free(r->ca_file);
	}
	free(cfg->relays);
	for (size_t i = 0; i < cfg->nthrottles; i++)
		free(cfg->throttles[i].domain);
	free(cfg->throttles);
	td_strv_free(&cfg->signup_tags);
	td_strv_free(&cfg->trusted_proxies);
	td_tz_free(cfg->tz);
	memset(cfg, 0, sizeof *cfg);
}

/* man(7) text: a backslash is \e, and a line must not start with a
 * control character ('.' or '\''). Every call starts a fresh line. */
static void man_line(struct td_buf *out, const char *s)
{
	if (*s == '.' || *s == '\'')
		td_buf_puts(out, "\\&");
	for (; *s; s++) {
		if (*s == '\\')
			td_buf_puts(out, "\\e");
		else if (*s == '-')
			td_buf_puts(out, "\\-");
		else
			td_buf_putc(out, *s);
	}
	td_buf_putc(out, '\n');
}

static void man_key(struct td_buf *out, const struct conf_key *k)
{
	td_buf_printf(out, ".TP\n.B %s\n", k->key);
	man_line(out, k->doc);
	td_buf_puts(out, ".br\n");
	char *values = k->kind == K_INT
		? td_xasprintf("Values: a whole number from %d to %d.", k->min, k->max)
		: td_xasprintf("Values: %s.", kind_values[k->kind]);
	man_line(out, values);
	free(values);
	td_buf_puts(out, ".br\n");
	char *def = k->kind == K_INT ? td_xasprintf("Default: %d.", k->def)
		: td_xasprintf("Default: %s.", k->def_text ? k->def_text : "unset");
	man_line(out, def);
	free(def);
}

/* Every row, kind and section must carry its text: a gap fails the
 * build that generates the page, so nothing ships undocumented. */
static int docs_complete(struct td_err *err)
{
	for (size_t i = 0; i < sizeof conf_keys / sizeof *conf_keys; i++) {
		const struct conf_key *k = &conf_keys[i];
		bool known = is_named(k->section);
		for (size_t j = 0; j < sizeof conf_sections / sizeof *conf_sections; j++)
			known = known || strcmp(conf_sections[j].name, k->section) == 0;
		if (!known)
			return td_err_set(err, EX_SOFTWARE, "%s.%s: section not in "
					  "conf_sections", k->section, k->key);
		if (!k->doc || !*k->doc)
			return td_err_set(err, EX_SOFTWARE, "%s.%s has no description",
					  k->section, k->key);
		if ((size_t)k->kind >= sizeof kind_values / sizeof *kind_values ||
		    !kind_values[k->kind])
			return td_err_set(err, EX_SOFTWARE, "%s.%s: its kind has no "
					  "description of its values", k->section, k->key);
	}
	for (size_t j = 0; j < sizeof conf_sections / sizeof *conf_sections; j++)
		if (!conf_sections[j].doc || !*conf_sections[j].doc)
			return td_err_set(err, EX_SOFTWARE, "[%s] has no introduction",
					  conf_sections[j].name);
	return 0;
}

static void man_section(struct td_buf *out, const char *title, const char *name,
			const char *doc)
{
	td_buf_printf(out, ".SS [%s]\n", title);
	man_line(out, doc);
	for (size_t i = 0; i < sizeof conf_keys / sizeof *conf_keys; i++)
		if (strcmp(conf_keys[i].section, name) == 0)
			man_key(out, &conf_keys[i]);
}

int td_config_write_man(struct td_buf *out, struct td_err *err)
{
	int rc = docs_complete(err);
	if (rc)
		return rc;
	td_buf_puts(out,
		".\\\" Generated from the config reader's table (src/cli/config.c);\n"
		".\\\" edit the table, not this page.\n"
		".TH TAGDIGEST.CONF 5 \"\" \"tagdigest " TD_VERSION "\" \"File Formats\"\n"
		".nh\n"
		".SH NAME\n"
		"tagdigest.conf \\- configuration of tagdigest\n"
		".SH SYNOPSIS\n"
		".I config/tagdigest.conf\n"
		"(or the file named by\n.B \\-c\n"
		"or\n.BR TAGDIGEST_CONFIG )\n"
		".SH DESCRIPTION\n"
		"The configuration is an INI file. Lines starting with ; or # are\n"
		"comments; a ; after a value starts a comment only when a space comes\n"
		"before it. Section and key names are lowercase. Unknown sections or\n"
		"keys are errors, so a typo never goes unnoticed; an error names the\n"
		"file, the line and the key. A line may hold at most 199 characters.\n"
		".PP\n"
		"Relative paths are resolved against the folder holding the config\n"
		"file, not the folder tagdigest runs in, so cron sees the same files\n"
		"as a shell.\n"
		".PP\n"
		"Secrets never go in this file: keys such as\n.B password\n"
		"are refused. Name an environment variable\n(\\fB*_env\\fR)\n"
		"or a file that only the sending user can read\n(\\fB*_file\\fR)\n"
		"instead.\n"
		".PP\n"
		"Any key can be overridden for one run on the command line with\n"
		".BI \\-o \" SECTION.KEY=VALUE\\fR,\"\n"
		"e.g.\n.B \\-o schedule.day=friday\n"
		"or\n.BR \"\\-o source.posts.path=/srv/posts\" .\n"
		".SH SECTIONS AND KEYS\n");
	for (size_t j = 0; j < sizeof conf_sections / sizeof *conf_sections; j++)
		man_section(out, conf_sections[j].name, conf_sections[j].name,
			    conf_sections[j].doc);
	for (size_t k = 0; k < NNAMED; k++)
		man_section(out, conf_named[k].title, conf_named[k].kind, conf_named[k].doc);
	td_buf_puts(out,
		".SH EXAMPLE\n"
		".EX\n"
		"[site]\n"
		"name = Newsroom Weekly\n"
		"url = https://newsroom.example.org\n"
		"from = digest@newsroom.example.org\n"
		"\n"
		"[schedule]\n"
		"day = monday\n"
		"time = 08:00\n"
		"timezone = Europe/Berlin\n"
		"\n"
		"[transport]\n"
		"type = smtp\n"
		"url = smtps://mail.example.org:465\n"
		"username = digest@newsroom.example.org\n"
		"password_file = /etc/tagdigest/smtp\\-password\n"
		"\n"
		"[source.posts]\n"
		"type = posts\n"
		"path = ../posts\n"
		".EE\n"
		".SH FILES\n"
		".TP\n"
		".I share/tagdigest/tagdigest.conf.example\n"
		"The commented sample configuration, installed under the prefix.\n"
		".TP\n"
		".I share/tagdigest/templates/\n"
		"The installed default templates, used when\n.B [templates] dir\n"
		"is not set and no\n.I templates/\n"
		"folder sits next to the config file.\n"
		".SH SEE ALSO\n"
		".BR tagdigest (1)\n");
	return 0;
}
