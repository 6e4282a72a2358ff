/*
 * test_mime.c: unit tests for src/compose/mime.c.
 *
 * The encoders are checked against decoders written here from the RFCs
 * (RFC 2045 6.7 quoted-printable, RFC 4648 base64 inside RFC 2047 words),
 * not against the encoder's own output: every input must come back byte
 * for byte, and every encoded line must obey the format's rules. Whole
 * messages are parsed back with libetpan's parser (a separate code path
 * from its writer) and compared with the inputs.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include <libetpan/libetpan.h>

#include "harness.h"
#include "header_reader.h"
#include "tagdigest/core/address.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/core/err.h"
#include "tagdigest/compose/mime.h"
#include "tagdigest/core/util.h"

/* ---- helpers ----------------------------------------------------------- */

static uint64_t rng_state = 0x243F6A8885A308D3u; /* fixed seed */

static uint32_t rng(void)
{
	/* xorshift64*: deterministic, so a failure reproduces */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545F4914F6CDD1Du) >> 32);
}

/* LF not preceded by CR becomes CRLF; everything else stays. This is what
 * a QP round trip of text must give back. */
static void crlf(const char *in, size_t n, struct td_buf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			td_buf_putc(out, '\r');
		td_buf_putc(out, in[i]);
	}
}

