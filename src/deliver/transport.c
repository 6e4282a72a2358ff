/*
 * transport.c: the thin dispatcher in front of the delivery backends.
 *
 * It picks the backend the options name, owns the struct td_transport
 * around the backend's private state, and gives every send a clean result
 * to fill. Everything that knows about Maildir, SMTP or sendmail lives in
 * maildir.c, smtp.c and sendmail.c; this file only keeps the open/send/close pairing honest.
 */
#include "tagdigest/deliver/transport.h"

#include <stdlib.h>

#include "tagdigest/core/util.h"

int td_transport_open(const struct td_transport_options *opt,
		      struct td_transport **out, struct td_err *err)
{
	const struct td_transport_ops *ops;

	*out = NULL;
	switch (opt->type) {
	case TD_TRANSPORT_MAILDIR:
		ops = &td_transport_maildir;
		break;
	case TD_TRANSPORT_SMTP:
		ops = &td_transport_smtp;
		break;
	case TD_TRANSPORT_SENDMAIL:
		ops = &td_transport_sendmail;
		break;
	default:
		return td_err_set(err, EX_CONFIG,
				  "transport: unknown transport type %d",
				  (int)opt->type);
	}

	struct td_transport *t = td_xcalloc(1, sizeof *t);
	t->ops = ops;
	int rc = ops->open(t, opt, err);
	if (rc) {
		/* A backend that fails to open has released its own state. */
		free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void td_transport_send(struct td_transport *t, const char *from,
		       const char *rcpt, const char *msg, size_t len,
		       struct td_send_result *res, struct td_err *err)
{
	/* A backend that forgets to set the outcome must not report success:
	 * the caller would move the subscriber's watermark on a lost message. */
	res->outcome = TD_SEND_FATAL;
	res->reply[0] = '\0';
	res->relay_down = false;
	if (t->gate && !t->ops->holds_gate && !t->gate(t->gate_arg)) {
		res->outcome = TD_SEND_TEMPFAIL;
		td_err_set(err, EX_TEMPFAIL, "transport: %s: not sent: the run is stopping",
			   rcpt);
		return;
	}
	t->ops->send(t, from, rcpt, msg, len, res, err);
}

void td_transport_set_gate(struct td_transport *t, td_transport_gate_fn fn, void *arg)
{
	t->gate = fn;
	t->gate_arg = arg;
}

void td_transport_hangup(struct td_transport *t)
{
	if (t && t->ops->hangup)
		t->ops->hangup(t);
}

void td_transport_close(struct td_transport *t)
{
	if (!t)
		return;
	t->ops->close(t);
	free(t);
}
