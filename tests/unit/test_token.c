/*
 * test_token.c: tokens verify, forgeries and truncations do not, and the
 * secret file is created private and refused when others can read it.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "tagdigest/token.h"
#include "tagdigest/util.h"

static void test_roundtrip_and_forgery(void)
{
	struct td_secret s = { (unsigned char *)"0123456789abcdef0123456789abcdef", 32 };
	char *tok = td_token_make(&s, "jürgen@example.org", "all");
	char *email, *scope;
	CHECK(td_token_verify(&s, tok, &email, &scope));
	CHECK_STR(email, "jürgen@example.org");
	CHECK_STR(scope, "all");
	free(email);
	free(scope);
	/* URL-safe: no characters that need escaping in a path */
	CHECK(strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") == strlen(tok));

	/* every single-character change is refused */
	size_t len = strlen(tok), refused = 0;
	for (size_t i = 0; i < len; i++) {
		char *t = strdup(tok);
		t[i] = t[i] == 'A' ? 'B' : 'A';
		if (!td_token_verify(&s, t, &email, &scope))
			refused++;
		else {
			free(email);
			free(scope);
		}
		free(t);
	}
	CHECK(refused == len);
	/* truncated */
	char *t = strdup(tok);
	t[len - 1] = '\0';
	CHECK(!td_token_verify(&s, t, &email, &scope));
	CHECK(email == NULL);
	free(t);
	/* another secret */
	struct td_secret other = { (unsigned char *)"fedcba9876543210fedcba9876543210", 32 };
	CHECK(!td_token_verify(&other, tok, &email, &scope));
	/* scope swapped: payload of another scope with this MAC */
	char *tag_tok = td_token_make(&s, "jürgen@example.org", "nato");
	char *mixed = td_xasprintf("%.*s%s", (int)(strchr(tag_tok, '.') - tag_tok),
				   tag_tok, strchr(tok, '.'));
	CHECK(!td_token_verify(&s, mixed, &email, &scope));
	CHECK(!td_token_verify(&s, "", &email, &scope));
	CHECK(!td_token_verify(&s, ".", &email, &scope));
	CHECK(!td_token_verify(&s, "no-dot-here", &email, &scope));
	free(mixed);
	free(tag_tok);
	free(tok);
}

static void test_secret_file(void)
{
	char dir[] = "/tmp/td-token-XXXXXX";
	if (!mkdtemp(dir))
		return;
	char *file = td_xasprintf("%s/secret", dir);
	struct td_secret s;
	struct td_err err = { 0, "" };
	unsetenv("TD_TEST_SECRET");
	CHECK(td_secret_load("TD_TEST_SECRET", file, false, &s, &err) == EX_NOINPUT);
	CHECK(td_secret_load("TD_TEST_SECRET", file, true, &s, &err) == 0);
	CHECK(s.len >= 32);
	struct stat st;
	CHECK(stat(file, &st) == 0 && (st.st_mode & 0777) == 0600);
	/* loading again gives the same secret */
	struct td_secret again;
	CHECK(td_secret_load("TD_TEST_SECRET", file, true, &again, &err) == 0);
	CHECK(again.len == s.len && memcmp(again.bytes, s.bytes, s.len) == 0);
	td_secret_free(&again);
	td_secret_free(&s);
	/* the environment wins over the file */
	setenv("TD_TEST_SECRET", "an environment secret of enough length", 1);
	CHECK(td_secret_load("TD_TEST_SECRET", file, true, &s, &err) == 0);
	CHECK(s.len == strlen("an environment secret of enough length"));
	td_secret_free(&s);
	setenv("TD_TEST_SECRET", "short", 1);
	CHECK(td_secret_load("TD_TEST_SECRET", file, true, &s, &err) == EX_CONFIG);
	unsetenv("TD_TEST_SECRET");
	/* group-readable file refused */
	chmod(file, 0640);
	CHECK(td_secret_load("TD_TEST_SECRET", file, true, &s, &err) == EX_CONFIG);
	CHECK(strstr(err.msg, "chmod 600") != NULL);
	unlink(file);
	rmdir(dir);
	free(file);
}

int main(void)
{
	TD_RUN(test_roundtrip_and_forgery);
	TD_RUN(test_secret_file);
	return TD_DONE("token");
}
