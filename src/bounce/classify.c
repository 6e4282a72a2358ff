/*
 * classify: reason, status, reply code and hard flag of each recipient
 * (bounce_impl.h). Runs last, on every recipient rfc.c and scrape.c found.
 *
 * The reasons are the Sisimai project's, and so is the order in which the
 * evidence is weighed, because the conformance data is Sisimai's answers:
 *
 *   1. the status: the report's Status field, or a code written in the
 *      diagnostic (or, for a lone recipient, in Sendmail's transcript;
 *      else in the text about the recipient) when the field is empty or
 *      vaguer (x.0.0, 4.4.7, ...);
 *   2. a local delivery agent's words (mail.local, procmail, maildrop,
 *      ...), then phrases an MTA writes about its own failures (qmail's
 *      "Sorry, no mailbox here by that name", Exim's "Unrouteable
 *      address", ...), the report's X-PowerMTA-BounceCategory, and what
 *      a whole message says of all its recipients (Google Groups, au's
 *      X-SPASIGN, Verizon's gateway);
 *   3. the remote host's own vocabulary when the remote host is a
 *      provider with one (Google, Microsoft, Yahoo, Cox, Orange, ...);
 *   4. the reasons in a fixed order, each trying its status codes and
 *      then its phrases (mailboxfull before userunknown: "mailbox full"
 *      arrives with 5.1.1 more often than one would think);
 *   5. the remaining phrases, then what the status code alone means,
 *      then the SMTP command and the DSN action;
 *   6. when the diagnostic told nothing, the same on the text about the
 *      recipient; then "onhold" when there were words but none told,
 *      "undefined" when there were none.
 *
 * The words read are the diagnostic, the comment after the Status field
 * ("5.2.1 (mailbox disabled, ...)"), Postfix's "(in reply to RCPT TO
 * command)" and, for a lone recipient, the whole first reply of
 * Sendmail's transcript. The SMTP command matters: "user unknown" is the
 * address only in reply to RCPT, after the message it is a filter's word.
 *
 * A status is derived from the reason only when neither the report nor
 * the words have one: Sisimai's internal codes "5.0.9xx" ("class 5,
 * and this reason"), whose class says whether the text reads temporary.
 *
 * Phrases are matched case-insensitively on the words with whitespace
 * squeezed and a multi-line reply's "550-5.7.1" prefixes taken out; a
 * '*' inside a phrase stands for any run of text ("user * does not
 * exist"). At most 8 KiB of a diagnostic is read.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bounce_impl.h"
#include "tagdigest/core/buf.h"
#include "tagdigest/core/util.h"

/* ---- phrases ---------------------------------------------------------- */

struct phrases {
	const char *reason;
	const char *const *v;   /* NULL-terminated, lowercase */
};

