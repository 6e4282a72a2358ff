/*
 * address.c: strict e-mail address checks (see address.h).
 *
 * Every address that reaches an SMTP envelope or a header passes through
 * td_address_valid() first. libetpan writes addresses verbatim, so this is
 * the only thing standing between a subscriber row and a header injection;
 * it therefore accepts a deliberately small language (dot-atom local part,
 * LDH domain) and explains each refusal in words an editor can act on.
 * The first check that fails wins, and the checks on single characters
 * (controls, spaces, brackets, quotes, non-ASCII) come first because they
 * are the ones that matter for safety and the easiest to fix.
 */
#include "tagdigest/core/address.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tagdigest/core/util.h"

#define ADDR_MAX 254   /* RFC 5321 path limit minus the angle brackets */
#define LOCAL_MAX 64
#define LABEL_MAX 63

static bool refuse(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool refuse(char *why, size_t whylen, const char *fmt, ...)
{
	if (why && whylen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return false;
}

/* RFC 5322 atext: the characters of a dot-atom apart from the dots. */
static bool is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-';
}

static bool check_local(const char *s, size_t n, char *why, size_t whylen)
{
	if (n == 0)
		return refuse(why, whylen, "empty local part (nothing before '@')");
	if (n > LOCAL_MAX)
		return refuse(why, whylen, "local part too long (%zu characters, at most %d)",
			      n, LOCAL_MAX);
	if (s[0] == '.' || s[n - 1] == '.')
		return refuse(why, whylen, "local part starts or ends with '.'");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (s[i + 1] == '.')
				return refuse(why, whylen, "local part contains '..'");
			continue;
		}
		if (!is_atext(c))
			return refuse(why, whylen, "local part contains '%c'", c);
	}
	return true;
}

/* Quotes a label for a message; labels are ASCII by now but may be long. */
static bool bad_label(const char *label, size_t n, const char *problem,
		      char *why, size_t whylen)
{
	int shown = n > 40 ? 40 : (int)n;
	return refuse(why, whylen, "domain label '%.*s%s' invalid: %s", shown,
		      label, n > 40 ? "..." : "", problem);
}

static bool check_domain(const char *s, size_t n, char *why, size_t whylen)
{
	if (n == 0)
		return refuse(why, whylen, "empty domain (nothing after '@')");
	/* A bare host name ("user@localhost") is not deliverable on the
	 * Internet; a newsletter that accepts it would bounce later. */
	if (!memchr(s, '.', n))
		return refuse(why, whylen, "domain '%.*s' has no '.'",
			      n > 40 ? 40 : (int)n, s);
	const char *label = s, *end = s + n, *last = s;
	size_t last_len = 0;
	while (label <= end) {
		const char *dot = memchr(label, '.', (size_t)(end - label));
		const char *stop = dot ? dot : end;
		size_t len = (size_t)(stop - label);
		if (len == 0)
			return refuse(why, whylen,
				      "domain label '' invalid: empty (a leading, trailing or double '.')");
		if (len > LABEL_MAX)
			return bad_label(label, len, "longer than 63 characters", why, whylen);
		if (label[0] == '-' || label[len - 1] == '-')
			return bad_label(label, len, "starts or ends with '-'", why, whylen);
		for (size_t i = 0; i < len; i++) {
			if (!is_ldh((unsigned char)label[i])) {
				char problem[40];
				snprintf(problem, sizeof problem, "contains '%c'", label[i]);
				return bad_label(label, len, problem, why, whylen);
			}
		}
		last = label;
		last_len = len;
		if (!dot)
			break;
		label = dot + 1;
	}
	/* "a@127.0.0.1" is an IP address, which needs [brackets] we refuse. */
	if (strspn(last, "0123456789") >= last_len)
		return bad_label(last, last_len, "a top-level label cannot be all digits",
				 why, whylen);
	return true;
}

bool td_address_valid(const char *addr, char *why, size_t whylen)
{
	if (why && whylen)
		why[0] = '\0';
	if (!addr || !*addr)
		return refuse(why, whylen, "empty");

	/* Single characters first: these are the dangerous ones. */
	for (const unsigned char *p = (const unsigned char *)addr; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return refuse(why, whylen, "contains a control character");
		if (*p == ' ')
			return refuse(why, whylen, "contains a space");
		if (*p == '<' || *p == '>')
			return refuse(why, whylen, "contains '<' or '>'");
		if (*p == '"')
			return refuse(why, whylen, "contains a quote");
		if (*p >= 0x80)
			return refuse(why, whylen,
				      "non-ASCII characters are not supported");
	}

	size_t len = strlen(addr);
	const char *at = strchr(addr, '@');
	if (!at)
		return refuse(why, whylen, "no '@'");
	if (strchr(at + 1, '@'))
		return refuse(why, whylen, "more than one '@'");
	if (len > ADDR_MAX)
		return refuse(why, whylen, "too long (%zu characters, at most %d)",
			      len, ADDR_MAX);
	if (!check_local(addr, (size_t)(at - addr), why, whylen))
		return false;
	return check_domain(at + 1, len - (size_t)(at - addr) - 1, why, whylen);
}

const char *td_address_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at ? at + 1 : NULL;
}

bool td_display_name_valid(const char *name, char *why, size_t whylen)
{
	if (why && whylen)
		why[0] = '\0';
	size_t len = strlen(name);
	if (!td_utf8_valid(name, len))
		return refuse(why, whylen, "is not valid UTF-8");
	/* Quotes let a line break into a CSV field; in a name it would reach
	 * the To: header. */
	if (strpbrk(name, "\r\n"))
		return refuse(why, whylen, "contains a line break");
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return refuse(why, whylen, "contains a control character");
	if (len > TD_DISPLAY_NAME_MAX)
		return refuse(why, whylen, "is longer than %d bytes (%zu)",
			      TD_DISPLAY_NAME_MAX, len);
	return true;
}
