#!/usr/bin/env bash
# make leakcheck: the release binary under valgrind, on a copy of the sample
# site, through every command. Any definite or indirect leak or memory error
# fails the run.
set -euo pipefail
bin=$(realpath "${1:-build/tagdigest}")
top=$(pwd)
work=$(mktemp -d /tmp/td-leakcheck-XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$top/config" "$top/posts" "$top/subscribers" "$top/templates" "$work/"
vg() {
	valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--error-exitcode=99 "$bin" -q -c "$work/config/tagdigest.conf" "$@"
}
# a bounce mailbox: a DSN for one of the sample's readers and a person's reply
mkdir -p "$work/bounces/new" "$work/bounces/cur" "$work/bounces/tmp"
printf '%s\r\n' 'From: MAILER-DAEMON@mx.example.net' 'To: digest@example.org' \
	'Subject: Undelivered Mail Returned to Sender' 'MIME-Version: 1.0' \
	'Content-Type: multipart/report; report-type=delivery-status; boundary="b"' '' \
	'--b' 'Content-Type: text/plain' '' 'Your message could not be delivered.' '' \
	'--b' 'Content-Type: message/delivery-status' '' 'Reporting-MTA: dns; mx.example.net' '' \
	'Final-Recipient: rfc822; zoe@example.com' 'Action: failed' 'Status: 5.1.1' \
	'Diagnostic-Code: smtp; 550 5.1.1 User unknown' '' '--b--' >"$work/bounces/new/1.dsn"
printf '%s\r\n' 'From: someone@example.net' 'To: digest@example.org' 'Subject: Thanks' '' \
	'Nice digest.' >"$work/bounces/new/2.reply"
mb="-o bounces.mailbox=maildir:$work/bounces"
verp="-o bounces.return_path=bounces+{token}@example.org"
status=0
for cmd in "run" "status" "status --json" "preview --to zoe@example.com" "send --dry-run" "run" \
	"subscribers add leak@example.org --tags nato,usa --name Leak" \
	"subscribers show leak@example.org" "subscribers show zoe@example.com --json" \
	"subscribers list --tag nato" "subscribers list --json" "subscribers export --all" \
	"subscribers import $work/subscribers/subscribers.csv" \
	"subscribers remove leak@example.org" \
	"$mb $verp bounces --dry-run" "$mb bounces" "$mb $verp run" \
	"subscribers show zoe@example.com"; do
	# shellcheck disable=SC2086
	if vg $cmd >/dev/null 2>"$work/vg.log"; then
		echo "leakcheck: $cmd: clean"
	else
		rc=$?
		if [ "$rc" = 99 ]; then
			echo "leakcheck: $cmd: valgrind found errors:"; cat "$work/vg.log"; status=1
		else
			echo "leakcheck: $cmd: exited $rc"; cat "$work/vg.log"; status=1
		fi
	fi
done
# bounce-dump on a DSN and a feedback report written here, and on
# Sisimai's corpus when the test data is there
cat >"$work/dsn.eml" <<'MAIL'
From: MAILER-DAEMON@mx.example.net
Subject: Undelivered Mail Returned to Sender
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

The mail system could not deliver your message.
--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; ann@example.com
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <ann@example.com>: User unknown

--b
Content-Type: message/feedback-report

Feedback-Type: abuse
Original-Rcpt-To: bob@example.com
--b--
MAIL
bounces=$(ls "${TESTDATA:-$top/../shared/testdata}"/bounces/*/*.eml 2>/dev/null || true)
# shellcheck disable=SC2086
if valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
	--suppressions="$top/tests/valgrind.supp" \
	"$bin" bounce-dump "$work/dsn.eml" $bounces >/dev/null 2>"$work/vg.log"; then
	echo "leakcheck: bounce-dump ($(echo "$work/dsn.eml" $bounces | wc -w) files): clean"
else
	echo "leakcheck: bounce-dump: exited $?"; cat "$work/vg.log"; status=1
fi
exit $status