/* What the server says when the local part does not exist. */
static const char *const p_userunknown[] = {
	"#5.1.1 bad address", "550 address invalid", "5.1.0 address rejected.",
	"address does not exist", "address not present in directory",
	"address unknown", "can't accept user", "does not exist.",
	"destination addresses were unknown", "destination server rejected recipients",
	"email address does not exist", "email address could not be found",
	"invalid address", "invalid mailbox", "invalid recipient",
	"is not a known user", "is not a valid mailbox",
	"is not an active address at this host", "mailbox does not exist",
	"mailbox invalid", "mailbox is inactive", "mailbox is unavailable",
	"mailbox not present", "mailbox not found", "mailbox unavaiable",
	"nessun utente simile in questo indirizzo", "no account by that name here",
	"no existe dicha persona", "no existe ese usuario ",
	"no mail box available for this user",
	"no mailbox by that name is currently available", "no mailbox found",
	"no such address here", "no such mailbox", "no such person at this address",
	"no such recipient", "no such user", "no thank you rejected: account unavailable",
	"no valid recipients, bye", "not a valid recipient", "not a valid user here",
	"not a local address", "not email addresses",
	"recipient address rejected. (in reply to rcpt to command)",
	"recipient address rejected: access denied",
	"recipient address rejected: invalid user",
	"recipient address rejected: invalid-recipient",
	"recipient address rejected: unknown user",
	"recipient address rejected: userunknown", "recipient does not exist",
	"recipient is not accepted", "recipient is not local", "recipient not exist",
	"recipient not found", "recipient not ok", "recipient refuses to accept your mail",
	"recipient unknown", "requested action not taken: mailbox unavailable",
	"resolver.adr.recipient notfound", "sorry, user unknown", "sorry, badrcptto",
	"sorry, no mailbox here by that name", "sorry, your envelope recipient has been denied",
	"that domain or user isn't in my list of allowed rcpthosts",
	"the email account that you tried to reach does not exist",
	"the following recipients was undeliverable", "the user's email name is not found",
	"there is no one at this address", "this address no longer accepts mail",
	"this email address is wrong or no longer valid",
	"this recipient is in my badrecipientto list",
	"this recipient is not in my validrcptto list", "this spectator does not exist",
	"unknown mailbox", "unknown recipient", "unknown user", "user does not exist",
	"user missing home directory", "user not active", "user not exist",
	"user not found", "user not known", "user unknown", "utilisateur inconnu !",
	"vdeliver: invalid or unknown virtual user",
	"your envelope recipient is in my badrcptto list",
	"<*> not found", "<*>... blocked by ", "account * does not exist at the organization",
	"adresse d au moins un destinataire invalide. invalid recipient.*416",
	"adresse d au moins un destinataire invalide. invalid recipient.*418",
	"bad*recipient", "mailbox *does not exist", "mailbox *unavailable or access denied",
	"no * in name directory", "non*existent user", "rcpt <* does not exist",
	"rcpt (*t exist ", "recipient * was not found in",
	"recipient address rejected: user * does not exist",
	"recipient address rejected: user unknown in * table",
	"said: 550-5.1.1 * user unknown ", "said: 550 5.1.1 * user unknown ",
	"this user doesn't have a * account", "unknown e*mail address",
	"unknown local*part", "user * was not found", "user * does not exist",
	"user (*) unknown", NULL,
};
static const char *const p_hostunknown[] = {
	"domain does not exist", "domain is not reachable", "domain must exist",
	"host or domain name not found", "host unknown", "host unreachable",
	"mail domain mentioned in email address is unknown",
	"name or service not known", "no such domain",
	"recipient address rejected: unknown domain name", "recipient domain must exist",
	"the account or domain may not exist", "unknown host", "unroutable address",
	"unrouteable address", "553 * does not exist", NULL,
};
static const char *const p_mailboxfull[] = {
	"452 insufficient disk space", "account disabled temporarly for exceeding receiving limits",
	"account is exceeding their quota", "account is over quota",
	"account is temporarily over quota", "boite du destinataire pleine",
	"delivery failed: over quota", "disc quota exceeded", "diskspace quota",
	"does not have enough space", "exceeded storage allocation",
	"exceeding its mailbox quota", "full mailbox", "is over disk quota",
	"is over quota temporarily",
	"mail file size exceeds the maximum size allowed for mail delivery",
	"mail quota exceeded", "mailbox exceeded the local limit", "mailbox full",
	"mailbox has exceeded its disk space limit", "mailbox is full",
	"mailbox over quota", "mailbox quota usage exceeded", "mailbox size limit exceeded",
	"maildir over quota", "maildir delivery failed: userdisk quota ",
	"maildir delivery failed: domaindisk quota ", "mailfolder is full",
	"no space left on device", "not enough disk space", "not enough storage space in",
	"not sufficient disk space", "over the allowed quota", "quota exceeded",
	"quota violation for", "recipient reached disk quota",
	"recipient rejected: mailbox would exceed maximum allowed storage",
	"the user's space has been used up", "the user you are trying to reach is over quota",
	"too much mail data", "user has exceeded quota, bouncing mail",
	"user has too many messages on the server", "user is over quota",
	"user is over the quota", "user over quota", "was automatically rejected: quota exceeded",
	"would be over the allowed quota", NULL,
};
static const char *const p_mesgtoobig[] = {
	"exceeded maximum inbound message size", "exceeded the maximum incoming message size",
	"line limit exceeded", "max message size exceeded", "message file too big",
	"message length exceeds administrative limit", "message size exceeds fixed limit",
	"message size exceeds fixed maximum message size", "message size exceeds maximum value",
	"message too big", "message too large for this ", "size limit",
	"taille limite du message atteinte", NULL,
};
static const char *const p_exceedlimit[] = {
	"message header size exceeds limit", "message too large", NULL,
};
static const char *const p_suspend[] = {
	" is currently suspended", " temporary locked", "archived recipient",
	"boite du destinataire archivee", "email account that you tried to reach is disabled",
	"has been suspended", "inactive account", "invalid/inactive user",
	"is a deactivated mailbox", "is unavailable: user is terminated",
	"mailbox currently suspended", "mailbox disabled", "mailbox is frozen",
	"mailbox unavailable or access denied", "recipient rejected: temporarily inactive",
	"recipient suspend the service", "this account has been disabled or discontinued",
	"this account has been temporarily suspended", "this address no longer accepts mail",
	"this mailbox is disabled", "user or domain is disabled", "user suspended",
	"vdelivermail: account is locked email bounced", NULL,
};
static const char *const p_hasmoved[] = { " has been replaced by ", NULL };
static const char *const p_norelaying[] = {
	"as a relay", "email address is not verified.", "insecure mail relay",
	"is not permitted to relay through this server without authentication",
	"mail server requires authentication when attempting to send to a non-local e-mail address",
	"no relaying", "not a gateway", "not allowed to relay through this machine",
	"not an open relay, so get lost", "not local host", "relay access denied",
	"relay denied", "relaying mail to ", "relay not permitted", "relaying denied",
	"specified domain is not allowed", "that domain isn't in my list of allowed rcpthost",
	"this system is not configured to relay mail", "unable to relay for",
	"we don't handle mail for", NULL,
};
static const char *const p_authfailure[] = {
	"//spf.pobox.com", "bad spf records for", "dmarc policy",
	"please inspect your spf settings", "sender policy framework (spf) fail",
	"sender policy framework violation",
	"spf (sender policy framework) domain authentication fail", "spf check: fail",
	" is not allowed to send mail.*_401", "is not allowed to send from <* per it's spf record",
	NULL,
};
static const char *const p_filtered[] = {
	"because the recipient is only accepting mail from specific email addresses",
	"bounced address",
	"due to extended inactivity new mail is not currently being accepted for this mailbox",
	"has restricted sms e-mail", "is not accepting any mail", "message filtered",
	"message rejected due to user rules", "not found recipient account",
	"refused due to recipient preferences", "resolver.rst.notauthorized",
	"this account is protected by", "user not found", "user refuses to receive this mail",
	"user reject",
	"we failed to deliver mail because the following address recipient id refuse to receive mail",
	"you have been blocked by the recipient", NULL,
};
static const char *const p_requireptr[] = {
	"access denied. ip name lookup failed",
	"all mail servers must have a ptr record with a valid reverse dns entry",
	"bad dns ptr resource record", "cannot find your hostname",
	"cannot resolve your address.", "client host rejected: cannot find your hostname",
	"fix reverse dns for ", "ips with missing ptr records", "no ptr record found.",
	"please get a custom reverse dns name from your isp for your host",
	"ptr record setup", "reverse dns failed", "reverse dns required",
	"sender ip reverse lookup rejected",
	"the ip address sending this message does not have a ptr record setup",
	"the corresponding forward dns entry does not point to the sending ip",
	"this system will not accept messages from servers/devices with no reverse dns",
	"unresolvable relay host name",
	"we do not accept mail from hosts with dynamic ip or generic dns ptr-records",
	"domain * mismatches client ip", "dns lookup failure: * try again later",
	"reverse dns lookup for host * failed permanently",
	"server access * forbidden by invalid rdns record of your mail server",
	"service permits * unverifyable sending ips", NULL,
};
static const char *const p_notcompliantrfc[] = {
	"duplicate header", "this message is not rfc 5322 compliant",
	"https://support.google.com/mail/?p=rfcmessagenoncompliant",
	" multiple * header", NULL,
};
static const char *const p_badreputation[] = {
	"a poor email reputation score",
	"has been temporarily rate limited due to ip reputation",
	"ip/domain reputation problems", "likely suspicious due to the very low reputation",
	"none/bad reputation", "temporarily deferred due to unexpected volume or user complaints",
	"the sending mta's poor reputation", NULL,
};
static const char *const p_contenterror[] = {
	"duplicate header", "header size exceeds maximum permitted",
	"improper use of 8-bit data in message header",
	"message header size, or recipient list, exceeds policy limit",
	"message mime complexity exceeds the policy maximum",
	"routing loop detected -- too many received: headers",
	"this message contain invalid mime headers",
	"this message contain improperly-formatted binary content",
	"this message contain text that uses unnecessary base64 encoding", NULL,
};
/* "rejected" is about the sender; these mean the recipient's side. */
static const char *const p_rejected_not[] = {
	"5.1.0 address rejected", "recipient address rejected", "sender ip address rejected",
	NULL,
};
static const char *const p_rejected[] = {
	"access denied (in reply to mail from command)", "access denied (sender blacklisted)",
	"address rejected", "administrative prohibition", "batv failed to verify",
	"batv validation failure",
	"backscatter protection detected an invalid or expired email address",
	"bogus mail from", "can't determine purported responsible address",
	"connections not accepted from servers without a valid sender domain",
	"denied [bouncedeny]", "denied by secumail valid-address-filter",
	"delivery not authorized, message refused", "does not exist e2110",
	"domain of sender address ", "email address is on senderfilterconfig list",
	"emetteur invalide", "empty envelope senders not allowed", "envelope blocked - ",
	"error: no third-party dsns", "from: domain is invalid. please provide a valid from:",
	"fully qualified email address required", "invalid domain, see <url:",
	"invalid sender", "is not a registered gateway user", "mail from not owned by user",
	"message rejected: email address is not verified", "mx records for ",
	"null sender is not allowed", "recipient addresses rejected : access denied",
	"recipient not accepted. (batv: no tag", "returned mail not accepted here",
	"rfc 1035 violation: recursive cname records for", "rule imposed mailbox access for",
	"sending this from a different address or alias using the ",
	"sender address has been blacklisted", "sender email address rejected",
	"sender is in my black list", "sender is spammer", "sender not pre-approved",
	"sender rejected", "sender domain is empty", "sender verify failed",
	"sender was rejected", "spam reporting address", "syntax error: empty email address",
	"the message has been rejected by batv defense", "this server does not accept mail from",
	"transaction failed unsigned dsn for", "unroutable sender address",
	"you are not allowed to post to this mailing list",
	"you are sending to/from an address that has been blacklisted",
	"your access to submit messages to this e-mail system has been rejected",
	"your email address has been blacklisted", NULL,
};
static const char *const p_spamdetected[] = {
	" - spam", "//www.spamhaus.org/help/help_spam_16.htm", "//dsbl.org/help/help_spam_16.htm",
	"//mail.163.com/help/help_spam_16.htm", "554 5.7.0 reject, id=",
	"appears to be unsolicited", "blacklisted url in message", "block for spam",
	"blocked by policy: no spam please", "blocked by spamassassin",
	"blocked for abuse. see http://att.net/blocks",
	"cannot be forwarded because it was detected as spam",
	"considered unsolicited bulk e-mail (spam) by our mail filters",
	"content filter rejection",
	"cyberoam anti spam engine has identified this email as a bulk email",
	"denied due to spam list", "high probability of spam",
	"is classified as spam and is rejected", "listed in work.drbl.imedia.ru",
	"the mail server detected your message as spam and has prevented delivery.",
	"mail appears to be unsolicited", "mail content denied", "may consider spam",
	"message considered as spam or virus", "message contains spam or virus",
	"message content rejected", "message detected as spam", "message filtered",
	"message looks like spam", "message is being rejected as it seems to be a spam",
	"message refused by mailmarshal spamprofiler",
	"message refused by trustwave seg spamprofiler", "message rejected as spam",
	"message rejected because of unacceptable content",
	"message rejected due to suspected spam content",
	"message rejected for policy reasons",
	"message was rejected for possible spam/virus content",
	"our email server thinks this email is spam",
	"our system has detected that this message is ", "probable spam",
	"reject bulk.advertising", "rejected: spamassassin score ", "rejected - bulk email",
	"rejecting banned content", "rejecting mail content",
	"related to content with spam-like characteristics", "sender domain listed at ",
	"sending address not accepted due to spam filter", "spam blocked", "spam check",
	"spam content matched", "spam detected", "spam email", "spam message rejected.",
	"spam not accepted", "spam refused", "spam rejection", "spam score ",
	"spambouncer identified spam", "spamming not allowed", "too many spam complaints",
	"too much spam.", "the email message was detected as spam",
	"the message has been rejected by spam filtering engine",
	"the message was rejected due to classification as bulk mail",
	"the content of this message looked like spam", "this message appears to be spam",
	"this message has been identified as spam",
	"this message has been scored as spam with a probability",
	"this message was classified as spam",
	"this message was rejected by recurrent pattern detection system",
	"transaction failed spam message not queued", "we dont accept spam",
	"your email appears similar to spam we have received before",
	"your email breaches local uribl policy", "your email had spam-like ",
	"your email is considered spam", "your email is probably spam",
	"your email was detected as spam", "your message as spam and has prevented delivery",
	"your message has been temporarily blocked by our filter",
	"your message has been rejected because it appears to be spam",
	"your message has triggered a spam block", "your message may contain the spam contents",
	"your message failed several antispam checks",
	"greylisted* please try again in", "mail score (* over ",
	"mail rejete. mail rejected. *506",
	"our filters rate at and above * percent probability of being spam",
	"rejected by * (spam)", "rejected due to spam *classification",
	"rejected due to spam *content", "rule imposed as * is blacklisted on",
	"spam * exceeded", "this message scored * spam points", NULL,
};
static const char *const p_speeding[] = {
	"mail sent from your ip address has been temporarily rate limited",
	"please try again slower",
	"receiving mail at a rate that prevents additional messages from being delivered",
	NULL,
};
static const char *const p_toomanyconn[] = {
	"all available ips are at maximum connection limit", "connection rate limit exceeded",
	"exceeds per-domain connection limit for", "has exceeded the max emails per hour ",
	"throttling failure: daily message quota exceeded",
	"throttling failure: maximum sending rate exceeded", "too many connections",
	"too many concurrent smtp connections", "too many errors from your ip",
	"too many recipients", "too many smtp sessions for this host", "trop de connexions, ",
	"we have already made numerous attempts to deliver this message", NULL,
};
static const char *const p_blocked[] = {
	" said: 550 blocked", "//www.spamcop.net/bl.", "bad sender ip address",
	"banned sending ip", "blacklisted by", "blocked using ", "blocked - see http",
	"dnsbl:attrbl", "client host rejected: abus detecte gu_eib_02",
	"client host rejected: abus detecte gu_eib_04",
	"client host rejected: may not be mail exchanger",
	"client host rejected: was not authenticated", "confirm this mail server",
	"connection dropped", "connection refused by", "connection reset by peer",
	"connection was dropped by remote host",
	"connections not accepted from ip addresses on spamhaus xbl",
	"currently sending spam see: ", "domain does not exist:",
	"dynamic/zombied/spam ips blocked", "error: no valid recipients from ",
	"esmtp not accepting connections", "extreme bad ip profile", "go away",
	"helo command rejected:", "host network not allowed", "hosts with dynamic ip",
	"invalid ip for sending mail of domain", "is in a black list",
	"is not allowed to send mail from", "no access from mail server",
	"no matches to nameserver query", "not currently accepting mail from your ip",
	"part of their network is on our block list", "please use the smtp server of your isp",
	"refused - see http", "rejected - multi-blacklist",
	"rejected because the sending mta or the sender has not passed validation",
	"rejecting open proxy", "sender ip address rejected", "server access forbidden by your ip ",
	"service not available, closing transmission channel",
	"smtp error from remote mail server after initial connection:",
	"sorry, that domain isn't in my list of allowed rcpthosts",
	"sorry, your remotehost looks suspiciously like spammer",
	"temporarily deferred due to unexpected volume or user complaints",
	"to submit messages to this e-mail system has been rejected",
	"too many spams from your ip",
	"too many unwanted messages have been sent from the following ip address above",
	"was blocked by ", "we do not accept mail from dynamic ips",
	"you are not allowed to connect", "you are sending spam",
	"your ip address is listed in the rbl", "your network is temporary blacklisted",
	"your server requires confirmation",
	"(*@*:blocked)", "access from ip address * blocked", "client host * blocked using",
	"connections will not be accepted from * because the ip is in spamhaus's list",
	"dnsbl:rbl *>_is_blocked", "email blocked by *.barracudacentral.org",
	"email blocked by *spamhaus", "host * refused to talk to me: * blocked",
	"ip * is blocked by earthlink", "is in an *rbl on ", "mail server at * is blocked",
	"mail from * refused:", "mail from * refused, see *orbs",
	"message from * rejected based on blacklist",
	"messages from * temporarily deferred due to user complaints",
	"server ip * listed as abusive", "sorry! your ip address* is blocked by rbl",
	"the domain * is blacklisted", "the email * is blacklisted", "the ip* is blacklisted",
	"veuillez essayer plus tard. service refused, please try later. *103",
	"veuillez essayer plus tard. service refused, please try later. *510",
	"your access ip* has been rejected",
	"your sender's ip address is listed at *.abuseat.org", NULL,
};
static const char *const p_virusdetected[] = {
	"it has a potentially executable attachment",
	"the message was rejected because it contains prohibited virus or spam content",
	"this form of attachment has been used by recent viruses or other malware",
	"virus detected", "virus phishing/malicious_url detected",
	"your message was infected with a virus", NULL,
};
static const char *const p_policyviolation[] = {
	"an illegal attachment on your message",
	"because the recipient is not accepting mail with ",
	"by non-member to a members-only list", "closed mailing list", "denied by policy",
	"email not accepted for policy reasons", "email rejected due to security policies",
	"header are not accepted", "header error", "local policy violation",
	"message bounced due to organizational settings", "message given low priority",
	"message not accepted for policy reasons", "message rejected due to local policy",
	"messages with multiple addresses", "rejected for policy reasons", "protocol violation",
	"the email address used to send your message is not subscribed to this group",
	"the message was rejected by organization policy",
	"this message was blocked because its content presents a potential",
	"we do not accept messages containing images or other attachments",
	"you're using a mass mailer",
	"you have exceeded the*allowable number of posts without solving a captcha", NULL,
};
static const char *const p_systemerror[] = {
	"aliasing/forwarding loop broken", "can't create user output file",
	"could not load drd for domain", "internal error reading data",
	"internal server error: operation now in progress", "interrupted system call",
	"it encountered an error while being processed", "it would create a mail loop",
	"local configuration error", "local error in processing",
	"loop was found in the mail exchanger", "loops back to myself",
	"mail system configuration error", "queue file write error",
	"recipient deferred because there is no mdb", "remote server is misconfigured",
	"server configuration error", "service currently unavailable", "system config error",
	"temporary local problem", "timeout waiting for input", "transaction failed ",
	"unable to connect *daemon", NULL,
};
static const char *const p_networkerror[] = {
	"could not connect and send the mail to",
	"dns records for the destination computer could not be found",
	"hop count exceeded - possible mail loop", "host is unreachable",
	"host name lookup failure", "host not found, try again", "mail forwarding loop for ",
	"malformed name server reply", "malformed or unexpected name server reply",
	"maximum forwarding loop count exceeded", "message looping",
	"message probably in a routing loop", "no route to host", "too many hops",
	"unable to resolve route ", "unrouteable mail domain", NULL,
};
static const char *const p_systemfull[] = {
	"mail system full", "requested mail action aborted: exceeded storage allocation", NULL,
};
static const char *const p_notaccept[] = {
	"does not accept mail (nullmx)", "host/domain does not accept mail",
	"host does not accept mail", "mail receiving disabled",
	"name server: .: host not found", "no mx record found for domain=",
	"no route for current request", "smtp protocol returned a permanent error", NULL,
};
static const char *const p_expired[] = {
	"connection timed out", "could not find a gateway for",
	"delivery attempts will continue to be", "delivery expired", "delivery time expired",
	"failed to deliver to domain ", "giving up on", "have been failing for a long time",
	"has been delayed", "it has not been collected after",
	"message expired after sitting in queue for",
	"message expired, cannot connect to remote server",
	"message expired, connection refulsed", "message timed out",
	"retry time not reached for any host after a long failure period",
	"server did not respond", "this message has been in the queue too long",
	"unable to deliver message after multiple retries",
	"was not reachable within the allowed queue period",
	"your message could not be delivered for more than",
	"could not be delivered for* days", NULL,
};
static const char *const p_securityerror[] = {
	"account not subscribed to ses", "authentication credentials invalid",
	"authentication failure", "authentication required",
	"authentication turned on in your email client",
	"executable files are not allowed in compressed files", "insecure mail relay",
	"recipient address rejected: access denied",
	"sorry, you don't authenticate or the domain isn't in my list of allowed rcpthosts",
	"unauthenticated senders not allowed", "verification failure",
	"you are not authorized to send mail, authentication is required",
	"authentication failed; server * said: ", "authentification invalide*305",
	"authentification requise*402", "domain * is a dead domain",
	"user * is not authorized to perform ses:sendrawemail on resource", NULL,
};
static const char *const p_mailererror[] = {
	" || exit ", "procmail: ", "bin/procmail", "bin/maidrop", "command failed: ",
	"command died with status ", "command output:", "mailer error", "pipe to |/",
	"x-unix; ", NULL,
};
static const char *const p_vacation[] = {
	"i am away on vacation", "i am away until", "i am out of the office",
	"i will be traveling for work on", NULL,
};

static const struct phrases phrases[] = {
	{ "userunknown", p_userunknown }, { "hostunknown", p_hostunknown },
	{ "mailboxfull", p_mailboxfull }, { "mesgtoobig", p_mesgtoobig },
	{ "exceedlimit", p_exceedlimit }, { "suspend", p_suspend },
	{ "hasmoved", p_hasmoved }, { "norelaying", p_norelaying },
	{ "authfailure", p_authfailure }, { "filtered", p_filtered },
	{ "requireptr", p_requireptr }, { "notcompliantrfc", p_notcompliantrfc },
	{ "badreputation", p_badreputation }, { "contenterror", p_contenterror },
	{ "rejected", p_rejected }, { "spamdetected", p_spamdetected },
	{ "speeding", p_speeding }, { "toomanyconn", p_toomanyconn },
	{ "blocked", p_blocked }, { "virusdetected", p_virusdetected },
	{ "policyviolation", p_policyviolation }, { "systemerror", p_systemerror },
	{ "networkerror", p_networkerror }, { "systemfull", p_systemfull },
	{ "notaccept", p_notaccept }, { "expired", p_expired },
	{ "securityerror", p_securityerror }, { "mailererror", p_mailererror },
	{ "vacation", p_vacation },
};

/* Phrases MTAs write about their own failures, stronger than the general
 * ones: the MTA knows what it did. The reason is the second field. */
