/*
 * feed_dump.c: `feed-dump`, what tagdigest reads from one feed (a
 * file or a URL), as JSON (feed.h); it changes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tagdigest/sources/feed.h"
#include "tagdigest/sources/fetch.h"
#include "tagdigest/core/log.h"
#include "tagdigest/cli/options.h"
#include "tagdigest/core/util.h"
#include "tagdigest/core/value.h"

static const char feed_dump_help[] =
	"usage: tagdigest feed-dump [--base URL] [--content-type TYPE] [--pretty]\n"
	"                           FILE|URL\n\n"
	"Parses one feed (a file, or an http(s) URL fetched with the [fetch]\n"
	"settings when a config is readable) and prints what tagdigest read, as\n"
	"JSON with feedparser's field names, on one line (for scripts). Changes\n"
	"nothing.\n"
	"  --base URL          the document's address, for relative links (a\n"
	"                      URL's default: its Content-Location, else the\n"
	"                      address after redirects)\n"
	"  --content-type T    the HTTP Content-Type it came with (its charset)\n"
	"  --pretty            indented, a member a line, for people\n\n"
	"exit status: 0 dumped, 64 usage, 65 not a feed (the file or URL is\n"
	"named), 66 no such file, 69 the URL could not be fetched.\n";

static bool is_url(const char *s)
{
	return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0 ||
	       strncmp(s, "file://", 7) == 0;
}

static int fetch_one(const struct td_cli_globals *g, const char *url,
		     struct td_fetch_result *res)
{
	/* Use the config's [fetch] limits when there is a config; a dump
	 * must also work without one. */
	struct td_fetch_options opt = { 1, 30, 10, 10L << 20, 5 };
	struct td_config cfg;
	struct td_err err = { 0, "" };
	if (td_config_load(&cfg, g->config_path, g->overrides, g->noverrides, &err) == 0) {
		opt = td_options_fetch(&cfg);
		opt.parallel = 1;
		td_config_free(&cfg);
	}
	struct td_fetch_request req = { url, NULL, NULL };
	if (td_fetch_all(&opt, &req, 1, res, &err))
		return td_cli_fail(&err);
	if (res->status != TD_FETCH_OK) {
		td_log_warnx("feed-dump: %s: %s", url, res->error);
		return EX_UNAVAILABLE;
	}
	return 0;
}

int td_cli_feed_dump(const struct td_cli_globals *g, int argc, char **argv)
{
	bool helped, pretty = false;
	const char *base = NULL, *ctype = NULL, *source = NULL;
	struct td_cli_opt opts[] = {
		{ "--base", true, &base, NULL },
		{ "--content-type", true, &ctype, NULL },
		{ "--pretty", false, NULL, &pretty },
	};
	size_t npos;
	int rc = td_cli_parse_args("feed-dump", feed_dump_help, argc, argv, opts, 3,
				   &source, 1, &npos, &helped);
	if (rc || helped)
		return rc;
	if (!source)
		return td_cli_usage_error("feed-dump", "a FILE or URL is required", NULL);

	struct td_fetch_result res;
	memset(&res, 0, sizeof res);
	char *data = NULL;
	size_t len = 0;
	if (is_url(source)) {
		if ((rc = fetch_one(g, source, &res))) {
			td_fetch_result_free(&res);
			return rc;
		}
		data = res.body;
		len = res.len;
		if (!base)
			base = res.content_location ? res.content_location :
						      res.final_url;
		if (!ctype)
			ctype = res.content_type;
	} else if (td_read_file(source, 64u << 20, &data, &len) < 0) {
		td_log_warn("feed-dump: %s", source);
		return EX_NOINPUT;
	}
	struct td_feed *feed = NULL;
	struct td_err err = { 0, "" };
	rc = td_feed_parse(data, len, base, ctype, &feed, &err);
	if (rc) {
		/* which file or URL, as ingest names the source's */
		td_err_prefix(&err, "feed-dump: %s", source);
		td_cli_fail(&err);
	} else {
		struct td_buf json = TD_BUF_INIT, indented = TD_BUF_INIT;
		td_feed_dump_json(feed, &json);
		if (pretty)
			td_value_json_indent(json.data, json.len, &indented);
		const struct td_buf *b = pretty ? &indented : &json;
		fwrite(b->data, 1, b->len, stdout);
		putchar('\n');
		td_buf_free(&json);
		td_buf_free(&indented);
		td_feed_free(feed);
	}
	if (data != res.body)
		free(data);
	td_fetch_result_free(&res);
	return rc;
}
