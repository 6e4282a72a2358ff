/*
 * subscribers: the editors' subscriber file, RFC 4180 CSV with a header row.
 *
 * Required columns: email, name, tags (tags separated by ';', each turned
 * into a slug). Other columns are allowed and ignored; column order is free.
 * Quoted fields may hold commas, doubled quotes and line breaks; CRLF and LF
 * line ends and a UTF-8 BOM are accepted.
 *
 * A bad row (invalid address, unterminated quote, no tags, duplicate email,
 * invalid UTF-8 in the name) is reported as "FILE:LINE: problem" through
 * td_log_warnx and skipped; the good rows are kept. A missing or malformed
 * header is an error for the whole file.
 *
 * Ownership: the list owns everything; td_subscribers_free() releases it.
 */
#ifndef TAGDIGEST_SUBSCRIBERS_H
#define TAGDIGEST_SUBSCRIBERS_H

#include <stddef.h>

#include "tagdigest/err.h"
#include "tagdigest/util.h"

struct td_subscriber {
	char *email;          /* validated (address.h), as written */
	char *name;           /* may be "" */
	struct td_strv tags;  /* slugs, in file order, no duplicates */
	unsigned line;        /* line of the row's start in the file */
};

struct td_subscriber_list {
	struct td_subscriber *v;
	size_t n;
	size_t nbad;          /* rows reported and skipped */
};

/* Returns 0, EX_NOINPUT (cannot read) or EX_DATAERR (bad header). */
int td_subscribers_load(const char *path, struct td_subscriber_list *out,
			struct td_err *err);
/* Parses CSV text already in memory; `path` is used in messages only. */
int td_subscribers_parse(const char *path, const char *text, size_t len,
			 struct td_subscriber_list *out, struct td_err *err);
const struct td_subscriber *td_subscribers_find(const struct td_subscriber_list *l,
						const char *email);
void td_subscribers_free(struct td_subscriber_list *l);

#endif
