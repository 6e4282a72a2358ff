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
status=0
for cmd in "run" "status" "preview --to zoe@example.com" "send --dry-run" "run" \
	"subscribers add leak@example.org --tags nato,usa --name Leak" \
	"subscribers show leak@example.org" "subscribers show zoe@example.com --json" \
	"subscribers list --tag nato" "subscribers export --all" \
	"subscribers import $work/subscribers/subscribers.csv" \
	"subscribers remove leak@example.org"; do
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
exit $status