struct own { const char *pat; const char *reason; };
static const struct own own_words[] = {
	/* Exim */
	{ "all host address lookups failed permanently", "hostunknown" },
	{ "all relevant mx records point to non-existent hosts", "hostunknown" },
	{ "an mx or srv record indicated no smtp service", "notaccept" },
	{ "no host found for existing smtp connection", "notaccept" },
	{ "error: quota exceed", "mailboxfull" },
	{ "angle-brackets nested too deep", "syntaxerror" },
	{ "expected word or \"<\"", "syntaxerror" },
	{ "domain missing in source-routed address", "syntaxerror" },
	{ "malformed address:", "syntaxerror" },
	{ "delivery to file forbidden", "systemerror" },
	{ "delivery to pipe forbidden", "systemerror" },
	{ "local delivery failed", "systemerror" },
	{ "lmtp error after ", "systemerror" },
	{ "too many \"received\" headers", "contenterror" },
	/* GMX's words first: its expiry is coded permanent, Exim's temporary */
	{ "delivery retry timeout exceeded", "expired" },
	{ "retry timeout exceeded", "expired" },
	{ "has been frozen", "expired" },
	{ "was frozen on arrival", "expired" },
	/* qmail and its clones */
	{ "sorry, i couldn't find any host ", "hostunknown" },
	{ "message size exceeds fixed maximum message size:", "mesgtoobig" },
	{ "sorry, i wasn't able to establish an smtp connection", "networkerror" },
	{ "sorry. although i'm listed as a best-preference mx or a for that host",
	  "networkerror" },
	{ "sorry, i couldn't find a mail exchanger or ip address", "notaccept" },
	{ "bad interpreter: no such file or directory", "systemerror" },
	{ "requested action not taken: mailbox unavailable (not enough free space)",
	  "systemfull" },
	{ "no mailbox here by that name", "userunknown" },
	{ "the message exeeded the maximum size the user accepts", "exceedlimit" },
	{ "mailaddress is administrativ", "suspend" },
	{ "automatic homedir creator crashed", "systemerror" },
	{ "illegal value in ldap attribute", "systemerror" },
	{ "ldap attribute is not given but mandatory", "systemerror" },
	{ "timeout while performing search on ldap server", "systemerror" },
	{ "temporary failure in ldap lookup", "systemerror" },
	{ "unable to contact ldap server", "systemerror" },
	{ "i'm not going to try again; this message has been in the queue too long",
	  "expired" },
	/* Gmail, Google Workspace */
	{ "dns error: could not contact dns servers", "expired" },
	{ "delivery to the following recipient has been delayed", "expired" },
	{ "the recipient server did not accept our requests to connect", "expired" },
	{ "dns error: domain name not found", "hostunknown" },
	{ "dns error: dns server returned answer with no data", "hostunknown" },
	{ "because the address couldn't be found. check for typos or unnecessary spaces",
	  "userunknown" },
	{ "null mx", "notaccept" },
	/* Courier, Domino, Notes, IMail, OpenSMTPD, DragonFly, others */
	{ "this domain's dns violates rfc 1035.", "systemerror" },
	{ "dns lookup failed.", "networkerror" },
	{ "cannot route mail to user", "filtered" },
	{ "several matches found in domino directory", "systemerror" },
	{ "not listed in domino directory", "userunknown" },
	{ "not listed in public name & address book", "userunknown" },
	{ "message has exceeded maximum hop count", "networkerror" },
	{ "invalid final delivery userid", "userunknown" },
	{ "user mailbox exceeds allowed size", "mailboxfull" },
	{ "requested action not taken: virus detected", "virusdetected" },
	{ "envelope expired", "expired" },
	{ "could not retrieve credentials", "securityerror" },
	{ "address family mismatch on destination mxs", "networkerror" },
	{ "all routes to destination blocked", "networkerror" },
	{ "network error on destination mxs", "networkerror" },
	{ "no valid route to remote mx", "networkerror" },
	{ "no valid route to destination", "networkerror" },
	{ "temporary failure in mx lookup", "networkerror" },
	{ "destination seem to reject all mails", "notaccept" },
	{ "no mx found for domain", "notaccept" },
	{ "no mx found for destination", "notaccept" },
	{ "could not deliver for the last ", "expired" },
	{ "dns lookup failure: host ", "hostunknown" },
	{ "illegal host/domain name found", "hostunknown" },
	{ "mail delivery failed... user unknown", "filtered" },
	{ "the number of messages in recipient's mailbox exceeded the local limit.",
	  "mailboxfull" },
	{ "your message was not delivered within ", "expired" },
	{ "the user(s) account is temporarily over quota", "mailboxfull" },
	{ "the user(s) account is disabled.", "suspend" },
	{ "the user(s) account is temporarily limited.", "suspend" },
	{ "as their mailbox is full", "mailboxfull" },
	{ "due to the following smtp relay error", "norelaying" },
	{ "as the remote domain doesnt exist", "hostunknown" },
	{ "mail size limit exceeded", "mesgtoobig" },
	{ "550 - requested action not taken: no such user here", "userunknown" },
	/* fml, the mailing list manager */
	{ " header may cause mail loop", "rejected" },
	{ "not member article from ", "rejected" },
	{ "reject mail from ", "rejected" },
	{ "reject spammers:", "rejected" },
	{ "you are not a member of this mailing list", "rejected" },
	{ " has detected a loop condition so that", "systemerror" },
	{ "duplicated message-id", "systemerror" },
	{ "loop back warning:", "systemerror" },
	{ "security alert:", "securityerror" },
	/* Verizon's MMS gateway */
	{ "no valid recipients for this mm", "userunknown" },
	{ "host not reachable", "expired" },
	/* IMail: "Unknown user: a@example.org" */
	{ "unknown user: ", "userunknown" },
	/* Exchange 2000/2003 diagnostic numbers */
	{ "(000c05a6)", "userunknown" },
	{ "(000c0595)", "filtered" },
	{ "(00010256)", "systemerror" },
	{ "(000d06b5)", "systemerror" },
	{ "(00120270)", "networkerror" },
	{ "(00050311)", "contenterror" },
	{ "(000502cc)", "contenterror" },
	{ "(000b0981)", "securityerror" },
};

struct fcode { const char *code; const char *reason; };

/* Local delivery agents: the agent named in the diagnostic, then its
 * words; an agent that failed without known words is a mailer error. */
struct lda { const char *agent; const char *pat; const char *reason; };
static const struct lda lda_marks[] = {
	{ "dovecot", "your message to <*> was automatically rejected:", NULL },
	{ "mail.local", "mail.local: ", NULL },
	{ "procmail", "procmail: ", NULL }, { "procmail", "/procmail ", NULL },
	{ "maildrop", "maildrop: ", NULL }, { "vpopmail", "vdelivermail: ", NULL },
	{ "vmailmgr", "vdeliver: ", NULL },
};
static const struct lda lda_words[] = {
	{ "dovecot", "not enough disk space", "mailboxfull" },
	{ "dovecot", "quota exceeded", "mailboxfull" },
	{ "dovecot", "mailbox doesn't exist: ", "userunknown" },
	{ "mail.local", "disc quota exceeded", "mailboxfull" },
	{ "mail.local", "mailbox full or quota exceeded", "mailboxfull" },
	{ "mail.local", "temporary file write error", "systemerror" },
	{ "mail.local", ": invalid mailbox path", "userunknown" },
	{ "mail.local", ": unknown user:", "userunknown" },
	{ "mail.local", ": user missing home directory", "userunknown" },
	{ "mail.local", ": user unknown", "userunknown" },
	{ "procmail", "quota exceeded while writing", "mailboxfull" },
	{ "procmail", "user over quota", "mailboxfull" },
	{ "procmail", "service unavailable", "systemerror" },
	{ "procmail", "no space left to finish writing", "systemfull" },
	{ "maildrop", "maildir over quota.", "mailboxfull" },
	{ "maildrop", "cannot find system user", "userunknown" },
	{ "maildrop", "invalid user specified.", "userunknown" },
	{ "vpopmail", "user does not exist, but will deliver to ", "filtered" },
	{ "vpopmail", "domain is over quota", "mailboxfull" },
	{ "vpopmail", "user is over quota", "mailboxfull" },
	{ "vpopmail", "account is locked email bounced", "suspend" },
	{ "vpopmail", "sorry, no mailbox here by that name.", "userunknown" },
	{ "vmailmgr", "delivery failed due to system quota violation", "mailboxfull" },
	{ "vmailmgr", "invalid or unknown base user or domain", "userunknown" },
	{ "vmailmgr", "invalid or unknown virtual user", "userunknown" },
	{ "vmailmgr", "user name does not refer to a virtual user", "userunknown" },
};

/* PowerMTA's X-PowerMTA-BounceCategory field. */
static const struct fcode powermta_categories[] = {
	{ "bad-domain", "hostunknown" }, { "bad-mailbox", "userunknown" },
	{ "message-expired", "expired" }, { "no-answer-from-host", "networkerror" },
	{ "policy-related", "policyviolation" }, { "quota-issues", "mailboxfull" },
	{ "routing-errors", "systemerror" }, { "spam-related", "spamdetected" },
};

/* ---- providers (the remote host's own vocabulary) ---------------------- */

struct provider { const char *name; const char *suffix; };
static const struct provider providers[] = {
	{ "aol", ".mail.aol.com" }, { "aol", ".mx.aol.com" },
	{ "apple", ".mail.icloud.com" }, { "apple", ".apple.com" }, { "apple", ".me.com" },
	{ "cox", "cox.net" }, { "facebook", ".facebook.com" },
	{ "franceptt", ".laposte.net" }, { "franceptt", ".orange.fr" },
	{ "franceptt", ".wanadoo.fr" },
	{ "godaddy", "smtp.secureserver.net" }, { "godaddy", "mailstore1.secureserver.net" },
	{ "google", "aspmx.l.google.com" }, { "google", "gmail-smtp-in.l.google.com" },
	{ "gsuite", "googlemail.com" }, { "iua", ".email.ua" },
	{ "kddi", ".ezweb.ne.jp" }, { "kddi", "msmx.au.com" },
	{ "messagelabs", ".messagelabs.com" },
	{ "microsoft", ".prod.outlook.com" }, { "microsoft", ".protection.outlook.com" },
	{ "microsoft", ".onmicrosoft.com" }, { "microsoft", ".exchangelabs.com" },
	{ "mimecast", ".mimecast.com" }, { "nttdocomo", "mfsmax.docomo.ne.jp" },
	{ "outlook", ".hotmail.com" }, { "spectrum", "charter.net" },
	{ "tencent", ".qq.com" }, { "yahoo", ".yahoodns.net" },
};

/* A provider's phrase; status, when set, must be the status exactly. */
struct pword { const char *provider; const char *pat; const char *reason;
	       const char *status; };