static int hexval(char c)
{
	/* RFC 2045: the hex digits of an escape are upper case */
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * RFC 2045 6.7 decoder that also checks the encoder's side of the rules.
 * Returns NULL (with *why set) when enc breaks a rule: line over 76, bare
 * CR or LF, a byte outside printable ASCII, trailing SP/TAB, a bad escape,
 * a line starting with '.' or "From ". Else the decoded bytes, malloc'd.
 */
static char *qp_decode(const char *enc, size_t n, size_t *outlen,
		       const char **why)
{
	struct td_buf out = TD_BUF_INIT;
	size_t i = 0;
	*why = NULL;
	while (i < n && !*why) {
		size_t e = i;
		while (e < n && enc[e] != '\r' && enc[e] != '\n')
			e++;
		bool hard = false;
		if (e < n) {
			if (enc[e] != '\r' || e + 1 >= n || enc[e + 1] != '\n') {
				*why = "bare CR or LF";
				break;
			}
			hard = true;
		}
		size_t len = e - i;
		const char *l = enc + i;
		if (len > 76)
			*why = "line longer than 76";
		else if (len && (l[len - 1] == ' ' || l[len - 1] == '\t'))
			*why = "trailing whitespace";
		else if (len && l[0] == '.')
			*why = "line starts with '.'";
		else if (len >= 5 && memcmp(l, "From ", 5) == 0)
			*why = "line starts with \"From \"";
		bool soft = len && l[len - 1] == '=';
		if (soft)
			len--;
		for (size_t k = 0; k < len && !*why; k++) {
			unsigned char c = (unsigned char)l[k];
			if (c == '=') {
				int hi = k + 2 < len ? hexval(l[k + 1]) : -1;
				int lo = k + 2 < len ? hexval(l[k + 2]) : -1;
				if (hi < 0 || lo < 0) {
					*why = "bad =XX escape";
					break;
				}
				td_buf_putc(&out, (char)(hi * 16 + lo));
				k += 2;
			} else if (c == ' ' || c == '\t' || (c >= 33 && c <= 126)) {
				td_buf_putc(&out, (char)c);
			} else {
				*why = "byte outside printable ASCII";
			}
		}
		if (soft && !hard)
			*why = "soft break at the end of the data";
		if (hard && !soft)
			td_buf_append(&out, "\r\n", 2);
		i = hard ? e + 2 : e;
	}
	if (*why) {
		td_buf_free(&out);
		return NULL;
	}
	*outlen = out.len;
	return td_buf_steal(&out);
}

/* Encodes in[0..n), decodes, compares with crlf(in). */
static bool qp_roundtrip(const char *in, size_t n, const char **why)
{
	struct td_buf enc = TD_BUF_INIT, want = TD_BUF_INIT;
	bool ok = false;
	*why = "encoder failed";
	if (td_qp_encode(in, n, &enc) == 0) {
		size_t dlen = 0;
		char *dec = qp_decode(td_buf_cstr(&enc), enc.len, &dlen, why);
		crlf(in, n, &want);
		if (dec) {
			ok = dlen == want.len && memcmp(dec, td_buf_cstr(&want), dlen) == 0;
			if (!ok)
				*why = "decoded text differs";
		}
		free(dec);
	}
	td_buf_free(&enc);
	td_buf_free(&want);
	return ok;
}

static char *qp(const char *in)
{
	struct td_buf b = TD_BUF_INIT;
	if (td_qp_encode(in, strlen(in), &b) < 0) {
		td_buf_free(&b);
		return td_xstrdup("(error)");
	}
	return td_buf_steal(&b);
}

static char *repeat(char c, size_t n, const char *tail)
{
	struct td_buf b = TD_BUF_INIT;
	for (size_t i = 0; i < n; i++)
		td_buf_putc(&b, c);
	td_buf_puts(&b, tail);
	return td_buf_steal(&b);
}

#define CHECK_QP(in, want)                                                   \
	do {                                                                 \
		char *got_ = qp(in);                                         \
		CHECK_STR(got_, want);                                       \
		free(got_);                                                  \
	} while (0)

#define CHECK_ROUNDTRIP(in, n)                                               \
	do {                                                                 \
		const char *why_;                                            \
		bool ok_ = qp_roundtrip(in, n, &why_);                       \
		if (!ok_)                                                    \
			fprintf(stderr, "  qp round trip: %s\n", why_);      \
		CHECK(ok_);                                                  \
	} while (0)

/* ---- quoted-printable ---------------------------------------------------- */

static void test_qp_exact(void)
{
	/* Expected values worked out by hand from RFC 2045 6.7. */
	CHECK_QP("", "");
	CHECK_QP("plain text", "plain text");
	CHECK_QP("\n\n", "\r\n\r\n");
	CHECK_QP("a\r\nb", "a\r\nb");
	CHECK_QP("-- \n", "--=20\r\n");      /* signature separator */
	CHECK_QP("a  \n", "a =20\r\n");
	CHECK_QP("a\t\n", "a=09\r\n");
	CHECK_QP("end  ", "end =20");        /* trailing blanks at the end */
	CHECK_QP("a \rb", "a =0Db");         /* bare CR is data */
	CHECK_QP("\r\r\n", "=0D\r\n");
	CHECK_QP("x=y", "x=3Dy");
	CHECK_QP(".\n", "=2E\r\n");
	CHECK_QP("..x\n.", "=2E.x\r\n=2E");
	CHECK_QP("From me\n", "=46rom me\r\n");
	CHECK_QP("From\n", "From\r\n");
	CHECK_QP("xFrom y", "xFrom y");
	CHECK_QP("Gr\xc3\xbc\xc3\x9f" "e\n", "Gr=C3=BC=C3=9Fe\r\n");
	CHECK_QP("del\x7f", "del=7F");
	CHECK_QP("nul\x01", "nul=01");
	CHECK_QP("tab\tin", "tab\tin");
}

static void test_qp_wrapping(void)
{
	char *in, *want;

	/* exactly 76: fits on one line, no soft break */
	in = repeat('a', 76, "");
	CHECK_QP(in, in);
	free(in);

	/* 77: 75 + "=" on the first line, the rest on the next */
	in = repeat('a', 77, "");
	want = repeat('a', 75, "=\r\naa");
	CHECK_QP(in, want);
	free(in);
	free(want);

	/* 76 then LF: still one line */
	in = repeat('a', 76, "\n");
	want = repeat('a', 76, "\r\n");
	CHECK_QP(in, want);
	free(in);
	free(want);

	/* an escape is never split: "=3D" moves to the next line whole */
	in = repeat('a', 74, "=b");
	want = repeat('a', 74, "=\r\n=3Db");
	CHECK_QP(in, want);
	free(in);
	free(want);

	/* a trailing space that does not fit moves with its escape */
	in = repeat('a', 75, " \n");
	want = repeat('a', 75, "=\r\n=20\r\n");
	CHECK_QP(in, want);
	free(in);
	free(want);

	/* '.' and "From " after a soft break start a physical line too */
	in = repeat('a', 75, ".b");
	want = repeat('a', 75, "=\r\n=2Eb");
	CHECK_QP(in, want);
	free(in);
	free(want);
	in = repeat('a', 75, "From x");
	want = repeat('a', 75, "=\r\n=46rom x");
	CHECK_QP(in, want);
	free(in);
	free(want);
}

static void test_qp_roundtrip_cases(void)
{
	static const char *const cases[] = {
		"-- \n", "a  \n", "a\t\n", "end  ", "a \rb", " ", "\t", "\r",
		"\r\n", "\n", "a \r\n", "x\r", "=", "==\n=", ".", "..\n.\n",
		"From ", "From \nFrom x\n", " From x", "\xff\xfe\x00",
		"tab\t\t\ttrail\t", "line1\nline2\r\nline3\rline4",
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = strlen(cases[i]);
		if (i == 19)
			n = 3; /* keep the NUL byte */
		CHECK_ROUNDTRIP(cases[i], n);
	}

	/* long lines with multibyte UTF-8 and '=' at every possible offset
	 * of the wrap point, and lines around the 76 limit */
	for (size_t len = 70; len <= 80; len++) {
		for (size_t pos = 60; pos < len; pos++) {
			char *s = repeat('b', len, "\n");
			s[pos] = '=';
			CHECK_ROUNDTRIP(s, strlen(s));
			s[pos] = ' ';
			CHECK_ROUNDTRIP(s, strlen(s));
			free(s);
		}
	}
	struct td_buf b = TD_BUF_INIT;
	for (int i = 0; i < 40; i++)
		td_buf_puts(&b, "\xe6\x97\xa5\xc3\xbc "); /* 日ü + space */
	td_buf_puts(&b, " \n");
	for (int i = 0; i < 200; i++)
		td_buf_putc(&b, (char)('a' + i % 26));
	td_buf_puts(&b, "\n\xf0\x9f\x91\x8b\xf0\x9f\x8f\xbd\t\n");
	CHECK_ROUNDTRIP(td_buf_cstr(&b), b.len);
	td_buf_free(&b);
}

static void test_qp_fuzz(void)
{
	static const char *const pieces[] = {
		" ", "\t", "\r", "\n", "\r\n", ".", "From ", "F", "=", "a",
		"Z", "\xc3\xbc", "\xe6\x97\xa5", "\xf0\x9f\x8c\x8d", "-- ",
	};
	int failures = 0;
	for (int iter = 0; iter < 2000; iter++) {
		struct td_buf b = TD_BUF_INIT;
		size_t parts = rng() % 120;
		for (size_t i = 0; i < parts; i++) {
			uint32_t r = rng() % 10;
			if (r < 6) {
				td_buf_puts(&b, pieces[rng() % (sizeof pieces /
								sizeof pieces[0])]);
			} else if (r < 8) {
				size_t run = rng() % 90;
				for (size_t k = 0; k < run; k++)
					td_buf_putc(&b, (char)('a' + rng() % 26));
			} else {
				td_buf_putc(&b, (char)(rng() & 0xFF));
			}
		}
		const char *why;
		if (!qp_roundtrip(b.data ? b.data : "", b.len, &why)) {
			if (failures++ < 3)
				fprintf(stderr, "  fuzz case %d: %s\n", iter, why);
		}
		td_buf_free(&b);
	}
	CHECK(failures == 0);
}

static void test_qp_cap(void)
{
	struct td_buf b;
	td_buf_init(&b, 8);
	td_buf_puts(&b, "ab");
	CHECK(td_qp_encode("hello world\n", 12, &b) == -1);
	CHECK_STR(td_buf_cstr(&b), "ab"); /* nothing half-appended */
	td_buf_free(&b);
}

/* ---- RFC 2047 (the reader is in header_reader.h) ------------------------ */

static void expect_field(const char *name, const char *display, const char *text,
			 const char *want)
{
	struct td_buf b = TD_BUF_INIT;
	if (display)
		td_mime_header_mailbox(&b, name, display, text);
	else
		td_mime_header_text(&b, name, text);
	CHECK_STR(td_buf_cstr(&b), want);
	td_buf_free(&b);
}

/* Expected values worked out by hand (base64 of the UTF-8 bytes checked
 * with Python's base64 module). */
static void test_header_known(void)
{
	expect_field("Subject", NULL, "Weekly digest: 5 new posts (tags: c, mail)",
		     "Subject: Weekly digest: 5 new posts (tags: c, mail)\r\n");
	expect_field("Subject", NULL, "Gr\xc3\xbc\xc3\x9f" "e",
		     "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n");
	/* ASCII words stay readable; one blank stands between them and an
	 * encoded-word, a second one goes inside it */
	expect_field("Subject", NULL, "a  \xc3\xbc b", "Subject: a =?UTF-8?B?IMO8?= b\r\n");
	/* blanks at the ends would be dropped by readers: encoded */
	expect_field("Subject", NULL, " x", "Subject: =?UTF-8?B?IHg=?=\r\n");
	/* text that looks like an encoded-word must not be read as one */
	expect_field("Subject", NULL, "a =?x?= b", "Subject: a =?UTF-8?B?PT94Pz0=?= b\r\n");
	expect_field("Subject", NULL, "", "Subject:\r\n");

	expect_field("To", "Anna Schmidt", "anna@example.org",
		     "To: Anna Schmidt <anna@example.org>\r\n");
	expect_field("To", "", "anna@example.org", "To: anna@example.org\r\n");
	expect_field("To", "Doe, Jane \"JD\"", "j@example.org",
		     "To: \"Doe, Jane \\\"JD\\\"\" <j@example.org>\r\n");
	/* Zo\xc3\xab: encoded; the ASCII words with specials: quoted */
	expect_field("To", "Zo\xc3\xab O'Brien, Esq.", "z@example.org",
		     "To: =?UTF-8?B?Wm/Dqw==?= \"O'Brien, Esq.\" <z@example.org>\r\n");
}

/* Texts that libetpan's writer changed or cut, and the usual ones. */
static const char *const header_texts[] = {
	"Your weekly digest \xe2\x80\x94 5 new posts \xc3\xbc" "ber Stra\xc3\x9f"
	"enbahn, Caf\xc3\xa9s and \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e text",
	"J\xc3\xbcrgen M\xc3\xbcller",
	"two  blanks, a\ttab and   three",
	"  leading and trailing  ",
	"\t",
	"   ",
	"a =?x?= b =?UTF-8?B?eA==?=",
	"bell\x07 and DEL\x7f",
	/* emoji incl. a 4-byte one with a skin-tone modifier */
	"\xf0\x9f\x91\x8b\xf0\x9f\x8f\xbd Hello \xf0\x9f\x8c\x8d "
	"\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89"
	"\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89",
	/* Hebrew and Arabic (RTL) */
	"\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \xd7\xa2\xd7\x95\xd7\x9c\xd7\x9d "
	"\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7",
	/* a word of exactly what fits after "Subject: " (69), one more (70) */
	"123456789012345678901234567890123456789012345678901234567890123456789",
	"1234567890123456789012345678901234567890123456789012345678901234567890",
};

static void test_header_text_cases(void)
{
	static const char *const names[] = { "Subject", "X-A-Rather-Long-Header-Name-For-Tests" };
	for (size_t n = 0; n < sizeof names / sizeof *names; n++)
		for (size_t i = 0; i < sizeof header_texts / sizeof *header_texts; i++)
			CHECK(text_roundtrip(names[n], header_texts[i], 78, NULL));

	/* The case: one 1,200-character tag name, then a long
	 * non-ASCII one. libetpan cut the first at column 998. */
	struct td_buf t = TD_BUF_INIT;
	td_buf_puts(&t, "Nachrichten: 3 new posts in ");
	for (int i = 0; i < 1200; i++)
		td_buf_putc(&t, (char)('a' + i % 26));
	td_buf_puts(&t, ", ");
	for (int i = 0; i < 400; i++)
		td_buf_puts(&t, "\xc3\xbc");   /* 400 x u-umlaut, no blank */
	td_buf_puts(&t, " and more");
	char *wire = NULL;
	CHECK(text_roundtrip("Subject", td_buf_cstr(&t), 78, &wire));
	/* the ASCII words before it stay readable */
	CHECK(wire && strncmp(wire, "Subject: Nachrichten: 3 new posts in =?UTF-8?B?", 47) == 0);
	CHECK(wire && strstr(wire, " and more\r\n") != NULL);
	free(wire);
	td_buf_free(&t);
}

static const char *const header_names[] = {
	"J\xc3\xbcrgen M\xc3\xbcller",
	"Zo\xc3\xab O'Brien, Esq.",
	"\xe6\x9d\x8e\xe5\xb0\x8f\xe9\xbe\x8d",
	"\xf0\x9f\xa6\x8a Fuchs, der Schlaue",
	"Jo \"The Quote\" <Smith>",
	"back\\slash",
	"A Rather Long Plain ASCII Sender Name For The Digest Of The Week And More",
	"Welt \xf0\x9f\x8c\x8d Weekly \xe2\x80\x94 \xe2\x80\x9c" "Digest\xe2\x80\x9d",
	"two  blanks",
	"=?UTF-8?B?eA==?=",
	"x@y.example",
	/* Cyrillic, over one encoded-word: split after a blank */
	"\xd0\x90\xd0\xbb\xd0\xb5\xd0\xba\xd1\x81\xd0\xb0\xd0\xbd\xd0\xb4\xd1\x80 "
	"\xd0\xa1\xd0\xb5\xd1\x80\xd0\xb3\xd0\xb5\xd0\xb5\xd0\xb2\xd0\xb8\xd1\x87 "
	"\xd0\x9f\xd1\x83\xd1\x88\xd0\xba\xd0\xb8\xd0\xbd-\xd0\x97\xd0\xb0\xd0\xb4\xd0\xb5",
};

static void test_header_mailbox_cases(void)
{
	for (size_t i = 0; i < sizeof header_names / sizeof *header_names; i++) {
		CHECK(mailbox_roundtrip("To", header_names[i], "a@example.org", 78, NULL));
		CHECK(mailbox_roundtrip("From", header_names[i],
					"a.rather.long.sender.address@digest.example.org",
					78, NULL));
	}
	CHECK(mailbox_roundtrip("To", "", "a@example.org", 78, NULL));
	CHECK(mailbox_roundtrip("To", NULL, "a@example.org", 78, NULL));

	/* A name of TD_DISPLAY_NAME_MAX bytes, as the subscriber file may
	 * hold: non-ASCII folds within 78; one ASCII word stays one quoted
	 * word on a line below 998; quotes double it. */
	struct td_buf n = TD_BUF_INIT;
	for (int i = 0; i < TD_DISPLAY_NAME_MAX / 2; i++)
		td_buf_puts(&n, "\xd0\x96");
	CHECK(n.len == TD_DISPLAY_NAME_MAX);
	CHECK(mailbox_roundtrip("To", td_buf_cstr(&n), "a@example.org", 78, NULL));
	td_buf_reset(&n);
	for (int i = 0; i < TD_DISPLAY_NAME_MAX; i++)
		td_buf_putc(&n, i % 7 ? 'x' : '"');
	char *wire = NULL;
	CHECK(mailbox_roundtrip("To", td_buf_cstr(&n), "a@example.org", 998, &wire));
	/* the address still goes on a line of its own within 78 */
	CHECK(wire && strstr(wire, "\"\r\n <a@example.org>\r\n") != NULL);
	free(wire);
	td_buf_reset(&n);
	for (int i = 0; i < 40; i++)
		td_buf_puts(&n, "Word ");
	td_buf_puts(&n, "End");
	CHECK(mailbox_roundtrip("To", td_buf_cstr(&n), "a@example.org", 78, NULL));
	td_buf_free(&n);
}

/* Random text: ASCII with runs of blanks, specials, long words, Latin,
 * CJK, emoji; every one must come back exactly, as a Subject and as a
 * display name. */
static void test_header_fuzz(void)
{
	int failures = 0;
	for (int iter = 0; iter < 1000; iter++) {
		struct td_buf b = TD_BUF_INIT;
		size_t n = 1 + rng() % 120;
		bool long_word = rng() % 8 == 0;
		for (size_t i = 0; i < n; i++) {
			uint32_t cp;
			switch (rng() % 8) {
			case 0: cp = ' '; break;
			case 1: cp = rng() % 4 ? ' ' : '\t'; break;
			case 2: cp = "\"\\(),.:;<>@[]=?"[rng() % 15]; break;
			case 3: cp = 0x80 + rng() % 0x780; break;
			case 4: cp = 0x800 + rng() % 0xF800; break;
			case 5: cp = 0x1F300 + rng() % 0x300; break;
			default: cp = 'a' + rng() % 26; break;
			}
			if (long_word && cp == ' ')
				cp = 'q';
			if (cp >= 0xD800 && cp <= 0xDFFF)
				cp = 'x';
			unsigned char u[4];
			size_t k;
			if (cp < 0x80) {
				u[0] = (unsigned char)cp;
				k = 1;
			} else if (cp < 0x800) {
				u[0] = (unsigned char)(0xC0 | cp >> 6);
				u[1] = (unsigned char)(0x80 | (cp & 0x3F));
				k = 2;
			} else if (cp < 0x10000) {
				u[0] = (unsigned char)(0xE0 | cp >> 12);
				u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
				u[2] = (unsigned char)(0x80 | (cp & 0x3F));
				k = 3;
			} else {
				u[0] = (unsigned char)(0xF0 | cp >> 18);
				u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
				u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
				u[3] = (unsigned char)(0x80 | (cp & 0x3F));
				k = 4;
			}
			td_buf_append(&b, u, k);
		}
		const char *s = td_buf_cstr(&b);
		bool ok = text_roundtrip("Subject", s, 78, NULL);
		/* names: ASCII words too long for a line stay whole (998) */
		ok &= mailbox_roundtrip("To", s, "a@example.org",
					long_word ? 998 : 78, NULL);
		if (!ok && failures++ < 3)
			fprintf(stderr, "  header fuzz case %d failed\n", iter);
		td_buf_free(&b);
	}
	CHECK(failures == 0);
}

/* ---- message id ---------------------------------------------------------- */

static void test_message_id(void)
{
	char *a = td_mime_message_id("digest.example.org");
	char *b = td_mime_message_id("digest.example.org");
	CHECK(strcmp(a, b) != 0);
	/* "<digits>.<16 hex>@digest.example.org" */
	const char *p = a;
	while (*p >= '0' && *p <= '9')
		p++;
	CHECK(p - a >= 10);
	CHECK(*p == '.');
	size_t hex = strspn(p + 1, "0123456789abcdef");
	CHECK(hex == 16);
	CHECK_STR(p + 1 + hex, "@digest.example.org");
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	if (host[0] && !strstr("digest.example.org", host))
		CHECK(strstr(a, host) == NULL);
	free(a);
	free(b);
}

/* A keyed id is the key's first 16 bytes in hex: the same key, the same
 * id; another key, another id. */
static void test_message_id_keyed(void)
{
	unsigned char key[32];
	for (size_t i = 0; i < sizeof key; i++)
		key[i] = (unsigned char)(0xf0 + i);
	char *a = td_mime_message_id_keyed(key, sizeof key, "digest.example.org");
	char *b = td_mime_message_id_keyed(key, sizeof key, "digest.example.org");
	CHECK_STR(a, "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff@digest.example.org");
	CHECK_STR(b, a);
	key[15] ^= 1;
	char *c = td_mime_message_id_keyed(key, sizeof key, "digest.example.org");
	CHECK(strcmp(c, a) != 0);
	char *d = td_mime_message_id_keyed(key, sizeof key, "");
	CHECK(strstr(d, "@tagdigest.invalid") != NULL);
	free(a);
	free(b);
	free(c);
	free(d);
}

/* ---- whole message -------------------------------------------------- */

static const char TEXT[] =
	"Your digest\n"
	"===========\n"
	"\n"
	"Caf\xc3\xa9 review: the =?not a word?= \"line\"  \n"
	".\n"
	"From the editors: tabs\there\t\n"
	"A long line that goes on and on and on, far past the seventy-six "
	"column limit of quoted-printable, with \xe6\x97\xa5\xe6\x9c\xac"
	"\xe8\xaa\x9e in it.\r\n"
	"-- \n"
	"sig";
static const char HTML[] =
	"<!doctype html>\n<html><body><p>Gr\xc3\xbc\xc3\x9f" "e &amp; "
	"<a href=\"https://example.org/a?b=c&amp;d=e\">a link with = signs"
	"</a></p>\n<p>. dot</p></body></html>\n";

static struct td_mime_message sample(void)
{
	struct td_mime_message m = {
		.from_name = "K\xc3\xb6ln Weekly Digest",
		.from_addr = "digest@digest.example.org",
		.to_name = "J\xc3\xbcrgen M\xc3\xbcller",
		.to_addr = "juergen@example.net",
		.subject = "Your weekly digest \xe2\x80\x94 5 new posts \xc3\xbc"
			   "ber Stra\xc3\x9f" "enbahn, Caf\xc3\xa9s and "
			   "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e text",
		.text = TEXT,
		.html = HTML,
		.date = 1700000000, /* Tue, 14 Nov 2023 22:13:20 UTC */
		.message_id = "1700000000.0123456789abcdef@digest.example.org",
		.list_name = "K\xc3\xb6ln Weekly",
		.list_id = "weekly.digest.example.org",
		.unsubscribe_url =
			"https://digest.example.org/u/3f9a1c0e7b2d4a5f8e6c?l=weekly",
	};
	return m;
}

/* RFC 2047 phrase -> UTF-8 with libetpan's decoder; malloc'd. */
static char *decode_phrase(const char *s)
{
	char *res = NULL;
	size_t idx = 0;
	if (!s)
		return td_xstrdup("(null)");
	if (mailmime_encoded_phrase_parse("utf-8", s, strlen(s), &idx, "utf-8",
					  &res) != MAILIMF_NO_ERROR)
		return td_xstrdup("(undecodable)");
	return res;
}

/* Value of an optional header, unfolded (CRLF + WSP -> WSP) and without
 * leading WSP; malloc'd. */
static char *optional_field(struct mailimf_fields *f, const char *name)
{
	for (clistiter *c = clist_begin(f->fld_list); c; c = clist_next(c)) {
		struct mailimf_field *fld = clist_content(c);
		if (fld->fld_type != MAILIMF_FIELD_OPTIONAL_FIELD ||
		    strcasecmp(fld->fld_data.fld_optional_field->fld_name, name))
			continue;
		struct td_buf b = TD_BUF_INIT;
		const char *p = fld->fld_data.fld_optional_field->fld_value;
		/* a fold right after the colon leaves leading WSP */
		p += strspn(p, " \t\r\n");
		for (; *p; p++)
			if (*p != '\r' && *p != '\n')
				td_buf_putc(&b, *p);
		return td_buf_steal(&b);
	}
	return td_xstrdup("(absent)");
}

/* Decoded body of a leaf, compared with the expected CRLF text. */
static void check_leaf(struct mailmime *part, const char *subtype,
		       const char *src)
{
	CHECK(part->mm_type == MAILMIME_SINGLE);
	struct mailmime_content *ct = part->mm_content_type;
	CHECK(ct && ct->ct_type->tp_type == MAILMIME_TYPE_DISCRETE_TYPE &&
	      ct->ct_type->tp_data.tp_discrete_type->dt_type ==
		      MAILMIME_DISCRETE_TYPE_TEXT);
	CHECK(ct && strcasecmp(ct->ct_subtype, subtype) == 0);
	const char *cs = ct ? mailmime_content_param_get(ct, "charset") : NULL;
	CHECK(cs && strcasecmp(cs, "utf-8") == 0);
	struct mailmime_data *d = part->mm_data.mm_single;
	CHECK(d && d->dt_encoding == MAILMIME_MECHANISM_QUOTED_PRINTABLE);
	if (!d)
		return;
	char *dec = NULL;
	size_t declen = 0, idx = 0;
	int r = mailmime_part_parse(d->dt_data.dt_text.dt_data,
				    d->dt_data.dt_text.dt_length, &idx,
				    d->dt_encoding, &dec, &declen);
	CHECK(r == MAILIMF_NO_ERROR);
	struct td_buf want = TD_BUF_INIT;
	crlf(src, strlen(src), &want);
	CHECK(r == MAILIMF_NO_ERROR && declen == want.len &&
	      memcmp(dec, td_buf_cstr(&want), declen) == 0);
	if (r == MAILIMF_NO_ERROR)
		mailmime_decoded_part_free(dec);
	td_buf_free(&want);
}

/*
 * Every line CRLF-terminated, pure ASCII, at most max long; a
 * List-Unsubscribe line may run to RFC 5322's hard limit of 998, since
 * a URL cannot be folded and a fold before it leaves leading WSP.
 */
static bool wire_clean(const char *s, size_t n, size_t max)
{
	size_t col = 0, lim = max;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (col == 0)
			lim = strncmp(s + i, "List-Unsubscribe: ", 18) == 0 ? 998 : max;
		if (c == '\r') {
			if (i + 1 >= n || s[i + 1] != '\n')
				return false;
			i++;
			col = 0;
			continue;
		}
		if (c == '\n' || c >= 0x80 || ++col > lim)
			return false;
	}
	return true;
}

