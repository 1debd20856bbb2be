# heatmap_common.sh — sourced by the `hetmem heatmap` tests of a real program
# (test_heatmap_program.sh, test_heatmap_tree.sh) after they set hetmem=$1:
# `heatmap_setup NAME` exits 77 (skipped) without gnuplot, python3 or
# userfaultfd, sets py to Debian's python3, makes the scratch directory $dir
# (/tmp/hetmem-heatmap-NAME-*, removed on exit), and fail() says why the
# test failed and exits 1.
. "$(dirname "$0")/../lib.sh"
heatmap_setup() {
	py=/usr/bin/python3
	command -v gnuplot >/dev/null 2>&1 || hm_skip "gnuplot not installed (apt-get install gnuplot-nox)"
	[ -x $py ] || hm_skip "$py not installed (apt-get install python3)"
	if "$hetmem" info 2>&1 | grep -q "^userfaultfd: *unavailable"; then
		hm_skip "$("$hetmem" info 2>&1 | grep '^userfaultfd')"
	fi
	dir=$(mktemp -d /tmp/hetmem-heatmap-$1-XXXXXX)
	trap 'rm -rf "$dir"' EXIT
}
fail() { echo "FAIL: $*"; exit 1; }