static const struct pword provider_words[] = {
	{ "aol", "host or domain name not found", "hostunknown", NULL },
	{ "aol", "type=mx: malformed or unexpected name server reply", "notaccept", NULL },

	{ "apple", "s dmarc policy", "authfailure", NULL },
	{ "apple", "blocked for failing both spf and dkim autentication checks",
	  "authfailure", NULL },
	{ "apple", "rejected due to having a domain present in the spamhaus", "blocked", NULL },
	{ "apple", "rejected due to listing in spamhaus", "blocked", NULL },
	{ "apple", "blocked - see https://support.proofpoint.com/dnsbl-lookup", "blocked", NULL },
	{ "apple", "not accepting connections", "blocked", NULL },
	{ "apple", "recipient no longer on server", "hasmoved", NULL },
	{ "apple", "user is over quota", "mailboxfull", NULL },
	{ "apple", "relay access denied", "norelaying", NULL },
	{ "apple", "host/domain does not accept mail", "notaccept", NULL },
	{ "apple", "due to local policy", "policyviolation", NULL },
	{ "apple", "sender address rejected", "rejected", NULL },
	{ "apple", "due to excessive volume", "speeding", NULL },
	{ "apple", "inactive email address", "userunknown", NULL },
	{ "apple", "user does not exist", "userunknown", NULL },
	{ "apple", "unknown or illegal alias", "userunknown", NULL },

	{ "cox", "cox too many bad commands from", "blocked", NULL },
	{ "cox", "too many invalid recipients", "blocked", NULL },
	{ "cox", "dns check failure - try again later", "requireptr", NULL },
	{ "cox", "rejected - no rdns", "requireptr", NULL },
	{ "cox", "esmtp no data before greeting", "policyviolation", NULL },
	{ "cox", "attachment extension is forbidden", "policyviolation", NULL },
	{ "cox", "sender rejected", "rejected", NULL },
	{ "cox", "esmtp server temporarily not available", "systemerror", NULL },
	{ "cox", "too many sessions from", "toomanyconn", NULL },
	{ "cox", "requested action aborted: try again later", "toomanyconn", NULL },
	{ "cox", "message threshold exceeded", "toomanyconn", NULL },
	{ "cox", "recipient rejected", "userunknown", NULL },

	{ "franceptt", "spf/dns de votre nom de domaine", "authfailure", NULL },

	{ "godaddy", "rbl reject", "blocked", NULL },
	{ "godaddy", "www.spamhaus.org/query/bl?ip=", "blocked", NULL },
	{ "godaddy", "has been in the queue too long", "expired", NULL },
	{ "godaddy", "delivery timeout", "expired", NULL },
	{ "godaddy", "account storage limit", "mailboxfull", NULL },
	{ "godaddy", "message rejected for spam or virus content", "spamdetected", NULL },
	{ "godaddy", "account disabled", "suspend", NULL },
	{ "godaddy", "message is looping", "systemerror", NULL },
	{ "godaddy", "recipient not found", "userunknown", NULL },
	{ "godaddy", "account does not exist", "userunknown", NULL },

	{ "google", "the spf record of the sending domain", "authfailure", NULL },
	{ "google", "senders to authenticate with either spf or dkim", "authfailure", NULL },
	{ "google", "fails to pass spf checks for an spf record with a hard fail",
	  "authfailure", NULL },
	{ "google", "has an spf record with a hard fail policy", "authfailure", NULL },
	{ "google", "is not accepted due to domain's dmarc policy", "authfailure", NULL },
	{ "google", "fails to pass authentication checks", "authfailure", NULL },
	{ "google", "senders to authenticate with spf", "authfailure", NULL },
	{ "google", "senders to authenticate their email with", "authfailure", NULL },
	{ "google", "senders to authenticate with dkim", "authfailure", NULL },
	{ "google", "aligned with either the authenticated spf or dkim", "authfailure", NULL },
	{ "google", "very low reputation of the sending", "badreputation", NULL },
	{ "google", "ip not in whitelist for rcpt domain", "blocked", NULL },
	{ "google", "try again later, closing connection.", "blocked", NULL },
	{ "google", "empty helo/ehlo argument not allowed", "blocked", NULL },
	{ "google", "helo/ehlo argument is invalid", "blocked", NULL },
	{ "google", "an unusual rate of unsolicited mail", "blocked", NULL },
	{ "google", "an unusual rate of mail", "blocked", NULL },
	{ "google", "exceeded google's message size limits", "exceedlimit", "5.2.3" },
	{ "google", "exceeds google's limit of limit attachments.", "exceedlimit", NULL },
	{ "google", "your message exceeded google's message header size limits",
	  "exceedlimit", NULL },
	{ "google", "bytes per individual header size", "exceedlimit", NULL },
	{ "google", "exceeds google's header name limit of", "exceedlimit", NULL },
	{ "google", "exceeds google's message header size limit", "exceedlimit", NULL },
	{ "google", "exceeded google's message size limits", "mesgtoobig", NULL },
	{ "google", "exceeds google's message size limit of", "mesgtoobig", NULL },
	{ "google", "connection expired", "expired", NULL },
	{ "google", "timeout - closing connection", "expired", NULL },
	{ "google", "inbox is out of storage space", "mailboxfull", NULL },
	{ "google", "is over quota", "mailboxfull", NULL },
	{ "google", "email quota exceeded", "mailboxfull", NULL },
	{ "google", "message exceeded 50 hops", "networkerror", NULL },
	{ "google", "mail relay denied", "norelaying", NULL },
	{ "google", "invalid credentials for relay", "norelaying", NULL },
	{ "google", "is not authorized to send email directly to our servers",
	  "norelaying", NULL },
	{ "google", "missing a valid address in the from: header", "notcompliantrfc", NULL },
	{ "google", "multiple addresses in from: header are not accepted",
	  "notcompliantrfc", NULL },
	{ "google", "is not rfc 5322 compliant", "notcompliantrfc", NULL },
	{ "google", "missing a valid message-id: header", "notcompliantrfc", NULL },
	{ "google", "contains a unicode character in a disallowed header",
	  "notcompliantrfc", NULL },
	{ "google", "encoded-word syntax is not permitted", "notcompliantrfc", NULL },
	{ "google", "mail message is malformed", "notcompliantrfc", NULL },
	{ "google", "illegal attachment on your message", "policyviolation", NULL },
	{ "google", "blocked because its content presents a potential security issue",
	  "policyviolation", NULL },
	{ "google", "you are sending to (or from) has a policy that prohibited",
	  "policyviolation", NULL },
	{ "google", "sending messages with the same message-id:", "policyviolation", NULL },
	{ "google", "mail sending denied", "rejected", NULL },
	{ "google", "unauthenticated email is not accepted", "rejected", NULL },
	{ "google", "does not have a ptr record", "requireptr", NULL },
	{ "google", " have a ptr record, or the ptr record", "requireptr", NULL },
	{ "google", "does not meet ipv6 sending guidelines regarding ptr records",
	  "requireptr", NULL },
	{ "google", "does not match the ip address of the hostname", "requireptr", NULL },
	{ "google", "too many login attempts", "securityerror", NULL },
	{ "google", "cannot decode response", "securityerror", NULL },
	{ "google", "no identity changes permitted", "securityerror", NULL },
	{ "google", "authentication required.", "securityerror", NULL },
	{ "google", "application-specific password required", "securityerror", NULL },
	{ "google", "log in with your web browser", "securityerror", NULL },
	{ "google", "log in through your web browser", "securityerror", NULL },
	{ "google", "username and password not accepted", "securityerror", NULL },
	{ "google", "due to the nature of the content or the links within",
	  "spamdetected", NULL },
	{ "google", "likely unsolicited mail", "spamdetected", NULL },
	{ "google", "is receiving mail too quickly", "speeding", NULL },
	{ "google", "peak smtp relay limit exceeded for customer", "speeding", NULL },
	{ "google", "rate that prevents additional messages from being delivered",
	  "speeding", NULL },
	{ "google", "daily sending quota exceeded", "speeding", NULL },
	{ "google", "daily user sending limit exceeded", "speeding", NULL },
	{ "google", "daily smtp relay limit exceeded for", "speeding", NULL },
	{ "google", "daily smtp relay sending limit exceeded for", "speeding", NULL },
	{ "google", "this mail has been rate limited", "speeding", NULL },
	{ "google", "account that you tried to reach is disabled", "suspend", NULL },
	{ "google", "account that you tried to reach is inactive", "suspend", NULL },
	{ "google", "smtp protocol violation", "syntaxerror", NULL },
	{ "google", "optional argument not permitted", "syntaxerror", NULL },
	{ "google", "too many unrecognized commands, goodbye", "syntaxerror", NULL },
	{ "google", "unimplemented command", "syntaxerror", NULL },
	{ "google", "unrecognized command", "syntaxerror", NULL },
	{ "google", "bad sequence of commands", "syntaxerror", NULL },
	{ "google", "ehlo/helo first", "syntaxerror", NULL },
	{ "google", "unrecognized authentication type", "syntaxerror", NULL },
	{ "google", "xoauth is no longer supported", "syntaxerror", NULL },
	{ "google", "too many unauthenticated commands", "syntaxerror", NULL },
	{ "google", "temporary system problem", "systemerror", NULL },
	{ "google", "server busy", "systemerror", NULL },
	{ "google", "multiple destination domains per transaction is unsupported",
	  "systemerror", NULL },
	{ "google", "mail server has temporarily rejected this message", "systemerror", NULL },
	{ "google", "mail server temporarily rejected message", "systemerror", NULL },
	{ "google", "domain policy size per transaction exceeded", "systemerror", NULL },
	{ "google", "your message has too many recipients", "toomanyconn", NULL },
	{ "google", "too many recipients for this sender", "toomanyconn", NULL },
	{ "google", "the email account that you tried to reach does not exist",
	  "userunknown", NULL },
	{ "google", "we weren't able to find the recipient domain", "userunknown", NULL },
	{ "google", "is not a valid rfc 5321 address", "userunknown", "5.1.3" },
	{ "google", "is not a valid rfc 5321 address", "notcompliantrfc", NULL },

	{ "gsuite", "null mx", "notaccept", NULL },
	{ "google", "null mx", "notaccept", NULL },
	{ "gsuite", "because the address couldn't be found. check for typos",
	  "userunknown", NULL },

	{ "kddi", "550 : user unknown", "filtered", NULL },
	{ "kddi", ">: user unknown", "userunknown", NULL },

	{ "messagelabs", "please turn on smtp authentication in your mail client",
	  "securityerror", NULL },
	{ "messagelabs", "542 ", "userunknown", NULL },
	{ "messagelabs", " rejected", "userunknown", NULL },
	{ "messagelabs", "no such user", "userunknown", NULL },

	{ "microsoft", "must pass either spf or dkim validation, this message is not signed",
	  "authfailure", NULL },
	{ "microsoft", "the message was rejected because of sender policy framework violation",
	  "authfailure", NULL },
	{ "microsoft", "does not pass dmarc verification", "authfailure", NULL },
	{ "microsoft", "has been temporarily rate limited due to ip reputation",
	  "badreputation", NULL },
	{ "microsoft", "connection dropped", "blocked", NULL },
	{ "microsoft", "access denied, please try again later", "blocked", NULL },
	{ "microsoft", "must have a reverse dns record", "blocked", NULL },
	{ "microsoft", "access denied, bad helo", "blocked", NULL },
	{ "microsoft", "access denied, rejected by recipient", "blocked", NULL },
	{ "microsoft", "does not accept email over ipv6", "blocked", NULL },
	{ "microsoft", "access denied, banned sender", "blocked", "5.7.511" },
	{ "microsoft", "using customer block list", "blocked", NULL },
	{ "microsoft", "access denied, banned sending ip ", "blocked", NULL },
	{ "microsoft", "invalid domain name", "blocked", "5.5.4" },
	{ "microsoft", "part of their network is on our block list (s3150)", "blocked", NULL },
	{ "microsoft", "too many related errors", "contenterror", NULL },
	{ "microsoft", "invalid characters", "contenterror", NULL },
	{ "microsoft", "agent generated message depth exceeded", "contenterror", NULL },
	{ "microsoft", "invalid message content", "contenterror", NULL },
	{ "microsoft", "resolver.rst.recipsizelimit; message too large for this recipient",
	  "exceedlimit", NULL },
	{ "microsoft", "connection timed out", "expired", NULL },
	{ "microsoft", "message delayed", "expired", NULL },
	{ "microsoft", "message expired", "expired", NULL },
	{ "microsoft", "mailbox full", "mailboxfull", NULL },
	{ "microsoft", "message size exceeds fixed maximum message size", "mesgtoobig", NULL },
	{ "microsoft", "message too big for system", "mesgtoobig", NULL },
	{ "microsoft", "smtpsend.dns.nonexistentdomain; nonexistent domain",
	  "networkerror", NULL },
	{ "microsoft", "hop count exceeded - possible mail loop", "networkerror", NULL },
	{ "microsoft", "dns query failed", "networkerror", NULL },
	{ "microsoft", "connection refused", "networkerror", NULL },
	{ "microsoft", "invalid arguments", "networkerror", "5.4.4" },
	{ "microsoft", "routing loop detected", "networkerror", NULL },
	{ "microsoft", "unable to relay", "norelaying", NULL },
	{ "microsoft", "relay access denied", "norelaying", NULL },
	{ "microsoft", "does not exist", "norelaying", "5.4.310" },
	{ "microsoft", "system not accepting network messages", "notaccept", NULL },
	{ "microsoft", "hosted tenant which has no mail-enabled subscriptions",
	  "notaccept", NULL },
	{ "microsoft", "storedrv.deliver: missing or bad storedriver mdb properties",
	  "notaccept", NULL },
	{ "microsoft", "x-dg-ref header is too long", "policyviolation", NULL },
	{ "microsoft", "policy violation detected (as345)", "policyviolation", NULL },
	{ "microsoft", "invalid address", "rejected", "5.1.7" },
	{ "microsoft", "unknown sender address", "rejected", NULL },
	{ "microsoft", "sender denied", "rejected", NULL },
	{ "microsoft", "access denied, bad outbound sender", "rejected", NULL },
	{ "microsoft", "delivery not authorized", "rejected", "5.7.1" },
	{ "microsoft", "sender was not authenticated", "rejected", NULL },
	{ "microsoft", "sender not in allowed-senders list", "rejected", NULL },
	{ "microsoft", "sender not authenticated for group", "rejected", NULL },
	{ "microsoft", "access denied, spam abuse detected", "rejected", NULL },
	{ "microsoft", "access denied, message must be rfc 5322 section 3.6.2 compliant",
	  "rejected", NULL },
	{ "microsoft", "client blocked from sending from unregistered domains",
	  "rejected", NULL },
	{ "microsoft", "delivery not authorized, message refused", "policyviolation", NULL },
	{ "microsoft", "cannot achieve exchange server authentication", "securityerror", NULL },
	{ "microsoft", "not authorized", "securityerror", "5.7.3" },
	{ "microsoft", "client was not authenticated", "norelaying", "5.7.1" },
	{ "microsoft", "client was not authenticated", "securityerror", NULL },
	{ "microsoft", "content filter agent quarantined this message", "spamdetected", NULL },
	{ "microsoft", "storedrv.deliver; recipient thread limit exceeded", "speeding", NULL },
	{ "microsoft", "you've reached your daily limit for message recipients",
	  "speeding", NULL },
	{ "microsoft", "submission quota exceeded", "speeding", NULL },
	{ "microsoft", "message receive limit from specific sender exceeded",
	  "speeding", NULL },
	{ "microsoft", "recipient's per hour message receive limit exceeded",
	  "speeding", NULL },
	{ "microsoft", "has exceeded permitted limits within", "speeding", NULL },
	{ "microsoft", "access denied, tenant has exceeded threshold", "speeding", NULL },
	{ "microsoft", "access denied, traffic not accepted from this ip", "speeding", NULL },
	{ "microsoft", "recipient address rejected: access denied", "suspend", "5.7.504" },
	{ "microsoft", "access denied, banned recipient", "suspend", NULL },
	{ "microsoft", "mailbox cannot be accessed", "suspend", NULL },
	{ "microsoft", "unrecognized command", "syntaxerror", NULL },
	{ "microsoft", "send hello first", "syntaxerror", NULL },
	{ "microsoft", "service not available", "systemerror", "4.3.2" },
	{ "microsoft", "service not active", "systemerror", NULL },
	{ "microsoft", "system incorrectly configured", "systemerror", NULL },
	{ "microsoft", "helo / ehlo requires domain address", "systemerror", NULL },
	{ "microsoft", "destination mailbox address ambiguous", "systemerror", NULL },
	{ "microsoft", "mailing list expansion problem", "systemerror", NULL },
	{ "microsoft", "misconfigured forwarding address", "systemerror", NULL },
	{ "microsoft", "temporary server error. please try again later", "systemerror", NULL },
	{ "microsoft", "message failed to be replicated", "systemerror", NULL },
	{ "microsoft", "(suspiciousremoteservererror)", "systemerror", NULL },
	{ "microsoft", "server busy. please try again later from ", "systemerror", NULL },
	{ "microsoft", "pfa agent busy, please try again.", "systemerror", NULL },
	{ "microsoft", "insufficient system resources", "systemfull", NULL },
	{ "microsoft", "too many recipients", "toomanyconn", NULL },
	{ "microsoft", "has exceeded the maximum number of connections", "toomanyconn", NULL },
	{ "microsoft", "the recipient has exceeded their limit for", "toomanyconn", NULL },
	{ "microsoft", "resolver.adr.exrecipnotfound; not found", "userunknown", NULL },
	{ "microsoft", "user unknown", "userunknown", NULL },
	{ "microsoft", "storedrv.submit; invalid recipient address", "userunknown", NULL },
	{ "microsoft", "recipient address reserved by rfc 2606", "userunknown", NULL },
	{ "microsoft", "recipient addresses in single label domains not accepted",
	  "userunknown", NULL },
	{ "microsoft", "bad destination mailbox address", "userunknown", NULL },
	{ "microsoft", "recipient not found", "userunknown", NULL },
	{ "microsoft", "recipient address rejected: access denied", "userunknown", "5.4.1" },
	{ "microsoft", "requested action not taken: mailbox unavailable", "userunknown",
	  "5.5.0" },
	{ "microsoft", "invalid x.400 address", "userunknown", NULL },
	{ "microsoft", "remote server returned unknown recipient or mailbox unavailable",
	  "userunknown", NULL },

	{ "mimecast", "spf sender invalid - envelope rejected", "authfailure", NULL },
	{ "mimecast", "dkim sender invalid - envelope rejected", "authfailure", NULL },
	{ "mimecast", "dmarc sender invalid - envelope rejected", "authfailure", NULL },
	{ "mimecast", "internal resources are temporarily unavailable", "badreputation", NULL },
	{ "mimecast", "local ct ip reputation - (reject)", "badreputation", NULL },
	{ "mimecast", "sender address blocked", "blocked", NULL },
	{ "mimecast", "recipient temporarily unavailable", "blocked", NULL },
	{ "mimecast", "ip temporarily blacklisted", "blocked", NULL },
	{ "mimecast", "maximum email size exceeded", "mesgtoobig", NULL },
	{ "mimecast", "the incorrect hostname used for inbounds", "networkerror", NULL },
	{ "mimecast", "mail loop detected", "networkerror", NULL },
	{ "mimecast", "open relay not allowed", "norelaying", NULL },
	{ "mimecast", "open relay is not allowed", "norelaying", NULL },
	{ "mimecast", "account inbounds disabled", "notaccept", NULL },
	{ "mimecast", "anti-spoofing policy - inbound not allowed", "policyviolation", NULL },
	{ "mimecast", "rejected by header-based anti-spoofing policy", "policyviolation", NULL },
	{ "mimecast", "message bounced due to content examination policy",
	  "policyviolation", NULL },
	{ "mimecast", "host network not allowed", "policyviolation", NULL },
	{ "mimecast", "host network, not allowed", "policyviolation", NULL },
	{ "mimecast", "administrative prohibition envelope blocked", "rejected", NULL },
	{ "mimecast", "envelope blocked - user entry", "rejected", NULL },
	{ "mimecast", "envelope blocked - user domain entry", "rejected", NULL },
	{ "mimecast", "rejected by header-based manually blocked senders", "rejected", NULL },
	{ "mimecast", "rejected by header-based blocked senders", "rejected", NULL },
	{ "mimecast", "envelope rejected - block policy for envelope from address",
	  "rejected", NULL },
	{ "mimecast", "incorrect authentication data", "securityerror", NULL },
	{ "mimecast", "submitter failed to", "securityerror", NULL },
	{ "mimecast", "unable to process connection at this time", "systemerror", NULL },
	{ "mimecast", "message ended early", "systemerror", NULL },
	{ "mimecast", "unable to process command", "systemerror", NULL },
	{ "mimecast", "unable to process an email at this time", "systemerror", NULL },
	{ "mimecast", "account service is temporarily unavailable", "toomanyconn", NULL },
	{ "mimecast", "too many recipients", "toomanyconn", NULL },
	{ "mimecast", "exceeding outbound thread limit", "toomanyconn", NULL },
	{ "mimecast", "invalid address", "userunknown", NULL },
	{ "mimecast", "user unknown", "userunknown", NULL },
	{ "mimecast", "invalid recipient", "userunknown", NULL },
	{ "mimecast", "email rejected due to security policies", "virusdetected", NULL },

	{ "nttdocomo", "552 too much mail data", "mailboxfull", NULL },
	{ "nttdocomo", "552 too many recipients", "toomanyconn", NULL },
	{ "nttdocomo", "503 bad sequence of commands", "syntaxerror", NULL },
	{ "nttdocomo", "504 command parameter not implemented", "syntaxerror", NULL },

	{ "outlook", "the mail could not be delivered to the recipient because the domain "
	  "is not reachable", "hostunknown", NULL },
	{ "outlook", "requested action not taken: mailbox unavailable", "userunknown", NULL },

	{ "tencent", "spf check failed", "authfailure", NULL },
	{ "tencent", "dmarc check failed", "authfailure", NULL },
	{ "tencent", "suspected bounce attacks", "blocked", NULL },
	{ "tencent", "suspected spam ip", "blocked", NULL },
	{ "tencent", "connection denied", "blocked", NULL },
	{ "tencent", "message too large", "mesgtoobig", NULL },
	{ "tencent", "suspected spam", "rejected", NULL },
	{ "tencent", "mail is rejected by recipients", "rejected", NULL },
	{ "tencent", "spam is embedded in the email", "spamdetected", NULL },
	{ "tencent", "mail content denied", "spamdetected", NULL },
	{ "tencent", "mailbox unavailable or access denined", "speeding", NULL },
	{ "tencent", "is a deactivated mailbox", "suspend", NULL },
	{ "tencent", "bad address syntax", "syntaxerror", NULL },
	{ "tencent", "frequency limited", "toomanyconn", NULL },
	{ "tencent", "mailbox not found", "userunknown", NULL },

	{ "yahoo", "yahoo requires all senders to authenticate with either spf or dkim",
	  "authfailure", NULL },
	{ "yahoo", " because the ip is in spamhaus's list;", "blocked", NULL },
	{ "yahoo", "not accepted from ip addresses on spamhaus xbl", "blocked", NULL },
	{ "yahoo", "relaying denied for ", "norelaying", NULL },
	{ "yahoo", "headers are not rfc compliant", "notcompliantrfc", NULL },
	{ "yahoo", "not accepted for policy reasons", "policyviolation", NULL },
	{ "yahoo", "temporarily deferred due to unexpected volume or user complaints",
	  "rejected", NULL },
	{ "yahoo", "due to unresolvable rfc.5321 domain", "rejected", NULL },
	{ "yahoo", " will be permanently deferred", "rejected", NULL },
	{ "yahoo", "user is receiving mail too quickly", "speeding", NULL },
	{ "yahoo", " is no longer valid.", "suspend", NULL },
	{ "yahoo", "this mailbox is disabled", "suspend", NULL },
	{ "yahoo", "syntax error in parameters or arguments", "syntaxerror", NULL },
	{ "yahoo", "max message per connection reached", "toomanyconn", NULL },
	{ "yahoo", "dd this user doesn't have a ", "userunknown", NULL },
	{ "yahoo", "mailbox not found", "userunknown", NULL },
};

