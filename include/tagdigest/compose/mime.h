/*
 * mime: one digest as an RFC 5322 message, built with libetpan.
 *
 * The message is multipart/alternative with text/plain first, then
 * text/html, both UTF-8 and quoted-printable. We encode the QP ourselves
 * (libetpan's encoder doubles whitespace before line breaks, see
 * ../shared/tech/BRIEF.md 1.5) and hand libetpan already-encoded data, so
 * both parts decode to exactly the bytes given (with LF turned into CRLF,
 * as text/plain and text/html require). libetpan has no RFC 2047 encoder
 * and its header writer loses blanks and cuts long words: From, To,
 * Subject and List-Id are written and folded here (td_mime_header_*).
 *
 * Headers: Date (given time, in UTC "+0000"), From, Reply-To (when
 * given), To, Subject,
 * Message-ID, MIME-Version, List-Id, List-Unsubscribe (<https URL>),
 * List-Unsubscribe-Post: List-Unsubscribe=One-Click. A mail outside the
 * list's stream (notice.h: the confirmation mail) leaves list_id and
 * unsubscribe_url NULL and has no List-* headers; it may carry
 * Auto-Submitted (RFC 3834) instead.
 *
 * Every input is checked before it reaches libetpan: addresses with
 * address.h, display names with the same rule the subscriber file and the
 * config apply (td_display_name_valid), and no CR or LF in any header
 * value (EX_DATAERR otherwise).
 * The output uses CRLF line ends, ready for SMTP or a Maildir.
 */
#ifndef TAGDIGEST_MIME_H
#define TAGDIGEST_MIME_H

#include <stddef.h>
#include <time.h>

#include "tagdigest/core/buf.h"
#include "tagdigest/core/err.h"

struct td_memo;
struct td_mime_cache;

struct td_mime_message {
	const char *from_name;       /* UTF-8, may be "" */
	const char *from_addr;
	const char *reply_to;        /* an address for Reply-To; NULL: none */
	const char *to_name;         /* UTF-8, may be "" */
	const char *to_addr;
	const char *subject;         /* UTF-8 */
	const char *text;            /* UTF-8 body, LF or CRLF line ends */
	const char *html;            /* UTF-8 body */
	time_t date;
	const char *message_id;      /* without <>, from td_mime_message_id() */
	const char *list_name;       /* UTF-8 phrase of List-Id, may be "" */
	const char *list_id;         /* e.g. "digest.example.org"; NULL: no
				      * List-Id */
	const char *unsubscribe_url; /* https URL with the token; NULL: no
				      * List-Unsubscribe(-Post) (and no mailto) */
	const char *unsubscribe_mailto; /* optional address for a second,
					 * mailto: List-Unsubscribe entry; NULL: none */
	const char *feedback_id;     /* optional Feedback-ID value (Gmail's
				      * "a:b:c:sender" form); NULL: none */
	const char *auto_submitted;  /* "auto-generated" or "auto-replied"
				      * for an Auto-Submitted header; NULL: none */
	struct td_mime_cache *cache; /* NULL, or the caller's (below) */
};

/* What td_mime_build may keep from one message to the next: a memo of
 * body lines already quoted-printable (memo.h; they are copied, not
 * encoded again: the same bytes either way) and the working buffers,
 * reused instead of allocated per message. Bounded (memo.h), whatever
 * the number of messages. One per composer; one thread at a time. */
struct td_mime_cache *td_mime_cache_new(void);
void td_mime_cache_free(struct td_mime_cache *c);

/* Appends the whole message to out. Returns 0 or EX_DATAERR. */
int td_mime_build(const struct td_mime_message *m, struct td_buf *out,
		  struct td_err *err);

/* A new unique Message-ID (no <>) at domain: time, random bits; never a
 * host name. malloc'd. */
char *td_mime_message_id(const char *domain);

/* The Message-ID (no <>) at domain that key stands for: the same key
 * always gives the same id, so a message composed again carries the id
 * of the copy that may already have arrived, and the reader's client can
 * drop the second. key is a secret-keyed hash of what identifies the
 * message (the id shows its first 16 bytes, as 32 hex digits, so key
 * must reveal nothing itself). malloc'd. */
char *td_mime_message_id_keyed(const unsigned char *key, size_t len,
			       const char *domain);

/* Quoted-printable per RFC 2045 for text: LF or CRLF in -> CRLF out, lines
 * <= 76, trailing SP/TAB encoded, '=' and non-ASCII encoded, a leading
 * "From " and a lone "." protected. Appends to out; -1 if out's cap is hit. */
int td_qp_encode(const char *in, size_t len, struct td_buf *out);
/* The same, each line looked up in memo first and offered to it after
 * (memo.h; NULL: none): the output is the same bytes either way. */
int td_qp_encode_memo(const char *in, size_t len, struct td_memo *memo,
		      struct td_buf *out);

/* One header field, "Name: value" CRLF, appended to out: folded (RFC 5322
 * 2.2.3) only in front of blanks of the text, lines within 78 characters,
 * and what cannot be written as it is (non-ASCII, a word too long for a
 * line, "=?", blanks at either end) in RFC 2047 B-words of at most 75
 * characters, cut on UTF-8 character boundaries. Unfolding and decoding
 * give back exactly the text. The text must hold no CR or LF (td_mime_build
 * checks; here they would only be encoded).
 *
 * _text: unstructured text (Subject). */
void td_mime_header_text(struct td_buf *out, const char *name, const char *utf8);
/* _mailbox: "[display] <addr>", or the bare addr when display is NULL or
 * "". A display name is written as atoms, a quoted-string for its ASCII
 * words with specials, and encoded-words for the rest; an ASCII word too
 * long for a line stays whole in quotes (a long line, below 998 for a name
 * within TD_DISPLAY_NAME_MAX), so that every reader, including those that
 * keep the blank between encoded-words of a name, reads it as given. addr
 * must be valid (address.h). */
void td_mime_header_mailbox(struct td_buf *out, const char *name,
			    const char *display, const char *addr);

#endif