/* Builds m, parses it back and checks headers and both bodies. Returns
 * the raw message (malloc'd) for further checks. */
static char *build_and_parse(const struct td_mime_message *m)
{
	struct td_buf out = TD_BUF_INIT;
	struct td_err err = { 0, "" };
	td_buf_puts(&out, "X-Prefix: kept\r\n");
	int rc = td_mime_build(m, &out, &err);
	CHECK(rc == 0);
	if (rc) {
		fprintf(stderr, "  td_mime_build: %s\n", err.msg);
		td_buf_free(&out);
		return td_xstrdup("");
	}
	CHECK(strncmp(td_buf_cstr(&out), "X-Prefix: kept\r\n", 16) == 0);
	char *raw = td_xstrdup(td_buf_cstr(&out) + 16);
	size_t len = out.len - 16;
	td_buf_free(&out);
	CHECK(wire_clean(raw, len, 78));
	/* no header folded straight after its colon: readers then see the
	 * value with a leading space */
	const char *hend = strstr(raw, "\r\n\r\n");
	char *hdrs = td_xstrndup(raw, hend ? (size_t)(hend - raw) : len);
	CHECK(strstr(hdrs, ": \r\n") == NULL);
	free(hdrs);

	struct mailmime *mime = NULL;
	size_t idx = 0;
	CHECK(mailmime_parse(raw, len, &idx, &mime) == MAILIMF_NO_ERROR);
	if (!mime)
		return raw;
	CHECK(mime->mm_type == MAILMIME_MESSAGE);
	struct mailimf_fields *f = mime->mm_data.mm_message.mm_fields;
	struct mailimf_single_fields sf;
	mailimf_single_fields_init(&sf, f);

	char *s = decode_phrase(sf.fld_subject ? sf.fld_subject->sbj_value : NULL);
	CHECK_STR(s, m->subject);
	free(s);

	CHECK(sf.fld_from && clist_count(sf.fld_from->frm_mb_list->mb_list) == 1);
	if (sf.fld_from) {
		struct mailimf_mailbox *mb =
			clist_content(clist_begin(sf.fld_from->frm_mb_list->mb_list));
		CHECK_STR(mb->mb_addr_spec, m->from_addr);
		if (*m->from_name) {
			s = decode_phrase(mb->mb_display_name);
			CHECK_STR(s, m->from_name);
			free(s);
		} else {
			CHECK(mb->mb_display_name == NULL);
		}
	}
	CHECK(sf.fld_to && clist_count(sf.fld_to->to_addr_list->ad_list) == 1);
	if (sf.fld_to) {
		struct mailimf_address *a =
			clist_content(clist_begin(sf.fld_to->to_addr_list->ad_list));
		CHECK(a->ad_type == MAILIMF_ADDRESS_MAILBOX);
		struct mailimf_mailbox *mb = a->ad_data.ad_mailbox;
		CHECK_STR(mb->mb_addr_spec, m->to_addr);
		if (*m->to_name) {
			s = decode_phrase(mb->mb_display_name);
			CHECK_STR(s, m->to_name);
			free(s);
		} else {
			CHECK(mb->mb_display_name == NULL);
		}
	}
	CHECK(sf.fld_message_id != NULL);
	if (sf.fld_message_id)
		CHECK_STR(sf.fld_message_id->mid_value, m->message_id);
	CHECK(sf.fld_orig_date != NULL);
	if (sf.fld_orig_date) {
		struct mailimf_date_time *d = sf.fld_orig_date->dt_date_time;
		CHECK(d->dt_year == 2023 && d->dt_month == 11 && d->dt_day == 14 &&
		      d->dt_hour == 22 && d->dt_min == 13 && d->dt_sec == 20 &&
		      d->dt_zone == 0);
	}

	s = optional_field(f, "List-Unsubscribe");
	const char *token = m->unsubscribe_url ? strrchr(m->unsubscribe_url, '/') + 1 : "";
	char *want = !m->unsubscribe_url ? td_xstrdup("(absent)") :
		m->unsubscribe_mailto ?
		td_xasprintf("<%s>, <mailto:%s?subject=unsubscribe%%20%s>",
			     m->unsubscribe_url, m->unsubscribe_mailto, token) :
		td_xasprintf("<%s>", m->unsubscribe_url);
	CHECK_STR(s, want);
	free(s);
	free(want);
	s = optional_field(f, "Feedback-ID");
	CHECK_STR(s, m->feedback_id ? m->feedback_id : "(absent)");
	free(s);
	s = optional_field(f, "Auto-Submitted");
	CHECK_STR(s, m->auto_submitted ? m->auto_submitted : "(absent)");
	free(s);
	s = optional_field(f, "List-Unsubscribe-Post");
	CHECK_STR(s, m->unsubscribe_url ? "List-Unsubscribe=One-Click" : "(absent)");
	free(s);
	s = optional_field(f, "List-Id");
	want = m->list_id ? td_xasprintf("<%s>", m->list_id) : td_xstrdup("(absent)");
	size_t sl = strlen(s), wl = strlen(want);
	CHECK(sl >= wl && strcmp(s + sl - wl, want) == 0);
	if (m->list_id && *m->list_name && sl > wl + 1) {
		s[sl - wl - 1] = '\0'; /* the phrase before " <id>" */
		char *label = decode_phrase(s);
		CHECK_STR(label, m->list_name);
		free(label);
	} else if (!m->list_id || !*m->list_name) {
		CHECK_STR(s, want);
	}
	free(s);
	free(want);

	struct mailmime *body = mime->mm_data.mm_message.mm_msg_mime;
	CHECK(body && body->mm_type == MAILMIME_MULTIPLE);
	if (body && body->mm_type == MAILMIME_MULTIPLE) {
		CHECK(strcasecmp(body->mm_content_type->ct_subtype,
				 "alternative") == 0);
		clist *parts = body->mm_data.mm_multipart.mm_mp_list;
		CHECK(clist_count(parts) == 2);
		if (clist_count(parts) == 2) {
			check_leaf(clist_content(clist_begin(parts)), "plain",
				   m->text);
			check_leaf(clist_content(clist_next(clist_begin(parts))),
				   "html", m->html);
		}
	}
	mailmime_free(mime);
	return raw;
}