/* Providers that number their refusals: the number after a label. */
struct pcode { const char *provider; const char *code; const char *reason; };
static const struct pcode provider_codes[] = {
	{ "cox", "cxbl", "blocked" }, { "cox", "cxdns", "requireptr" },
	{ "cox", "cxsndr", "authfailure" }, { "cox", "cxsmtp", "rejected" },
	{ "cox", "cxcnct", "toomanyconn" }, { "cox", "cxmxrt", "toomanyconn" },
	{ "cox", "cdrbl", "blocked" }, { "cox", "cxthrt", "securityerror" },
	{ "cox", "cxmj", "securityerror" }, { "cox", "ipbl", "blocked" },
	{ "cox", "urlbl", "spamdetected" },
	{ "godaddy", "ib401", "securityerror" }, { "godaddy", "ib501", "notcompliantrfc" },
	{ "godaddy", "ib502", "notcompliantrfc" }, { "godaddy", "ib506", "rejected" },
	{ "godaddy", "ib508", "authfailure" }, { "godaddy", "ib108", "requireptr" },
	{ "godaddy", "ib212", "spamdetected" }, { "godaddy", "ib705", "virusdetected" },
	{ "godaddy", "ib605", "toomanyconn" }, { "godaddy", "ib007", "toomanyconn" },
	{ "godaddy", "ib101", "speeding" }, { "godaddy", "ib110", "blocked" },
	{ "godaddy", "ib111", "blocked" }, { "godaddy", "ib112", "blocked" },
	{ "godaddy", "ib113", "blocked" }, { "godaddy", "ib504", "speeding" },
	{ "godaddy", "ib510", "speeding" }, { "godaddy", "ib607", "speeding" },
	{ "godaddy", "ib103", "badreputation" }, { "godaddy", "ib104", "blocked" },
	{ "godaddy", "ib105", "blocked" }, { "godaddy", "ib106", "blocked" },
};

/* Facebook: "RCP-P2", the label around the first '-'. */
static const struct fcode facebook_codes[] = {
	{ "pol-p7", "authfailure" }, { "pol-p1", "blocked" }, { "pol-p2", "blocked" },
	{ "pol-p3", "blocked" }, { "pol-p4", "blocked" }, { "pol-t1", "blocked" },
	{ "pol-t2", "blocked" }, { "pol-t3", "blocked" }, { "msg-p2", "contenterror" },
	{ "rcp-p2", "filtered" }, { "rcp-p3", "filtered" }, { "msg-p1", "mesgtoobig" },
	{ "int-p2", "mesgtoobig" }, { "msg-p3", "notcompliantrfc" }, { "dns-p1", "rejected" },
	{ "dns-p2", "rejected" }, { "dns-t1", "rejected" }, { "dns-p3", "requireptr" },
	{ "dns-t2", "requireptr" }, { "pol-p6", "spamdetected" }, { "rcp-t4", "suspend" },
	{ "rcp-t1", "systemerror" }, { "con-t1", "toomanyconn" }, { "con-t2", "toomanyconn" },
	{ "con-t3", "toomanyconn" }, { "con-t4", "toomanyconn" }, { "msg-t1", "toomanyconn" },
	{ "rcp-p1", "userunknown" }, { "int-p1", "userunknown" }, { "int-p3", "userunknown" },
	{ "int-p4", "userunknown" }, { "pol-p5", "virusdetected" },
};

/* Orange and La Poste: "LPN007_416", "OFR_999": the last three digits. */
static const struct fcode franceptt_codes[] = {
	{ "101", "blocked" }, { "102", "blocked" }, { "103", "blocked" },
	{ "104", "toomanyconn" }, { "305", "securityerror" }, { "401", "authfailure" },
	{ "402", "securityerror" }, { "403", "rejected" }, { "405", "rejected" },
	{ "415", "rejected" }, { "416", "userunknown" }, { "417", "mailboxfull" },
	{ "420", "suspend" }, { "421", "rejected" }, { "426", "suspend" },
	{ "505", "systemerror" }, { "506", "spamdetected" }, { "510", "blocked" },
	{ "514", "mesgtoobig" }, { "517", "authfailure" }, { "630", "policyviolation" },
	{ "999", "blocked" },
};

/* ---- status codes ----------------------------------------------------- */

/* What a specific status code means on its own (RFC 3463 and later
 * registrations, read as Sisimai reads them). */
struct smeaning { const char *status; const char *reason; };
static const struct smeaning status_meaning[] = {
	{ "2.1.5", "delivered" },
	{ "4.1.6", "hasmoved" }, { "4.1.7", "rejected" }, { "4.1.8", "rejected" },
	{ "4.1.9", "systemerror" }, { "4.2.1", "blocked" }, { "4.2.2", "mailboxfull" },
	{ "4.2.3", "exceedlimit" }, { "4.2.4", "filtered" }, { "4.3.1", "systemfull" },
	{ "4.3.2", "notaccept" }, { "4.3.3", "systemerror" }, { "4.3.5", "systemerror" },
	{ "4.4.1", "expired" }, { "4.4.2", "networkerror" }, { "4.4.3", "systemerror" },
	{ "4.4.4", "networkerror" }, { "4.4.5", "systemfull" }, { "4.4.6", "networkerror" },
	{ "4.4.7", "expired" }, { "4.4.8", "networkerror" }, { "4.5.3", "systemerror" },
	{ "4.5.5", "systemerror" }, { "4.6.0", "contenterror" }, { "4.6.2", "contenterror" },
	{ "4.6.5", "contenterror" }, { "4.7.1", "blocked" }, { "4.7.2", "blocked" },
	{ "4.7.5", "securityerror" }, { "4.7.6", "securityerror" },
	{ "4.7.7", "securityerror" }, { "4.7.12", "securityerror" },
	{ "4.7.15", "securityerror" }, { "4.7.16", "mesgtoobig" },
	{ "4.7.24", "authfailure" }, { "4.7.25", "requireptr" }, { "4.7.26", "authfailure" },
	{ "5.1.0", "userunknown" }, { "5.1.1", "userunknown" }, { "5.1.2", "hostunknown" },
	{ "5.1.3", "userunknown" }, { "5.1.4", "filtered" }, { "5.1.6", "hasmoved" },
	{ "5.1.7", "rejected" }, { "5.1.8", "rejected" }, { "5.1.9", "systemerror" },
	{ "5.1.10", "notaccept" }, { "5.2.0", "filtered" }, { "5.2.1", "filtered" },
	{ "5.2.2", "mailboxfull" }, { "5.2.3", "exceedlimit" }, { "5.2.4", "filtered" },
	{ "5.3.0", "systemerror" }, { "5.3.1", "systemfull" }, { "5.3.2", "notaccept" },
	{ "5.3.3", "systemerror" }, { "5.3.4", "mesgtoobig" }, { "5.3.5", "systemerror" },
	{ "5.4.0", "networkerror" }, { "5.4.3", "systemerror" }, { "5.4.4", "hostunknown" },
	{ "5.5.2", "syntaxerror" }, { "5.5.3", "toomanyconn" }, { "5.5.4", "systemerror" },
	{ "5.5.5", "systemerror" }, { "5.5.6", "syntaxerror" }, { "5.6.0", "contenterror" },
	{ "5.6.1", "contenterror" }, { "5.6.2", "contenterror" }, { "5.6.3", "contenterror" },
	{ "5.6.5", "contenterror" }, { "5.6.6", "contenterror" }, { "5.6.7", "contenterror" },
	{ "5.6.8", "contenterror" }, { "5.6.9", "contenterror" },
	{ "5.7.0", "securityerror" }, { "5.7.1", "securityerror" },
	{ "5.7.2", "securityerror" }, { "5.7.3", "securityerror" },
	{ "5.7.4", "securityerror" }, { "5.7.5", "securityerror" },
	{ "5.7.6", "securityerror" }, { "5.7.7", "securityerror" },
	{ "5.7.8", "securityerror" }, { "5.7.9", "securityerror" },
	{ "5.7.10", "securityerror" }, { "5.7.11", "securityerror" },
	{ "5.7.13", "suspend" }, { "5.7.14", "securityerror" }, { "5.7.15", "securityerror" },
	{ "5.7.16", "mesgtoobig" }, { "5.7.17", "hasmoved" }, { "5.7.18", "hasmoved" },
	{ "5.7.19", "securityerror" }, { "5.7.20", "authfailure" },
	{ "5.7.21", "authfailure" }, { "5.7.22", "authfailure" },
	{ "5.7.23", "authfailure" }, { "5.7.24", "authfailure" },
	{ "5.7.25", "requireptr" }, { "5.7.26", "authfailure" }, { "5.7.27", "notaccept" },
	{ "5.7.28", "spamdetected" }, { "5.7.29", "authfailure" },
};

