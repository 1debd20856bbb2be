# lib.sh — sourced by the shell tests (tests/*/*.sh).
#
# hm_skip REASON...: the one way a test says it cannot run here, as the C
# tests' hm_skip (tests/hm_test.h) does: "skipped: REASON" on stdout, then
# exit 77, which CTest reports as skipped (SKIP_RETURN_CODE 77).
hm_skip() {
	echo "skipped: $*"
	exit 77
}
