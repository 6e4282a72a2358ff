/*
 * mailbox: the bounce mailbox, read through libetpan's storage drivers.
 *
 * A mailbox is named by a spec (config [bounces] mailbox):
 *
 *   maildir:PATH                  a local Maildir (new/ and cur/)
 *   imaps://USER@HOST[:PORT][/FOLDER]   IMAP over TLS (default port 993,
 *                                 folder INBOX)
 *   imap://USER@HOST[:PORT][/FOLDER]    IMAP with STARTTLS, required (143)
 *   pop3s://USER@HOST[:PORT]      POP3 over TLS (995)
 *   pop3://USER@HOST[:PORT]       POP3 with STLS, required (110)
 *
 * There is no plaintext mode: a password never crosses the wire in the
 * clear. The server's certificate is checked (against ca_file, else the
 * system store, and the host name) before the login, on our own socket,
 * with SNI: libetpan's own TLS checks nothing (BRIEF-2 §1.2).
 *
 * Messages are listed once at open; td_mailbox_fetch gives the bytes of
 * message i (0-based) as stored, at most TD_MAILBOX_FETCH_MAX of them:
 * a bigger message is cut there (IMAP fetches only that part, a Maildir
 * file is read only that far), which loses nothing the parser reads
 * (report.h: it stops at TD_BOUNCE_MAX_BYTES). POP3 cannot fetch a part,
 * so a message LIST says is bigger is not fetched at all: EX_DATAERR,
 * "too large", and it stays where it is. td_mailbox_done removes message i, or
 * moves it to processed_folder when one is set (IMAP: MOVE, else COPY +
 * delete; Maildir: rename into the Maildir++ folder .FOLDER/cur; POP3
 * cannot move: the config refuses a folder with pop3). A removal may only
 * take effect at td_mailbox_close (POP3 DELE is committed by QUIT, IMAP
 * by EXPUNGE): a connection lost before that leaves the messages in
 * place, to be seen again next time. So the caller records each
 * message's outcome in the store BEFORE calling done, and recognises a
 * message already recorded (process.h).
 *
 * read_only (`bounces --dry-run`) writes nothing anywhere: IMAP opens the
 * folder with EXAMINE (no \Recent taken, no flag set) and creates no
 * processed_folder; POP3 fetches with TOP, not RETR (which servers take
 * as read), and sends no DELE and no QUIT (so the server has no UPDATE
 * state to commit); a Maildir is only read. td_mailbox_done is refused
 * with EX_SOFTWARE.
 *
 * Errors: EX_CONFIG for a bad spec or a refused login (wrong user or
 * password: "imaps://bounce@127.0.0.1:28993: login refused: ..."),
 * EX_UNAVAILABLE for a server that cannot be reached or a certificate
 * that does not verify, EX_TEMPFAIL for a connection lost mid-way (or
 * a removal that did not commit at close), EX_NOINPUT for a Maildir
 * that does not exist. For one message: EX_NOINPUT when it is gone
 * (another client removed it), EX_PROTOCOL when the server refuses the
 * command (NO, -ERR), EX_DATAERR when it is too large to fetch (POP3,
 * above); the connection is still good for the others.
 *
 * Ownership: struct td_mailbox owns the session; td_mailbox_close frees
 * it whatever happens.
 */
#ifndef TAGDIGEST_BOUNCE_MAILBOX_H
#define TAGDIGEST_BOUNCE_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "tagdigest/bounce/report.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/core/err.h"

/* The most of one message td_mailbox_fetch gives: what the parser reads,
 * and room for a header block before it. */
#define TD_MAILBOX_FETCH_MAX ((size_t)TD_BOUNCE_MAX_BYTES + (64u << 10))

struct td_mailbox_options {
	const char *spec;
	const char *password_env;     /* name of an environment variable */
	const char *password_file;    /* 0600 file, first line */
	const char *ca_file;          /* PEM; NULL: the system store */
	const char *processed_folder; /* NULL or "": delete when done */
	int timeout;                  /* seconds per network step */
	bool read_only;               /* write nothing (above); done refused */
};

struct td_mailbox;

/* Checks a spec without connecting (the config loader calls it).
 * Returns 0 or EX_CONFIG with what is wrong. */
int td_mailbox_spec_check(const char *spec, const char *processed_folder,
			  struct td_err *err);

int td_mailbox_open(const struct td_mailbox_options *o, struct td_mailbox **out,
		    struct td_err *err);
size_t td_mailbox_count(const struct td_mailbox *mb);
/* A name for message i for logs ("new/1733.M1P2.host", "UID 42",
 * "UIDL 000001"), owned by mb. */
const char *td_mailbox_name(const struct td_mailbox *mb, size_t i);
/* Appends message i's bytes, at most TD_MAILBOX_FETCH_MAX, to out
 * (reset first). */
int td_mailbox_fetch(struct td_mailbox *mb, size_t i, struct td_buf *out,
		     struct td_err *err);
int td_mailbox_done(struct td_mailbox *mb, size_t i, struct td_err *err);
/* Commits the removals (EXPUNGE, QUIT) and frees mb. Returns 0 or the
 * error of the commit; NULL is fine. */
int td_mailbox_close(struct td_mailbox *mb, struct td_err *err);

#endif