/* Sisimai's internal code for each reason: "5.0.9xx", or "4.0.9xx" when
 * the failure reads temporary (no temporary form for the address ones). */
struct scode { const char *reason; const char *detail; };
static const struct scode reason_code[] = {
	{ "authfailure", "926" }, { "badreputation", "975" }, { "blocked", "971" },
	{ "contenterror", "960" }, { "exceedlimit", "923" }, { "expired", "947" },
	{ "filtered", "910" }, { "hasmoved", "916" }, { "hostunknown", "912" },
	{ "mailboxfull", "922" }, { "mailererror", "939" }, { "mesgtoobig", "934" },
	{ "networkerror", "944" }, { "norelaying", "909" }, { "notaccept", "932" },
	{ "notcompliantrfc", "974" }, { "onhold", "901" }, { "policyviolation", "972" },
	{ "rejected", "918" }, { "requireptr", "973" }, { "securityerror", "970" },
	{ "spamdetected", "980" }, { "speeding", "946" }, { "suspend", "921" },
	{ "systemerror", "930" }, { "systemfull", "931" }, { "syntaxerror", "902" },
	{ "toomanyconn", "945" }, { "userunknown", "911" }, { "undefined", "900" },
	{ "virusdetected", "981" },
};

/* The most of a diagnostic that is read. */
#define TD_CLASSIFY_MAX_TEXT 8192

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- matching --------------------------------------------------------- */

/* What is known about one recipient's failure. */
struct facts {
	const char *low;       /* diagnostic, lowercased, squeezed */
	const char *status;    /* chosen status, "" when none */
	const char *name;      /* what the status alone means, or NULL */
	const char *reply;     /* "" when none */
	const char *cmd;       /* SMTP command, or NULL */
	const char *hint;      /* the MTA's own word, or NULL */
	const char *lda;       /* the local delivery agent's verdict, or NULL */
};

static bool is(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

/* pat in s, lowercase both; '*' in pat: any text between the parts. */
static bool has(const char *s, const char *pat)
{
	const char *p = pat;
	for (;;) {
		const char *star = strchr(p, '*');
		size_t n = star ? (size_t)(star - p) : strlen(p);
		if (n) {
			const char *hit = s;
			/* find p[0..n) in s */
			for (;;) {
				hit = strchr(hit, p[0]);
				if (!hit)
					return false;
				if (strncmp(hit, p, n) == 0)
					break;
				hit++;
			}
			s = hit + n;
		}
		if (!star)
			return true;
		p = star + 1;
	}
}

static bool has_any(const char *s, const char *const *v)
{
	for (; v && *v; v++)
		if (has(s, *v))
			return true;
	return false;
}

static const char *const *phrases_of(const char *reason)
{
	for (size_t i = 0; i < NELEM(phrases); i++)
		if (strcmp(phrases[i].reason, reason) == 0)
			return phrases[i].v;
	return NULL;
}

static bool says(const char *low, const char *reason)
{
	if (strcmp(reason, "rejected") == 0 && has_any(low, p_rejected_not))
		return false;
	return has_any(low, phrases_of(reason));
}

/* ---- status and reply codes in text ----------------------------------- */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Parses "C.S.D" at s (C in 2/4/5, S 0-7, D up to 3 digits); returns its
 * length or 0. */
static size_t status_at(const char *s)
{
	if (!(s[0] == '2' || s[0] == '4' || s[0] == '5') || s[1] != '.')
		return 0;
	if (!(s[2] >= '0' && s[2] <= '7') || s[3] != '.' || !is_digit(s[4]))
		return 0;
	size_t n = 5;
	while (n < 8 && is_digit(s[n]))
		n++;
	if (is_digit(s[n]))
		return 0;
	/* a fourth number: an IPv4 address, not a status */
	if (s[n] == '.' && is_digit(s[n + 1]))
		return 0;
	return n;
}

static bool status_valid(const char *s)
{
	return s && s[0] && status_at(s) == strlen(s);
}

/* "x.0.0": only the class is known. */
static bool zero_zero(const char *s)
{
	return s[0] && strncmp(s + 1, ".0.0", 4) == 0 && !s[5];
}

static void prefer(char *out, size_t outsz, const char *field, const char *inmesg,
		   const char *reply);

/* The status code the text gives, choosing between several as the report
 * field is chosen against the text (prefer()); class, when not 0, keeps
 * only codes of that class. */
static void status_in_text(const char *text, char cls, char *out, size_t outsz)
{
	char best[16] = "", vague[16] = "";
	out[0] = '\0';
	for (const char *p = text; *p; p++) {
		if (cls && *p != cls)
			continue;
		size_t n = status_at(p);
		if (!n)
			continue;
		if (p > text) {
			char b = p[-1];
			/* part of a number, a path or a version ("v5.1.1") */
			if (b == '.' || b == '/' || is_digit(b) || b == 'v' || b == 'V')
				continue;
		}
		char code[16];
		snprintf(code, sizeof(code), "%.*s", (int)n, p);
		p += n - 1;
		if (zero_zero(code) || strcmp(code, "4.4.7") == 0) {
			/* vaguer codes only when nothing better is written */
			snprintf(vague, sizeof(vague), "%s", code);
			continue;
		}
		if (!best[0]) {
			snprintf(best, sizeof(best), "%s", code);
		} else {
			char tmp[16];
			prefer(tmp, sizeof(tmp), best, code, "");
			snprintf(best, sizeof(best), "%s", tmp);
		}
	}
	if (vague[0]) {
		if (!best[0]) {
			snprintf(best, sizeof(best), "%s", vague);
		} else {
			char tmp[16];
			prefer(tmp, sizeof(tmp), best, vague, "");
			snprintf(best, sizeof(best), "%s", tmp);
		}
	}
	snprintf(out, outsz, "%s", best);
}

/* The SMTP reply code in text: the first of the known codes (in the
 * order below, permanent ones first) that stands alone as a number. cls,
 * when not 0, keeps only that class. */
static void reply_in_text(const char *text, char cls, char *out)
{
	static const char *const codes[] = {
		"550", "552", "553", "551", "521", "525", "502", "520", "523", "524",
		"530", "533", "534", "535", "538", "555", "556", "554", "557", "500",
		"501", "503", "504",
		"421", "450", "451", "452", "422", "430", "432", "453", "454", "455",
		"456", "458", "459",
		"211", "214", "220", "221", "235", "250", "251", "252", "253", "354",
	};
	out[0] = '\0';
	for (size_t i = 0; i < NELEM(codes); i++) {
		if (cls && codes[i][0] != cls)
			continue;
		for (const char *p = strstr(text, codes[i]); p; p = strstr(p + 1, codes[i])) {
			char b = p > text ? p[-1] : ' ';
			char a = p[3];
			/* '.', '/' and digits around it: part of something else */
			if ((b >= '.' && b <= '9') || (a >= '.' && a <= '9'))
				continue;
			memcpy(out, codes[i], 4);
			return;
		}
	}
}

/* Chooses between the report's Status field and a code in the diagnostic
 * text: the one whose class agrees with the reply code, the specific one
 * over "x.0.0", the text's over codes that are known to be vague or
 * misused ("4.4.7", "4.7.0", "5.3.x", "x.5.[1245]"). */
static void prefer(char *out, size_t outsz, const char *field, const char *inmesg,
		   const char *reply)
{
	const char *pick = field;
	if (!field[0]) {
		pick = inmesg;
	} else if (!inmesg[0] || strlen(inmesg) < 5) {
		pick = field;
	} else if (strlen(field) < 5) {
		pick = inmesg;
	} else if (reply[0] && field[0] != inmesg[0] &&
		   (reply[0] == field[0] || reply[0] == inmesg[0])) {
		pick = reply[0] == field[0] ? field : inmesg;
	} else if (strcmp(field, inmesg) == 0) {
		pick = field;
	} else if (zero_zero(field)) {
		pick = zero_zero(inmesg) ? field : inmesg;
	} else if (strstr(field, ".0") && !strstr(inmesg, ".0")) {
		pick = inmesg;
	} else if (zero_zero(inmesg)) {
		pick = field;
	} else if (strcmp(field, "4.4.7") == 0 || strcmp(field, "4.7.0") == 0 ||
		   strncmp(field, "5.3.", 4) == 0 ||
		   (field[1] == '.' && field[2] == '5' && field[3] == '.' &&
		    strchr("1245", field[4]) && !field[5])) {
		pick = inmesg;
	} else if (strcmp(field, "5.1.1") == 0) {
		pick = (strstr(inmesg, ".0") || strncmp(inmesg, "5.5.", 4) == 0) ? field : inmesg;
	} else if (strcmp(field, "5.1.3") == 0 && strncmp(inmesg, "5.7.", 4) == 0) {
		pick = inmesg;
	}
	snprintf(out, outsz, "%s", pick);
}

static const char *status_name(const char *status)
{
	for (size_t i = 0; i < NELEM(status_meaning); i++)
		if (strcmp(status_meaning[i].status, status) == 0)
			return status_meaning[i].reason;
	return NULL;
}

/* ---- the message around the recipient ---------------------------------- */

/* The SMTP command the failure answered, when the text says it: "in reply
 * to RCPT TO command", "after MAIL FROM", ">>> DATA". The last one
 * named wins, as the failure follows it. */
static const char *command_in(const char *low)
{
	static const struct { const char *pat; const char *cmd; } cmds[] = {
		{ "helo", "HELO" }, { "ehlo", "EHLO" }, { "starttls", "STARTTLS" },
		{ "auth ", "AUTH" }, { "mail from", "MAIL" }, { "rcpt", "RCPT" },
		{ "data", "DATA" }, { "end of data", "DATA" },
		{ "greeting", "CONN" }, { "initial connection", "CONN" },
	};
	const char *best = NULL;
	const char *at = NULL;
	for (size_t i = 0; i < NELEM(cmds); i++) {
		size_t n = strlen(cmds[i].pat);
		for (const char *p = strstr(low, cmds[i].pat); p; p = strstr(p + 1, cmds[i].pat)) {
			/* a command stands as a word: "data" in "metadata" is not */
			bool wb = p == low || !isalnum((unsigned char)p[-1]);
			bool wa = !isalnum((unsigned char)p[n]) || cmds[i].pat[n - 1] == ' ';
			if (!wb || !wa)
				continue;
			/* words that name a command only in these places */
			if (strcmp(cmds[i].cmd, "DATA") == 0 && !strstr(low, "command") &&
			    !strstr(low, "after end of data") && !strstr(low, ">>> data") &&
			    !strstr(low, "after data") && !strstr(low, "failed on data"))
				continue;
			if (!at || p > at) {
				at = p;
				best = cmds[i].cmd;
			}
		}
	}
	/* qmail says which step refused in words of its own */
	if (strstr(low, "does not like recipient"))
		return "RCPT";
	if (strstr(low, "but sender was rejected"))
		return "MAIL";
	if (strstr(low, "but greeting failed"))
		return "CONN";
	if (strstr(low, "but my name was rejected"))
		return "EHLO";
	if (strstr(low, "failed after i sent the message") || strstr(low, "failed on data command"))
		return "DATA";
	return best;
}

/* The SMTP command in a text around the diagnostic, only where it is
 * named as the command answered: "(in reply to RCPT TO command)",
 * ">>> RCPT To:", "after RCPT TO:" (Exim), qmail's phrases. A Received
 * line's "HELO" is no command that failed. */
static const char *command_named(const char *low)
{
	static const char *const lead[] = { "in reply to ", ">>> ", "after " };
	static const char *const cmds[] = { "rcpt", "mail from", "data", "ehlo", "helo",
					    "starttls", "auth", "end of data" };
	static const char *const name[] = { "RCPT", "MAIL", "DATA", "EHLO", "HELO",
					     "STARTTLS", "AUTH", "DATA" };
	const char *best = NULL, *at = NULL;
	for (size_t l = 0; l < NELEM(lead); l++) {
		size_t ln = strlen(lead[l]);
		for (const char *p = strstr(low, lead[l]); p; p = strstr(p + 1, lead[l])) {
			for (size_t c = 0; c < NELEM(cmds); c++) {
				size_t cn = strlen(cmds[c]);
				if (strncmp(p + ln, cmds[c], cn) != 0 ||
				    isalnum((unsigned char)p[ln + cn]))
					continue;
				if (!at || p > at) {
					at = p;
					best = name[c];
				}
			}
		}
	}
	const char *q = command_in(low);
	/* qmail's own phrases, which command_in knows */
	if (!best && q && (strstr(low, "does not like recipient") ||
			   strstr(low, "but sender was rejected") ||
			   strstr(low, "but greeting failed") ||
			   strstr(low, "but my name was rejected") ||
			   strstr(low, "failed after i sent the message") ||
			   strstr(low, "failed on data command")))
		return q;
	return best;
}

/* The recipient's block of DSN fields in the report part: from its
 * Final-Recipient (or Original-Recipient) line to the blank line. */
static const char *report_block(const char *rp, const char *address, size_t *len)
{
	if (!rp || !address || !address[0])
		return NULL;
	for (const char *p = strcasestr(rp, address); p; p = strcasestr(p + 1, address)) {
		const char *ls = p;
		while (ls > rp && ls[-1] != '\n')
			ls--;
		if (strncasecmp(ls, "final-recipient:", 16) != 0 &&
		    strncasecmp(ls, "original-recipient:", 19) != 0)
			continue;
		const char *end = strstr(ls, "\n\n");
		*len = end ? (size_t)(end - ls) : strlen(ls);
		return ls;
	}
	return NULL;
}

/* Field `name` in s[0..n), its value after the type ("dns; "), trimmed,
 * lowercased into out; false when absent. */
static bool block_field(const char *s, size_t n, const char *name, char *out,
			size_t outsz, char *type, size_t typesz)
{
	size_t nl = strlen(name);
	const char *end = s + n;
	for (const char *p = s; p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			const char *semi = memchr(v, ';', (size_t)(eol - v));
			if (type && typesz) {
				size_t tn = semi ? (size_t)(semi - v) : 0;
				while (tn && (*v == ' ' || *v == '\t')) {
					v++;
					tn--;
				}
				if (tn >= typesz)
					tn = typesz - 1;
				for (size_t i = 0; i < tn; i++)
					type[i] = (char)tolower((unsigned char)v[i]);
				type[tn] = '\0';
			}
			if (semi)
				v = semi + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			size_t vn = (size_t)(eol - v);
			if (vn >= outsz)
				vn = outsz - 1;
			for (size_t i = 0; i < vn; i++)
				out[i] = (char)tolower((unsigned char)v[i]);
			out[vn] = '\0';
			return true;
		}
		p = eol + 1;
	}
	return false;
}