static void test_build_full(void)
{
	struct td_mime_message m = sample();
	char *raw = build_and_parse(&m);
	CHECK(strstr(raw, "\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n") ||
	      strncmp(raw, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n", 39) == 0);
	CHECK(strstr(raw, "\r\nMIME-Version: 1.0\r\n") != NULL);
	CHECK(strstr(raw, "\r\nList-Unsubscribe: <https://digest.example.org/u/"
			  "3f9a1c0e7b2d4a5f8e6c?l=weekly>\r\n") != NULL);
	CHECK(strstr(raw, "\r\nList-Unsubscribe-Post: "
			  "List-Unsubscribe=One-Click\r\n") != NULL);
	CHECK(strstr(raw, "Content-Transfer-Encoding: quoted-printable") != NULL);
	/* the subject's ASCII words stay readable, on the Subject line */
	CHECK(strstr(raw, "\r\nSubject: Your weekly digest =?UTF-8?B?") != NULL);
	/* display names unquoted, so decoders decode them */
	CHECK(strstr(raw, "From: =?UTF-8?B?") != NULL);
	CHECK(strstr(raw, "To: =?UTF-8?B?") != NULL);
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	const char *hdr_end = strstr(raw, "\r\n\r\n");
	if (host[0] && hdr_end && !strstr("digest.example.org", host)) {
		char *hdrs = td_xstrndup(raw, (size_t)(hdr_end - raw));
		CHECK(strstr(hdrs, host) == NULL);
		free(hdrs);
	}
	if (getenv("TD_MIME_DUMP"))
		fputs(raw, stdout);
	free(raw);

	/* and with an id from td_mime_message_id */
	char *id = td_mime_message_id("digest.example.org");
	m.message_id = id;
	raw = build_and_parse(&m);
	free(raw);
	free(id);
	/* and with a keyed one */
	static const unsigned char key[16] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab };
	id = td_mime_message_id_keyed(key, sizeof key, "digest.example.org");
	m.message_id = id;
	raw = build_and_parse(&m);
	free(raw);
	free(id);
}

static void test_build_mailto_and_feedback_id(void)
{
	struct td_mime_message m = sample();
	m.unsubscribe_url = "https://digest.example.org/unsubscribe/TOKEN.abc_-9";
	m.unsubscribe_mailto = "unsubscribe@digest.example.org";
	m.feedback_id = "weekly:digest:tagdigest:digest.example.org";
	/* build_and_parse checks both headers against these fields */
	char *raw = build_and_parse(&m);
	CHECK(strstr(raw, "subject=unsubscribe%20TOKEN.abc_-9") != NULL);
	free(raw);

	/* a bad mailto address or a Feedback-ID with a space is refused */
	struct td_buf out = TD_BUF_INIT;
	struct td_err err;
	m.unsubscribe_mailto = "unsub\r\nBcc: x@example.org";
	CHECK(td_mime_build(&m, &out, &err) == EX_DATAERR);
	m.unsubscribe_mailto = NULL;
	m.feedback_id = "a b";
	CHECK(td_mime_build(&m, &out, &err) == EX_DATAERR);
	CHECK(out.len == 0);
	td_buf_free(&out);
}

static void test_build_variants(void)
{
	struct td_mime_message m = sample();
	char *raw;

	/* no display names, no list label */
	m.from_name = "";
	m.to_name = "";
	m.list_name = "";
	raw = build_and_parse(&m);
	CHECK(strstr(raw, "From: digest@digest.example.org\r\n") != NULL);
	CHECK(strstr(raw, "List-Id: <weekly.digest.example.org>\r\n") != NULL);
	free(raw);

	/* ASCII names with specials: libetpan quotes them */
	m = sample();
	m.to_name = "Doe, Jane \"JD\"";
	m.from_name = "A Rather Long Plain ASCII Sender Name For The Digest "
		      "Of The Week";
	m.list_name = "Digest: news, weekly";
	raw = build_and_parse(&m);
	free(raw);

	/* names too long for one encoded-word still decode, unquoted */
	m = sample();
	m.to_name = "\xd0\x90\xd0\xbb\xd0\xb5\xd0\xba\xd1\x81\xd0\xb0\xd0\xbd"
		    "\xd0\xb4\xd1\x80 \xd0\xa1\xd0\xb5\xd1\x80\xd0\xb3\xd0\xb5"
		    "\xd0\xb5\xd0\xb2\xd0\xb8\xd1\x87 \xd0\x9f\xd1\x83\xd1\x88"
		    "\xd0\xba\xd0\xb8\xd0\xbd-\xd0\x97\xd0\xb0\xd0\xb4\xd0\xb5";
	m.from_name = "\xf0\x9f\x93\xb0 The Very Long Name Of A Weekly "
		      "Newsletter \xe2\x80\x94 K\xc3\xb6ln Edition";
	raw = build_and_parse(&m);
	CHECK(strstr(raw, "\"=?") == NULL);
	free(raw);

	/* One 1,200-character tag name in the subject (libetpan cut it at
	 * column 998, and it unfolded with a stray blank), and a display
	 * name as long as the subscriber file allows: every line within 78,
	 * and build_and_parse decodes both back exactly. */
	m = sample();
	char *tag = repeat('t', 1200, ", Stra\xc3\x9f" "e");
	char *subject = td_xasprintf("Digest: 2 new posts in %s", tag);
	struct td_buf name = TD_BUF_INIT;
	for (int i = 0; i < TD_DISPLAY_NAME_MAX / 2; i++)
		td_buf_puts(&name, "\xd0\x96");
	m.subject = subject;
	m.to_name = td_buf_cstr(&name);
	raw = build_and_parse(&m);
	CHECK(strstr(raw, "\r\nSubject: Digest: 2 new posts in =?UTF-8?B?") != NULL);
	free(raw);
	free(subject);
	free(tag);
	td_buf_free(&name);

	/* empty bodies and a plain subject */
	m = sample();
	m.text = "";
	m.html = "";
	m.subject = "Nothing new this week";
	raw = build_and_parse(&m);
	CHECK(strstr(raw, "\r\nSubject: Nothing new this week\r\n") != NULL);
	free(raw);
}

static void expect_reject(const struct td_mime_message *m, const char *field)
{
	struct td_buf out = TD_BUF_INIT;
	struct td_err err = { 0, "" };
	td_buf_puts(&out, "keep");
	int rc = td_mime_build(m, &out, &err);
	CHECK(rc == EX_DATAERR);
	CHECK(err.code == EX_DATAERR);
	if (!strstr(err.msg, field))
		fprintf(stderr, "  message \"%s\" does not name %s\n", err.msg,
			field);
	CHECK(strstr(err.msg, field) != NULL);
	CHECK_STR(td_buf_cstr(&out), "keep");
	td_buf_free(&out);
}

static void test_build_rejects(void)
{
	struct td_mime_message m;

#define REJECT(member, value, field)                                         \
	do {                                                                 \
		m = sample();                                                \
		m.member = value;                                            \
		expect_reject(&m, field);                                    \
	} while (0)

	REJECT(subject, "Hi\r\nBcc: evil@example.com", "subject");
	REJECT(subject, "Hi\nBcc: evil@example.com", "subject");
	REJECT(subject, "Hi\rthere", "subject");
	REJECT(from_name, "Eve\r\nBcc: evil@example.com", "from_name");
	REJECT(to_name, "J\xc3\xbcrgen\n", "to_name");
	REJECT(list_name, "List\r\nX-Evil: 1", "list_name");
	REJECT(to_addr, "juergen@example.net>\r\nBcc: <evil@example.com",
	       "to_addr");
	REJECT(to_addr, "juergen@example.net\nBcc: evil@example.com", "to_addr");
	REJECT(from_addr, "digest @example.org", "from_addr");
	REJECT(from_addr, "no-at-sign", "from_addr");
	REJECT(to_addr, "", "to_addr");
	REJECT(to_addr, NULL, "to_addr");
	char *longname = repeat('x', 300, "");
	REJECT(to_name, longname, "to_name");
	free(longname);
	REJECT(message_id, "abc@example.org\r\nBcc: evil@example.com",
	       "message_id");
	REJECT(message_id, "<abc@example.org>", "message_id");
	REJECT(message_id, "abc def@example.org", "message_id");
	REJECT(list_id, "weekly digest.example.org", "list_id");
	REJECT(list_id, "<weekly.digest.example.org>", "list_id");
	REJECT(list_id, "weekly.example.org>\r\nBcc: x", "list_id");
	REJECT(list_id, "", "list_id");
	REJECT(unsubscribe_url, "javascript:alert(1)", "unsubscribe_url");
	REJECT(unsubscribe_url, "ftp://example.org/u/x", "unsubscribe_url");
	REJECT(unsubscribe_url, "mailto:unsub@example.org", "unsubscribe_url");
	REJECT(unsubscribe_url, "https://", "unsubscribe_url");
	REJECT(unsubscribe_url, "https://example.org/u/x\r\nBcc: y",
	       "unsubscribe_url");
	REJECT(unsubscribe_url, "https://example.org/u/a b", "unsubscribe_url");
	REJECT(unsubscribe_url, "https://example.org/u/a>b", "unsubscribe_url");
#undef REJECT

	/* plain http is accepted (a local preview site may use it) */
	m = sample();
	m.unsubscribe_url = "http://localhost:8080/u/abc";
	char *raw = build_and_parse(&m);
	free(raw);
}

/* [site] reply_to: one Reply-To line, right after From, written by the
 * same mailbox writer; an address that could inject is refused. */
static void test_build_reply_to(void)
{
	struct td_mime_message m = sample();
	m.reply_to = "letters.desk@digest.example.org";
	char *raw = build_and_parse(&m);
	const char *from = strstr(raw, "From: ");
	const char *reply = strstr(raw, "\r\nReply-To: letters.desk@digest.example.org\r\n");
	CHECK(from && reply && from < reply);
	CHECK(reply && !strstr(reply + 1, "\r\nReply-To:"));
	free(raw);
	m.reply_to = NULL;
	raw = build_and_parse(&m);
	CHECK(strstr(raw, "Reply-To") == NULL);
	free(raw);
	m.reply_to = "letters@digest.example.org\r\nBcc: evil@example.com";
	expect_reject(&m, "reply_to");
	m.reply_to = "no-at-sign";
	expect_reject(&m, "reply_to");
}

/* A mail outside the list (notice.h): no List-* headers at all, and
 * Auto-Submitted so that vacation responders stay quiet (RFC 3834). */
static void test_build_notice(void)
{
	struct td_mime_message m = sample();
	m.list_id = NULL;
	m.list_name = "";
	m.unsubscribe_url = NULL;
	m.auto_submitted = "auto-generated";
	char *raw = build_and_parse(&m);
	CHECK(strstr(raw, "\r\nAuto-Submitted: auto-generated\r\n") != NULL);
	CHECK(strstr(raw, "List-") == NULL);
	free(raw);

	/* a mailto without its URL, or another Auto-Submitted, is refused */
	m.unsubscribe_mailto = "unsubscribe@digest.example.org";
	expect_reject(&m, "unsubscribe_mailto");
	m.unsubscribe_mailto = NULL;
	m.auto_submitted = "auto-generated\r\nBcc: x@example.org";
	expect_reject(&m, "auto_submitted");
}

/* The builder checks display names with td_display_name_valid, the rule
 * the subscriber file and the config apply: whatever they accepted builds,
 * and a name that fails here would have been refused where it was read. */
static void test_build_name_rule(void)
{
	struct td_buf ascii = TD_BUF_INIT, cyr = TD_BUF_INIT;
	for (int i = 0; i < TD_DISPLAY_NAME_MAX; i++)
		td_buf_putc(&ascii, i % 5 ? 'x' : '"');
	for (int i = 0; i < TD_DISPLAY_NAME_MAX / 2; i++)
		td_buf_puts(&cyr, "\xd0\x96");
	char *ascii_over = td_xasprintf("%sy", td_buf_cstr(&ascii));
	char *cyr_over = td_xasprintf("%s\xd0\x96", td_buf_cstr(&cyr));
	const char *names[] = {
		td_buf_cstr(&ascii), td_buf_cstr(&cyr), ascii_over, cyr_over,
		"", "Anna", "a\tb", "a\x01", "\x7f", "caf\xe9", "a\r\nBcc: x@y.example",
	};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		bool valid = td_display_name_valid(names[i], NULL, 0);
		struct td_mime_message m = sample();
		m.to_name = names[i];
		struct td_buf out = TD_BUF_INIT;
		struct td_err err = { 0, "" };
		int rc = td_mime_build(&m, &out, &err);
		CHECK((rc == 0) == valid);
		if (rc)
			CHECK(rc == EX_DATAERR && strstr(err.msg, "to_name") != NULL);
		else
			CHECK(wire_clean(td_buf_cstr(&out), out.len, 998));
		td_buf_free(&out);
	}
	CHECK(td_display_name_valid(td_buf_cstr(&ascii), NULL, 0));
	CHECK(!td_display_name_valid(ascii_over, NULL, 0));
	td_buf_free(&ascii);
	td_buf_free(&cyr);
	free(ascii_over);
	free(cyr_over);
}

int main(void)
{
	TD_RUN(test_qp_exact);
	TD_RUN(test_qp_wrapping);
	TD_RUN(test_qp_roundtrip_cases);
	TD_RUN(test_qp_fuzz);
	TD_RUN(test_qp_cap);
	TD_RUN(test_header_known);
	TD_RUN(test_header_text_cases);
	TD_RUN(test_header_mailbox_cases);
	TD_RUN(test_header_fuzz);
	TD_RUN(test_message_id);
	TD_RUN(test_message_id_keyed);
	TD_RUN(test_build_full);
	TD_RUN(test_build_reply_to);
	TD_RUN(test_build_variants);
	TD_RUN(test_build_notice);
	TD_RUN(test_build_mailto_and_feedback_id);
	TD_RUN(test_build_rejects);
	TD_RUN(test_build_name_rule);
	return TD_DONE("test_mime");
}
