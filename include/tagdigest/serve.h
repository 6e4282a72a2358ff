/*
 * serve: the editors' desk in a browser, and the public unsubscribe pages,
 * over libmicrohttpd.
 *
 * Editor mode (default, 127.0.0.1:8025): a home page with each tag's
 * waiting posts, the next send time, subscriber counts, the last run and
 * source health; a preview of the digest a chosen subscriber (or a sample
 * reader of one tag) would get now (HTML part in a sandboxed iframe, text
 * part, headers, raw message, size with a warning above Gmail's 102 KB
 * clipping); live reload when a template or post changes; "send a test"
 * (CSRF-protected) through the configured transport, subject marked as a
 * test, no watermark moved; template errors as a readable page.
 *
 * Public mode (--public): only the unsubscribe routes exist.
 *   GET  /unsubscribe/TOKEN   a confirmation page with one button (GETs are
 *                             prefetched by link scanners: never act on one)
 *   POST /unsubscribe/TOKEN   body List-Unsubscribe=One-Click (RFC 8058) or
 *                             the page's form: unsubscribes at once, 200, no
 *                             redirect; repeats are harmless
 * A forged or truncated token gets a 400 that reveals nothing. Request
 * sizes and rates are bounded.
 *
 * td_serve() runs until SIGINT or SIGTERM.
 */
#ifndef TAGDIGEST_SERVE_H
#define TAGDIGEST_SERVE_H

#include <stdbool.h>
#include <stddef.h>

#include "tagdigest/err.h"

struct td_serve_options {
	const char *config_path;
	const char *const *overrides;  /* -o SECTION.KEY=VALUE, as main got them */
	size_t noverrides;
	const char *listen;            /* "127.0.0.1:8025" */
	bool public_mode;
};

int td_serve(const struct td_serve_options *opt, struct td_err *err);

#endif
