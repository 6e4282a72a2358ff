/*
 * address: strict validation of e-mail addresses before they reach a
 * header or an SMTP envelope. libetpan writes addresses verbatim, so an
 * unchecked CR/LF becomes a header injection (see ../shared/tech/BRIEF.md).
 *
 * Accepted: local@domain, local part of RFC 5322 atext and single dots
 * (no leading/trailing/double dot), domain of LDH labels separated by dots,
 * total length <= 254, local part <= 64. Rejected: CR, LF, controls,
 * spaces, <>, quotes, non-ASCII (no SMTPUTF8), anything else.
 *
 * The display name that goes with an address has one rule too
 * (td_display_name_valid), shared by everything that reads or writes one.
 */
#ifndef TAGDIGEST_ADDRESS_H
#define TAGDIGEST_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

/* True when addr is acceptable. On false, when why/whylen are given, a
 * short reason ("contains a space", "no '@'") is written there. */
bool td_address_valid(const char *addr, char *why, size_t whylen);

/* The domain part of a valid address (points into addr). */
const char *td_address_domain(const char *addr);

/* The longest display name accepted, in bytes of UTF-8. Folding makes any
 * length safe in a header (mime.h); the bound is there because a name is
 * one quoted word when it cannot be encoded without changing how it reads,
 * and a quoted word cannot be folded: 256 bytes, doubled by escapes, stays
 * far below RFC 5322's 998-character line. Nobody's name is that long. */
#define TD_DISPLAY_NAME_MAX 256

/* The one rule for a display name (a subscriber's name, site.name,
 * site.from_name), applied where the name is read (subscribers.c,
 * config.c) and again by the MIME builder, so a name one accepts the other
 * never refuses: valid UTF-8, no line break, no control character, at
 * most TD_DISPLAY_NAME_MAX bytes. "" (no name) is fine. On false, a reason
 * that reads after the word "name" ("contains a line break") is written to
 * why when it is given. */
bool td_display_name_valid(const char *name, char *why, size_t whylen);

#endif
