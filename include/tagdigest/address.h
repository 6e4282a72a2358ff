/*
 * address: strict validation of e-mail addresses before they reach a
 * header or an SMTP envelope. libetpan writes addresses verbatim, so an
 * unchecked CR/LF becomes a header injection (see ../shared/tech/BRIEF.md).
 *
 * Accepted: local@domain, local part of RFC 5322 atext and single dots
 * (no leading/trailing/double dot), domain of LDH labels separated by dots,
 * total length <= 254, local part <= 64. Rejected: CR, LF, controls,
 * spaces, <>, quotes, non-ASCII (no SMTPUTF8), anything else.
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

#endif
