/*
 * test_mustache_spec.c: runs the official Mustache spec suite
 * (the JSON files in TESTDATA/mustache-spec, copied unchanged from
 * mustache/spec)
 * against the template engine, the way cmark runs its spec: the suite is
 * data, and a failure prints the file, the test name, and what was expected
 * against what came out with the whitespace made visible.
 *
 * Every file but ~lambdas.json is required to pass: lambdas are host-
 * language functions, which JSON data cannot carry to C, so that file is
 * counted as skipped. Without the testdata folder the runner says so loudly
 * and exits 0, so a checkout without ../shared still builds and tests.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "json_mini.h"
#include "tagdigest/compose/template.h"
#include "tagdigest/core/util.h"

#ifndef TESTDATA
#define TESTDATA "../shared/testdata"
#endif

static const char *const required[] = {
	"comments.json", "delimiters.json", "interpolation.json",
	"inverted.json", "partials.json",   "sections.json",
	"~inheritance.json", "~dynamic-names.json",
};
static const char *const skipped_file = "~lambdas.json";

static int n_skipped;

/* One line per output line, escapes for the invisible characters, and an
 * explicit end marker so trailing spaces and missing newlines show. */
static void show(const char *label, const char *s, size_t len)
{
	fprintf(stderr, "  %s:\n    |", label);
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '\n')
			fprintf(stderr, "\\n\n%s", i + 1 < len ? "    |" : "");
		else if (c == '\r')
			fputs("\\r", stderr);
		else if (c == '\t')
			fputs("\\t", stderr);
		else if (c == ' ' && (i + 1 == len || s[i + 1] == '\n'))
			fputs("\\s", stderr); /* trailing space */
		else
			fputc(c, stderr);
	}
	if (len == 0 || s[len - 1] != '\n')
		fputc('\n', stderr);
	fputs("    <end>\n", stderr);
}

static void report_diff(const char *want, size_t wlen, const char *got, size_t glen)
{
	size_t i = 0, line = 1, col = 1;
	while (i < wlen && i < glen && want[i] == got[i]) {
		if (want[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
		i++;
	}
	show("expected", want, wlen);
	show("got", got, glen);
	fprintf(stderr, "  first difference at byte %zu (line %zu, col %zu)\n",
		i, line, col);
}

static const char *str_member(const struct td_value *t, const char *key)
{
	return td_value_map_get_str(t, key);
}

/* Runs one spec test; true when the output matches byte for byte. */
static bool run_one(const char *file, const struct td_value *test)
{
	const char *name = str_member(test, "name");
	const char *tpl = str_member(test, "template");
	const char *want = str_member(test, "expected");
	const struct td_value *data = td_value_map_get(test, "data");
	const struct td_value *parts = td_value_map_get(test, "partials");
	struct td_err err = { 0, "" };
	struct td_template_set *set = td_template_set_new();
	struct td_template *t = NULL;
	struct td_buf out = TD_BUF_INIT;
	bool ok = false;
	int rc = 0;

	if (!name || !tpl || !want || !data) {
		fprintf(stderr, "FAIL %s: %s: malformed test record\n", file,
			name ? name : "(no name)");
		goto done;
	}
	for (size_t i = 0; i < td_value_map_len(parts) && !rc; i++) {
		const char *src = td_value_map_get_str(parts, td_value_map_key(parts, i));
		if (src)
			rc = td_template_set_add(set, td_value_map_key(parts, i), src,
						 strlen(src), &err);
	}
	if (!rc)
		rc = td_template_parse("template", tpl, strlen(tpl), &t, &err);
	/* the JSON reader's tree is the engine's: data is the context */
	if (!rc)
		rc = td_template_render(t, set, data, true, &out, &err);
	if (rc) {
		fprintf(stderr, "FAIL %s: %s\n  error %d: %s\n", file, name, rc,
			err.msg);
		goto done;
	}
	ok = out.len == strlen(want) && memcmp(td_buf_cstr(&out), want, out.len) == 0;
	if (!ok) {
		fprintf(stderr, "FAIL %s: %s\n", file, name);
		show("template", tpl, strlen(tpl));
		report_diff(want, strlen(want), td_buf_cstr(&out), out.len);
	}
done:
	td_buf_free(&out);
	td_template_free(t);
	td_template_set_free(set);
	return ok;
}

static struct td_value *load_json(const char *dir, const char *file)
{
	char *path = td_xasprintf("%s/%s", dir, file);
	char *src = NULL, msg[200];
	size_t len = 0;
	struct td_value *doc = NULL;
	if (td_read_file(path, 16 * 1024 * 1024, &src, &len) != 0)
		fprintf(stderr, "FAIL %s: cannot read: %s\n", path, strerror(errno));
	else if (!(doc = json_parse(src, len, msg, sizeof msg)))
		fprintf(stderr, "FAIL %s: bad JSON: %s\n", path, msg);
	free(src);
	free(path);
	return doc;
}

static void run_file(const char *dir, const char *file)
{
	struct td_value *doc = load_json(dir, file);
	const struct td_value *tests = td_value_map_get(doc, "tests");
	if (td_value_type(tests) != TD_VALUE_LIST) {
		if (doc)
			fprintf(stderr, "FAIL %s: no \"tests\" array\n", file);
		td_test_failed++;
		td_value_free(doc);
		return;
	}
	int pass = 0, fail = 0;
	for (size_t i = 0; i < td_value_list_len(tests); i++) {
		if (run_one(file, td_value_list_at(tests, i)))
			pass++;
		else
			fail++;
	}
	printf("  %-22s %3d passed, %d failed\n", file, pass, fail);
	td_test_passed += pass;
	td_test_failed += fail;
	td_value_free(doc);
}

static void count_skipped(const char *dir, const char *file)
{
	struct td_value *doc = load_json(dir, file);
	int n = (int)td_value_list_len(td_value_map_get(doc, "tests"));
	printf("  %-22s %3d skipped (lambdas are host-language code)\n", file, n);
	n_skipped += n;
	td_value_free(doc);
}

/* The normaliser decides how every JSON number in the suite renders. */
static int check_number_text(void)
{
	static const char *const cases[][2] = {
		{ "1.210", "1.21" }, { "85", "85" },   { "85.0", "85" },
		{ "1e2", "100" },    { "-0.50", "-0.5" }, { "0.1", "0.1" },
		{ "-0", "0" },       { "2.5e-7", "2.5e-07" },
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *got = json_number_text(cases[i][0]);
		if (strcmp(got, cases[i][1]) != 0) {
			fprintf(stderr, "json_number_text(%s) = %s, want %s\n",
				cases[i][0], got, cases[i][1]);
			bad++;
		}
		free(got);
	}
	return bad;
}

int main(void)
{
	/* failures go to stderr; keep the per-file tally next to them */
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *base = getenv("TESTDATA");
	if (!base || !*base)
		base = TESTDATA;
	char *dir = td_xasprintf("%s/mustache-spec", base);
	struct stat st;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		printf("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
		       "SKIPPED: mustache spec suite not found at %s\n"
		       "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n",
		       dir);
		free(dir);
		return 0;
	}
	int bad_numbers = check_number_text();
	printf("mustache-spec: %s\n", dir);
	for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
		run_file(dir, required[i]);
	count_skipped(dir, skipped_file);
	printf("mustache-spec: %d passed, %d failed, %d skipped\n",
	       td_test_passed, td_test_failed, n_skipped);
	free(dir);
	return td_test_failed || bad_numbers ? 1 : 0;
}
