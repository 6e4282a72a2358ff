/*
 * fuzz_bounce.c: libFuzzer target for the bounce parser (report.h):
 * td_bounce_parse on the raw bytes, then the JSON bounce-dump prints.
 *
 * Held to the contract (a trap is a finding): it returns 0 for any input;
 * at most TD_BOUNCE_MAX_RECIPIENTS recipients; every string in the report
 * is valid UTF-8 without control characters; reason is one of
 * td_bounce_reasons; status and reply code are NUL-terminated within
 * their arrays; `bounce` is true exactly when a recipient failed; the
 * JSON is one line of valid UTF-8 ending in a newline.
 *
 * Seeds: the Sisimai corpus, $(TESTDATA)/bounces/bsd and not (read in
 * place, never copied).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tagdigest/bounce/report.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s)
{
	if (!s)
		abort();
	size_t n = strlen(s);
	if (!td_utf8_valid(s, n))
		abort();
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = td_utf8_next(s + i, n - i, &cp);
		if (k == 0 || td_is_control(cp) || cp == '\n' || cp == '\r' || cp == '\t')
			abort();
		i += k;
	}
}

static bool known_reason(const char *r)
{
	for (size_t i = 0; td_bounce_reasons[i]; i++)
		if (r == td_bounce_reasons[i] || strcmp(r, td_bounce_reasons[i]) == 0)
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct td_bounce_report r;
	if (td_bounce_parse((const char *)data, size, &r, NULL) != 0)
		abort();
	if (r.n > TD_BOUNCE_MAX_RECIPIENTS)
		abort();
	bool failed = false;
	for (size_t i = 0; i < r.n; i++) {
		const struct td_bounce_recipient *rc = &r.v[i];
		check_text(rc->address);
		check_text(rc->diagnostic);
		check_text(rc->action);
		if (memchr(rc->status, '\0', sizeof rc->status) == NULL ||
		    memchr(rc->reply_code, '\0', sizeof rc->reply_code) == NULL)
			abort();
		check_text(rc->status);
		check_text(rc->reply_code);
		if (!rc->reason || !known_reason(rc->reason))
			abort();
		if (strcmp(rc->reason, "feedback") && strcmp(rc->reason, "vacation") &&
		    strcmp(rc->reason, "delivered"))
			failed = true;
	}
	if (r.feedback)
		check_text(r.feedback);
	if (r.bounce != failed)
		abort();
	struct td_buf json = TD_BUF_INIT;
	td_bounce_report_json(&r, &json);
	if (json.len == 0 || json.data[json.len - 1] != '\n' ||
	    memchr(json.data, '\n', json.len) != json.data + json.len - 1 ||
	    !td_utf8_valid(json.data, json.len))
		abort();
	td_buf_free(&json);
	td_bounce_report_free(&r);
	return 0;
}
