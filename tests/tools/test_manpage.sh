#!/bin/sh
# test_manpage.sh HETMEM MANPAGE — every option `hetmem --help` and each
# subcommand's help show (--dram, -w, ...) appears in the man page, so that
# docs/hetmem.1 cannot drift from the program silently.  In roff a "-" is
# written "\-", so the page is read with the backslashes removed.
set -u
hetmem=$1
man=$2
page=$(sed 's/\\-/-/g; s/\\f[BIRP]//g' "$man")
missing=
for cmd in "" run stat demo heatmap; do
	if [ -z "$cmd" ]; then help=$("$hetmem" --help 2>&1); else help=$("$hetmem" $cmd --help 2>&1); fi
	[ -n "$help" ] || { echo "FAIL: no help from hetmem $cmd --help"; exit 1; }
	for opt in $(echo "$help" | grep -oE '(^|[^A-Za-z0-9_-])--?[A-Za-z][A-Za-z0-9-]*' | sed 's/^[^-]*//' | sort -u); do
		echo "$page" | grep -qe "$opt" || missing="$missing hetmem${cmd:+ $cmd} $opt;"
	done
	# the subcommands and environment variables of `hetmem --help`
	if [ -z "$cmd" ]; then
		for w in $(echo "$help" | sed -n 's/^  \([a-z]*\) .*/\1/p') $(echo "$help" | grep -oE 'HETMEM_[A-Z_]+' | sort -u); do
			echo "$page" | grep -qe "$w" || missing="$missing $w;"
		done
	fi
done
[ -z "$missing" ] || { echo "FAIL: not in $man:$missing"; exit 1; }
echo "ok: every option of hetmem's help is in $man"