/* Which provider's vocabulary applies, from the recipient's domain, the
 * remote MTA, a host named in the diagnostic or the bounce's Received
 * headers; NULL for none. */
static const char *provider_of(const struct td_bmsg *m, const char *address,
			       const char *rhost, const char *low)
{
	const char *at = address ? strrchr(address, '@') : NULL;
	if (at && at[1]) {
		size_t dn = strlen(at + 1);
		for (size_t i = 0; i < NELEM(providers); i++) {
			size_t sn = strlen(providers[i].suffix);
			/* "google.com" is the domain of aspmx.l.google.com */
			if (sn >= dn && strcasecmp(providers[i].suffix + sn - dn, at + 1) == 0 &&
			    (sn == dn || providers[i].suffix[sn - dn - 1] == '.'))
				return providers[i].name;
		}
	}
	if (rhost && rhost[0]) {
		for (size_t i = 0; i < NELEM(providers); i++)
			if (strstr(rhost, providers[i].suffix))
				return providers[i].name;
	}
	for (size_t i = 0; i < NELEM(providers); i++)
		if (strstr(low, providers[i].suffix))
			return providers[i].name;
	for (size_t h = m ? m->nhdr : 0; h-- > 0;) {
		if (!m->hdr[h].name || strcasecmp(m->hdr[h].name, "received") != 0)
			continue;
		for (size_t i = 0; i < NELEM(providers); i++)
			if (providers[i].suffix[0] == '.' &&
			    strcasestr(m->hdr[h].value, providers[i].suffix))
				return providers[i].name;
	}
	return NULL;
}

static const char *provider_reason(const char *prov, const struct facts *f)
{
	const char *low = f->low, *status = f->status;
	if (strcmp(prov, "facebook") == 0) {
		const char *d = strchr(low, '-');
		for (size_t i = 0; d && d - low >= 3 && i < NELEM(facebook_codes); i++)
			if (strncmp(d - 3, facebook_codes[i].code, 6) == 0)
				return facebook_codes[i].reason;
	}
	if (strcmp(prov, "nttdocomo") == 0) {
		/* docomo's words say little; its status and command say more */
		if (is(status, "5.1.1") || is(status, "5.0.911"))
			return "userunknown";
		if (is(status, "5.2.0"))
			return "filtered";
	}
	if (strcmp(prov, "gsuite") == 0 || strcmp(prov, "google") == 0) {
		/* a failed DNS lookup: the domain is gone when permanent */
		if (strstr(low, "responded with code nxdomain") ||
		    strstr(low, "domain name not found") || strstr(low, " had no relevant answers."))
			return status[0] == '5' || f->reply[0] == '5' ? "hostunknown" : "networkerror";
	}
	if (strcmp(prov, "franceptt") == 0) {
		static const char *const labels[] = { "lpnaaa", "lpn", "ofr", "ouk" };
		for (size_t l = 0; l < NELEM(labels); l++) {
			const char *p = NULL;
			for (const char *q = strstr(low, labels[l]); q; q = strstr(q + 1, labels[l]))
				p = q;
			if (!p)
				continue;
			p += strlen(labels[l]);
			while (*p && !isspace((unsigned char)*p) && !is_digit(*p))
				p++;
			const char *e = p;
			while (*e && !isspace((unsigned char)*e))
				e++;
			/* "LPN007_416": the reason is in the last three digits */
			for (const char *d = p; d + 3 <= e; d++) {
				if (d + 3 != e && is_digit(d[3]))
					continue;
				for (size_t i = 0; i < NELEM(franceptt_codes); i++)
					if (strncmp(d, franceptt_codes[i].code, 3) == 0 && d + 3 == e)
						return franceptt_codes[i].reason;
			}
			break;
		}
	}
	if (strcmp(prov, "cox") == 0 || strcmp(prov, "godaddy") == 0) {
		const char *label = strcmp(prov, "cox") == 0 ? "aup#" : " ib";
		const char *p = strstr(low, label);
		if (p) {
			p += strlen(label);
			if (strcmp(prov, "godaddy") == 0)
				p -= 2;
			for (size_t i = 0; i < NELEM(provider_codes); i++)
				if (strcmp(provider_codes[i].provider, prov) == 0 &&
				    strncmp(p, provider_codes[i].code, strlen(provider_codes[i].code)) == 0)
					return provider_codes[i].reason;
		}
	}
	for (size_t i = 0; i < NELEM(provider_words); i++) {
		const struct pword *w = &provider_words[i];
		if (strcmp(w->provider, prov) != 0 || !strstr(low, w->pat))
			continue;
		if (w->status && strcmp(w->status, status) != 0)
			continue;
		return w->reason;
	}
	if (strcmp(prov, "nttdocomo") == 0 && is(status, "5.0.0")) {
		if (is(f->cmd, "RCPT"))
			return "userunknown";
		if (is(f->cmd, "DATA"))
			return "rejected";
	}
	return NULL;
}

/* ---- the decision ----------------------------------------------------- */

/* Reasons a weaker piece of evidence may still override. */
static bool tentative(const char *r)
{
	static const char *const v[] = { "undefined", "onhold", "systemerror", "securityerror",
					 "expired", "networkerror", "hostunknown", "userunknown" };
	if (!r)
		return true;
	for (size_t i = 0; i < NELEM(v); i++)
		if (strcmp(r, v[i]) == 0)
			return true;
	return false;
}

static bool cmd_in(const char *cmd, const char *const *set)
{
	for (; cmd && *set; set++)
		if (strcmp(cmd, *set) == 0)
			return true;
	return false;
}

/* Whether the evidence points at reason r, in the strongest pass. */
static bool points_at(const struct facts *f, const char *r)
{
	static const char *const before_data[] = { "CONN", "EHLO", "HELO", "MAIL", "RCPT", NULL };
	static const char *const greeting[] = { "CONN", "EHLO", "HELO", NULL };
	if (is(f->hint, r))
		return true;
	if (is(r, "mesgtoobig")) {
		if (is(f->name, "mesgtoobig"))
			return true;
		if (is(f->name, "exceedlimit") || is(f->status, "5.2.3"))
			return false;
		return says(f->low, r);
	}
	if (is(r, "suspend"))
		return is(f->reply, "525") || says(f->low, r);
	if (is(r, "hasmoved") || is(r, "notcompliantrfc") || is(r, "badreputation") ||
	    is(r, "speeding"))
		return says(f->low, r);
	if (is(r, "norelaying")) {
		if (is(f->hint, "securityerror") || is(f->hint, "systemerror") ||
		    cmd_in(f->cmd, greeting))
			return false;
		return says(f->low, r);
	}
	if (is(r, "userunknown")) {
		if (is(f->name, "suspend"))
			return false;
		if (is(f->name, "userunknown")) {
			static const char *const other[] = { "norelaying", "blocked", "mailboxfull",
							     "hasmoved", "rejected", "notaccept" };
			for (size_t i = 0; i < NELEM(other); i++)
				if (says(f->low, other[i]))
					return false;
			return true;
		}
		return is(f->cmd, "RCPT") && says(f->low, r);
	}
	if (is(r, "filtered")) {
		if (is(f->name, "suspend"))
			return false;
		if (!is(f->name, "filtered") && cmd_in(f->cmd, before_data))
			return false;
		return says(f->low, "filtered") || says(f->low, "userunknown");
	}
	if (is(r, "contenterror")) {
		if (points_at(f, "spamdetected"))
			return false;
		return is(f->name, r) || says(f->low, r);
	}
	if (is(r, "rejected")) {
		if (is(f->name, "rejected"))
			return true;
		if (is(f->cmd, "MAIL"))
			return says(f->low, r);
		if (is(f->cmd, "DATA"))
			return !is(f->name, "userunknown") && says(f->low, r);
		if (!f->name || is(f->name, "onhold") || is(f->name, "securityerror") ||
		    is(f->name, "systemerror"))
			return says(f->low, r);
		return false;
	}
	if (is(r, "hostunknown")) {
		if (is(f->name, "hostunknown"))
			return !says(f->low, "networkerror");
		return says(f->low, r);
	}
	if (is(r, "spamdetected")) {
		if (!f->status[0])
			return false;
		if (is(f->name, r))
			return true;
		if (cmd_in(f->cmd, before_data))
			return false;
		return says(f->low, r);
	}
	/* mailboxfull, exceedlimit, authfailure, requireptr, toomanyconn,
	 * blocked: their status code or their words */
	return is(f->name, r) || says(f->low, r);
}

static const char *decide(const struct facts *f, const char *prov, const char *action,
			  const char *dtype)
{
	static const char *const strong[] = {
		"mailboxfull", "mesgtoobig", "exceedlimit", "suspend", "hasmoved",
		"norelaying", "authfailure", "userunknown", "filtered", "requireptr",
		"notcompliantrfc", "badreputation", "contenterror", "rejected",
		"hostunknown", "spamdetected", "speeding", "toomanyconn", "blocked",
	};
	static const char *const weaker[] = {
		"mailboxfull", "authfailure", "badreputation", "speeding", "spamdetected",
		"virusdetected", "policyviolation", "norelaying", "systemerror",
		"networkerror", "suspend", "contenterror", "systemfull", "notaccept",
		"expired", "securityerror", "mailererror",
	};
	if (f->lda)
		return f->lda;
	if (f->hint && !tentative(f->hint))
		return f->hint;
	if (prov) {
		const char *r = provider_reason(prov, f);
		if (r)
			return r;
	}
	if (f->status[0] == '2')
		return "delivered";
	if (strcmp(dtype, "x-unix") != 0) {
		for (size_t i = 0; i < NELEM(strong); i++)
			if (points_at(f, strong[i]))
				return strong[i];
	}
	if (f->hint && !is(f->hint, "undefined") && !is(f->hint, "onhold"))
		return f->hint;
	for (size_t i = 0; i < NELEM(weaker); i++)
		if (says(f->low, weaker[i]))
			return weaker[i];
	if (f->name)
		return f->name;
	if (f->status[0] && !strncmp(f->status + 1, ".6", 2))
		return "contenterror";
	if (f->status[0] && !strncmp(f->status + 1, ".7", 2))
		return "securityerror";
	if (strcmp(dtype, "x-unix") == 0)
		return "mailererror";
	if (f->reply[0]) {
		int code = atoi(f->reply);
		if ((code > 400 && code < 408) || (code > 500 && code < 508))
			return "syntaxerror";
	}
	if (is(action, "delayed") || is(action, "expired"))
		return "expired";
	if (is(f->cmd, "EHLO") || is(f->cmd, "HELO"))
		return "blocked";
	if (says(f->low, "vacation"))
		return "vacation";
	return f->low[0] ? "onhold" : "undefined";
}

/* The diagnostic, lowercased, with an SMTP reply's continuation prefixes
 * ("550-5.7.1 ") taken out and runs of white space made one space, so
 * that a phrase broken over reply lines still reads as one. */
static char *normalize(const char *diag, const char *reply, const char *status)
{
	struct td_buf b = TD_BUF_INIT;
	char cont[24] = "";
	if (reply[0]) {
		snprintf(cont, sizeof(cont), "%s-", reply);
		if (!strstr(diag, cont))
			cont[0] = '\0';
	}
	bool space = true;
	/* the diagnostic type, when rfc.c left it ("smtp; 550 ...") */
	if (strncasecmp(diag, "smtp;", 5) == 0)
		diag += 5;
	for (const char *p = diag; *p;) {
		if (cont[0] && strncmp(p, reply, 3) == 0 && (p[3] == '-' || p[3] == ' ') &&
		    (p == diag || !is_digit(p[-1]))) {
			/* "550-5.7.1 " or "550 " inside a multi-line reply */
			p += 4;
			if (status[0] && strncmp(p, status, strlen(status)) == 0)
				p += strlen(status);
			continue;
		}
		unsigned char c = (unsigned char)*p++;
		if (isspace(c)) {
			if (!space)
				td_buf_putc(&b, ' ');
			space = true;
			continue;
		}
		td_buf_putc(&b, (char)tolower(c));
		space = false;
	}
	if (b.len && b.data[b.len - 1] == ' ')
		b.data[--b.len] = '\0';
	if (cont[0]) {
		/* the reply and its status stay in front, once */
		struct td_buf h = TD_BUF_INIT;
		td_buf_printf(&h, "%s %s%s%s", reply, status, status[0] ? " " : "",
			      b.data ? b.data : "");
		td_buf_free(&b);
		return td_buf_steal(&h);
	}
	if (!b.data)
		return td_xstrdup("");
	return td_buf_steal(&b);
}

