/*
 * transport: hands one finished message to whatever delivers it.
 *
 * Backends sit behind a small table of function pointers, the shape
 * OpenSMTPD uses for its queues: maildir (write tmp/, fsync, rename into
 * new/; opening it removes tmp/ files not written to for 36 hours, the
 * leftovers of deliveries that died, as Maildir readers do), smtp (libcurl, one connection reused across messages) and
 * sendmail (a local MTA's sendmail(8), run with fork/execv per message).
 *
 * Threads: a transport belongs to one thread at a time. The send loop
 * opens one per parallel session, all from the calling thread (libcurl's
 * global init is not thread-safe), then hands each to its sender thread.
 *
 * td_transport_send() reports one outcome per message:
 *   TD_SEND_OK        accepted: `reply` holds the server's answer or the
 *                     Maildir file name, to be recorded with the delivery
 *   TD_SEND_TEMPFAIL  try later (4xx, timeout, dropped connection, disk full)
 *   TD_SEND_PERMFAIL  this recipient will not take it (5xx at RCPT/DATA)
 *   TD_SEND_FATAL     the problem is ours (bad credentials, TLS failure, 5xx
 *                     at MAIL, unwritable Maildir): stop the run
 * and fills err with what a person can act on for anything but OK.
 * A TEMPFAIL that is the server's rather than the message's (it refused
 * or timed out the connection, dropped it without a reply, or answered
 * 421) also sets relay_down: another relay may take the message at once
 * (relays.h).
 *
 * td_transport_hangup() ends the connection a backend keeps open (SMTP:
 * QUIT), so a session leaving one relay for another does not hold an
 * idle connection there; the next send opens a fresh one.
 *
 * The commit gate (td_transport_set_gate): a function the transport calls
 * once per send, right before the step that lets the receiver accept the
 * message, and which may block there; false abandons the message
 * undelivered (TD_SEND_TEMPFAIL). The send loop uses it to keep at most
 * one accepted-but-unrecorded message per session while the next one is
 * already on the wire. SMTP calls it with MAIL, RCPT, DATA and all of the
 * body but its last byte sent (the server cannot accept before the end of
 * data); a backend that cannot hold its last step (ops->holds_gate false)
 * has it called before it starts.
 *
 * Ownership: td_transport_open() returns a transport the caller closes
 * with td_transport_close(). The message bytes are borrowed for the call.
 */
#ifndef TAGDIGEST_TRANSPORT_H
#define TAGDIGEST_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "tagdigest/core/err.h"

enum td_transport_type { TD_TRANSPORT_MAILDIR, TD_TRANSPORT_SMTP,
			 TD_TRANSPORT_SENDMAIL };

/* transport.starttls: smtp:// only (smtps:// is TLS from the start). */
enum td_starttls { TD_STARTTLS_DEFAULT, TD_STARTTLS_REQUIRED, TD_STARTTLS_OFF };

/* The SMTP backend's [transport] settings. */
struct td_smtp_options {
	const char *url;          /* smtp://HOST:PORT or smtps://HOST:PORT; a
				   * path names the EHLO name */
	const char *username;     /* NULL or "": no AUTH */
	const char *password_env; /* the password: this environment variable, */
	const char *password_file;/* or else this file (mode 600 or stricter) */
	enum td_starttls starttls;/* REQUIRED: STARTTLS or fail (always with
				   * a username) */
	const char *ca_file;      /* PEM bundle to verify the server; NULL:
				   * the system's */
	int max_messages_per_connection; /* then reconnect; <= 0: 100 */
	/* The EHLO name when the URL has none: ehlo if it is a plain
	 * domain, else the domain of from_address, else the host of
	 * site_url, else "localhost". */
	const char *ehlo;
	const char *from_address;
	const char *site_url;
};

/* What td_transport_open needs: the backend and its settings. Strings
 * are borrowed for the call (backends copy what they keep). */
struct td_transport_options {
	enum td_transport_type type;
	int timeout;              /* seconds a server (smtp) or the program
				   * (sendmail) may take; <= 0: 30 */
	const char *maildir;      /* maildir: the folder (with cur/ new/ tmp/) */
	const char *sendmail;     /* sendmail: the program; NULL or "":
				   * /usr/sbin/sendmail */
	struct td_smtp_options smtp;
};

enum td_send_outcome {
	TD_SEND_OK = 0,
	TD_SEND_TEMPFAIL,
	TD_SEND_PERMFAIL,
	TD_SEND_FATAL,
};

struct td_send_result {
	enum td_send_outcome outcome;
	char reply[512];      /* server reply line or Maildir file name */
	bool relay_down;      /* TEMPFAIL: the server is unavailable, not
			       * this message's problem (see above) */
};

struct td_transport;

/* The commit gate (see above): true lets the message be accepted. */
typedef bool (*td_transport_gate_fn)(void *arg);

struct td_transport_ops {
	const char *name;
	bool holds_gate;      /* send calls t->gate itself, before its last step */
	int (*open)(struct td_transport *t, const struct td_transport_options *opt,
		    struct td_err *err);
	void (*send)(struct td_transport *t, const char *from, const char *rcpt,
		     const char *msg, size_t len, struct td_send_result *res,
		     struct td_err *err);
	void (*close)(struct td_transport *t);
	void (*hangup)(struct td_transport *t);   /* NULL: nothing kept open */
};

struct td_transport {
	const struct td_transport_ops *ops;
	void *state;          /* owned by the backend */
	td_transport_gate_fn gate;   /* NULL: none */
	void *gate_arg;
};

extern const struct td_transport_ops td_transport_maildir;
extern const struct td_transport_ops td_transport_smtp;
extern const struct td_transport_ops td_transport_sendmail;

/* Opens the backend opt names. Returns 0, EX_CONFIG or
 * EX_CANTCREAT / EX_UNAVAILABLE with err filled. *out is freed by close. */
int td_transport_open(const struct td_transport_options *opt,
		      struct td_transport **out, struct td_err *err);
void td_transport_send(struct td_transport *t, const char *from,
		       const char *rcpt, const char *msg, size_t len,
		       struct td_send_result *res, struct td_err *err);
void td_transport_close(struct td_transport *t);
/* Closes the connection t keeps open, if any; t stays usable. */
void td_transport_hangup(struct td_transport *t);
/* Every later send of t passes fn (NULL: none) before the message can be
 * accepted. */
void td_transport_set_gate(struct td_transport *t, td_transport_gate_fn fn, void *arg);

#endif