static const char *own_word(const char *low, const char *status)
{
	/* Google Workspace's DNS failures: the domain is gone when it says
	 * so permanently, the lookup failed when temporarily */
	if (strstr(low, "dns type 'mx' lookup of") &&
	    (strstr(low, "responded with code nxdomain") || strstr(low, "had no relevant answers")))
		return status[0] == '5' ? "hostunknown" : "networkerror";
	for (size_t i = 0; i < NELEM(own_words); i++)
		if (strstr(low, own_words[i].pat))
			return own_words[i].reason;
	return NULL;
}

/* A top-level header of the bounce (td_bmsg_get's twin for a message
 * that parse.c did not build, as in the unit tests). */
static const char *header(const struct td_bmsg *m, const char *name)
{
	for (size_t i = 0; m && i < m->nhdr; i++)
		if (m->hdr[i].name && strcasecmp(m->hdr[i].name, name) == 0)
			return m->hdr[i].value;
	return NULL;
}

/* What the kind of bounce says for all its recipients: au's content
 * filter (X-SPASIGN: NG), Google Groups' refusal to post. NULL when
 * nothing. */
static const char *message_hint(const struct td_bmsg *m)
{
	const char *spa = header(m, "X-SPASIGN");
	if (spa && strcasecmp(spa, "NG") == 0)
		return "filtered";
	if (m && m->text && strstr(m->text, "Google Groups") &&
	    header(m, "X-Google-Smtp-Source") && header(m, "X-Failed-Recipients"))
		return "rejected"; /* the group refused the post (its notice
				    * lists the causes, never which one) */
	return NULL;
}

/* Sendmail's "Transcript of session follows" section, when the report
 * has one recipient (the transcript does not say whose reply it is):
 * malloc'd, NULL when none. It holds the whole reply, where the DSN's
 * Diagnostic-Code has its first line, and often a better code than the
 * DSN's "5.0.0" ("554 5.3.0 unknown mailer error 255"). */
static char *transcript(const struct td_bmsg *m)
{
	if (!m || !m->text || !m->report_part)
		return NULL;
	/* one recipient or more than one is all that matters: stop at the
	 * second, or a report with 200k recipient groups is scanned whole
	 * once per recipient (seconds, minutes under ASan) */
	size_t recipients = 0;
	for (const char *p = strcasestr(m->report_part, "final-recipient:");
	     p && recipients < 2; p = strcasestr(p + 1, "final-recipient:"))
		recipients++;
	static const char head[] = "----- Transcript of session follows -----";
	const char *t = strstr(m->text, head);
	if (recipients != 1 || !t)
		return NULL;
	t += sizeof(head) - 1;
	size_t n = strnlen(t, TD_CLASSIFY_MAX_TEXT);
	const char *end = memmem(t, n, "\n\n", 2);
	return td_xstrndup(t, end ? (size_t)(end - t) : n);
}

/* The server's first reply in a transcript, one line per line: its
 * "<<< 550-..." lines up to the "<<< 550 ..." that ends it. */
static char *transcript_reply(const char *t)
{
	struct td_buf b = TD_BUF_INIT;
	for (const char *p = strstr(t, "<<< "); p; p = strstr(p, "<<< ")) {
		p += 4;
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		td_buf_append(&b, p, n);
		td_buf_putc(&b, '\n');
		/* "550-" continues, "550 " ends */
		if (n < 4 || p[3] != '-')
			break;
	}
	if (!b.data) {
		/* no reply quoted: Sendmail's own last word, "554 5.3.0
		 * unknown mailer error 255" */
		for (const char *p = t; *p;) {
			const char *eol = strchr(p, '\n');
			size_t n = eol ? (size_t)(eol - p) : strlen(p);
			if (n > 4 && strchr("45", p[0]) && is_digit(p[1]) && is_digit(p[2]) &&
			    p[3] == ' ') {
				td_buf_reset(&b);
				td_buf_append(&b, p, n);
			}
			p += n + (eol ? 1 : 0);
		}
	}
	return b.data && b.len ? td_buf_steal(&b) : (td_buf_free(&b), NULL);
}

/* The local delivery agent's verdict, or NULL when none wrote the
 * diagnostic (or the failure came before the message: a command other
 * than DATA). */
static const char *lda_reason(const char *low, const char *cmd)
{
	if (cmd && strcmp(cmd, "DATA") != 0)
		return NULL;
	for (size_t i = 0; i < NELEM(lda_marks); i++) {
		if (!has(low, lda_marks[i].pat))
			continue;
		for (size_t j = 0; j < NELEM(lda_words); j++)
			if (strcmp(lda_words[j].agent, lda_marks[i].agent) == 0 &&
			    strstr(low, lda_words[j].pat))
				return lda_words[j].reason;
		return "mailererror";
	}
	return NULL;
}

/* The readable text about this recipient, lowercased and squeezed: from
 * where its address is named to the next blank line, at most 1 KiB. MTAs
 * write there what the DSN fields leave out ("(in reply to RCPT TO
 * command)", ">>> DATA"). NULL when the address is not in the text. */
static char *text_about(const struct td_bmsg *m, const char *address)
{
	if (!m || !m->text || !address || !address[0])
		return NULL;
	const char *p = strcasestr(m->text, address);
	if (!p)
		return NULL;
	/* from the start of its line: ">>> RCPT To:<a@example.org>" */
	while (p > m->text && p[-1] != '\n')
		p--;
	const char *end = strstr(p, "\n\n");
	/* the address may head its paragraph, then comes the text */
	if (end && end - p < (ptrdiff_t)strlen(address) + 16) {
		const char *next = strstr(end + 2, "\n\n");
		end = next ? next : end + strlen(end);
	}
	size_t n = end ? (size_t)(end - p) : strlen(p);
	if (n > 1024)
		n = 1024;
	char *t = td_xstrndup(p, n);
	char *low = normalize(t, "", "");
	free(t);
	return low;
}

/* Whether the failure reads temporary: a 4xx code in it or its words. */
static bool temporary(const char *reply, const char *low)
{
	char text[16], cls = 0;
	status_in_text(low, 0, text, sizeof(text));
	if (text[0])
		cls = text[0];
	else if (reply[0])
		cls = reply[0];
	if (cls == '4')
		return true;
	if (cls == '5')
		return false;
	return strstr(low, " temporar") || strstr(low, " persistent");
}

void td_bounce_classify(const struct td_bmsg *m, struct td_bounce_recipient *rc)
{
	/* rfc.c's word on reports that are not failures stands */
	if (is(rc->reason, "feedback") || is(rc->reason, "vacation") ||
	    is(rc->reason, "delivered")) {
		rc->hard = false;
		return;
	}
	/* a server's reply is a few lines; hostile input may be megabytes,
	 * and every phrase is looked for in it */
	const char *given = rc->diagnostic ? rc->diagnostic : "";
	char *diag = td_xstrndup(given, strnlen(given, TD_CLASSIFY_MAX_TEXT));
	const char *action = rc->action ? rc->action : "";

	/* The recipient's own DSN fields: the remote host and the kind of
	 * diagnostic ("smtp", "x-unix") */
	char rhost[256] = "", dtype[32] = "", dummy[8];
	size_t blen = 0;
	const char *blk = report_block(m ? m->report_part : NULL, rc->address, &blen);
	if (blk) {
		block_field(blk, blen, "Remote-MTA", rhost, sizeof(rhost), NULL, 0);
		block_field(blk, blen, "Diagnostic-Code", dummy, sizeof(dummy), dtype,
			    sizeof(dtype));
	} else if (m && m->report_part) {
		block_field(m->report_part, strlen(m->report_part), "Remote-MTA", rhost,
			    sizeof(rhost), NULL, 0);
	}

	/* 1. the status and the reply code */
	char field[16] = "", intext[16] = "", reply[4] = "", status[16] = "";
	if (status_valid(rc->status))
		snprintf(field, sizeof(field), "%s", rc->status);
	reply_in_text(diag, 0, reply);
	status_in_text(diag, 0, intext, sizeof(intext));
	if (intext[0] && reply[0] && intext[0] != reply[0]) {
		/* "550 ... 4.2.2" mixes classes: take the code of the status' class */
		char r2[4];
		reply_in_text(diag, intext[0], r2);
		if (r2[0])
			memcpy(reply, r2, sizeof(reply));
	}
	char *tr = transcript(m);
	if (tr && !intext[0] && (!field[0] || zero_zero(field)))
		status_in_text(tr, 0, intext, sizeof(intext));
	prefer(status, sizeof(status), field, intext,
	       rc->reply_code[0] ? rc->reply_code : reply);
	if (!rc->reply_code[0] && reply[0])
		memcpy(rc->reply_code, reply, sizeof(rc->reply_code));

	char *low = normalize(diag, rc->reply_code, intext);
	char *about = text_about(m, rc->address);
	if (about && (zero_zero(status) || strcmp(status, "4.4.7") == 0)) {
		/* "4.4.7" and "x.0.0" say little; the text about the recipient
		 * may hold the reply that caused them ("441 4.4.1 Error
		 * encountered while communicating with primary target") */
		char more[16], tmp[16];
		status_in_text(about, status[0], more, sizeof(more));
		if (more[0] && !zero_zero(more) && strcmp(more, "4.4.7") != 0) {
			prefer(tmp, sizeof(tmp), status, more, "");
			snprintf(status, sizeof(status), "%s", tmp);
		}
	}
	const char *cmd = command_in(low);
	if (!cmd && about)
		cmd = command_named(about);
	char *replies = tr ? transcript_reply(tr) : NULL;
	if (replies) {
		char rr[4], rs[16];
		reply_in_text(replies, 0, rr);
		status_in_text(replies, 0, rs, sizeof(rs));
		char *rlow = normalize(replies, rr, rs);
		char *joined = td_xasprintf("%s %s", low, rlow);
		free(rlow);
		free(low);
		low = joined;
	}
	free(replies);
	free(tr);
	char stfield[128];
	if (blk && block_field(blk, blen, "Status", stfield, sizeof(stfield), NULL, 0) &&
	    strchr(stfield, '(')) {
		/* "Status: 5.2.1 (mailbox disabled, not accepting messages)":
		 * the comment is the reporting MTA's own words */
		char *joined = td_xasprintf("%s %s", low, strchr(stfield, '('));
		free(low);
		low = joined;
	}
	const char *inreply = about ? strstr(about, "(in reply to ") : NULL;
	if (inreply && !strstr(low, "(in reply to ")) {
		/* Postfix writes the command after the diagnostic; Sisimai's
		 * phrases include it ("access denied (in reply to mail from
		 * command)") */
		const char *close = strchr(inreply, ')');
		char *joined = td_xasprintf("%s %.*s", low,
					    (int)(close ? close - inreply + 1 : 13), inreply);
		free(low);
		low = joined;
	}
	struct facts f = {
		.low = low,
		.status = status,
		.name = status[0] ? status_name(status) : NULL,
		.reply = rc->reply_code,
		.cmd = cmd,
		.hint = own_word(low, status),
		.lda = lda_reason(low, cmd),
	};
	char category[64] = "";
	if (blk && block_field(blk, blen, "X-PowerMTA-BounceCategory", category,
			       sizeof(category), NULL, 0)) {
		for (size_t i = 0; i < NELEM(powermta_categories); i++)
			if (strcmp(category, powermta_categories[i].code) == 0)
				f.hint = powermta_categories[i].reason;
	}
	const char *whole = message_hint(m);
	if (whole) {
		f.hint = whole;
		f.lda = NULL;
	}
	const char *prov = provider_of(m, rc->address, rhost, low);

	/* 2. the reason */
	rc->reason = decide(&f, prov, action, dtype);
	if ((is(rc->reason, "onhold") || is(rc->reason, "undefined")) && about && !whole) {
		/* the diagnostic told nothing: the text about the recipient,
		 * which some formats keep apart from the DSN fields */
		struct facts g = f;
		g.low = about;
		g.hint = own_word(about, status);
		g.lda = lda_reason(about, cmd);
		const char *r = decide(&g, prov, action, dtype);
		if (!is(r, "onhold") && !is(r, "undefined"))
			rc->reason = r;
	}

	/* 3. a status from the reason when nothing gave one */
	if (!status[0]) {
		const char *detail = "900";
		for (size_t i = 0; i < NELEM(reason_code); i++)
			if (strcmp(reason_code[i].reason, rc->reason) == 0)
				detail = reason_code[i].detail;
		/* Exim's "retry timeout exceeded" ends temporary failures */
		bool exim_gave_up = is(rc->reason, "expired") &&
				    strstr(low, "retry timeout exceeded") &&
				    !strstr(low, "delivery retry timeout exceeded");
		bool temp = (temporary(rc->reply_code, low) || exim_gave_up) &&
			    !is(rc->reason, "userunknown") &&
			    !is(rc->reason, "hostunknown") && !is(rc->reason, "hasmoved");
		if (!is(rc->reason, "delivered") && !is(rc->reason, "vacation"))
			snprintf(status, sizeof(status), "%c.0.%s", temp ? '4' : '5', detail);
	}
	snprintf(rc->status, sizeof(rc->status), "%s", status);

	/* a reply code of another class than the status is not this failure's */
	if (rc->status[0] && rc->reply_code[0] && rc->reply_code[0] != rc->status[0]) {
		char r2[4];
		reply_in_text(diag, rc->status[0], r2);
		memcpy(rc->reply_code, r2, sizeof(rc->reply_code));
	}

	/* 4. hard: the address itself is bad */
	rc->hard = is(rc->reason, "userunknown") || is(rc->reason, "hostunknown") ||
		   is(rc->reason, "hasmoved") ||
		   (is(rc->reason, "notaccept") && rc->status[0] == '5');
	free(low);
	free(about);
	free(diag);
}
