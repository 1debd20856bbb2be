#!/bin/bash
# hetmem run refuses bad input with a clear message and a non-zero exit,
# before the program starts (the program would create a marker file).
# usage: run_errors.sh HETMEM STATIC_PROGRAM PRELOAD_CASES
set -u
hetmem=$1 static=$2 cases=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
marker=$tmp/started
fails=0 n=0

# expect_error NAME EXPECTED-MESSAGE-REGEX ARGS...
expect_error() {
	local name=$1 want=$2
	shift 2
	n=$((n + 1))
	rm -f "$marker"
	"$hetmem" "$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	if [ $rc -eq 0 ]; then
		echo "FAIL $name: exit 0"; fails=$((fails + 1)); return
	fi
	if [ -e "$marker" ]; then
		echo "FAIL $name: the program started"; fails=$((fails + 1)); return
	fi
	if ! grep -Eq -- "$want" "$tmp/err"; then
		echo "FAIL $name: message does not match /$want/:"; cat "$tmp/err"; fails=$((fails + 1)); return
	fi
	echo "ok   $name (exit $rc): $(head -n1 "$tmp/err")"
}

prog=(/bin/sh -c "touch $marker")
expect_error "unknown option" "unknown option '--frobnicate'" run --frobnicate -- "${prog[@]}"
expect_error "missing program" "no program given" run --dram 64M --
expect_error "program not found" "no-such-program-xyz: command not found" run -- no-such-program-xyz
expect_error "not executable" "not executable|neither an ELF" run -- /etc/hostname
expect_error "static binary" "statically linked" run -- "$static"
expect_error "tier that cannot be opened" "/nonexistent-dir/x" run --tier file:/nonexistent-dir/x,size=64M -- "${prog[@]}"
expect_error "malformed tier" "emu:lots" run --tier emu:lots -- "${prog[@]}"
expect_error "budget zero" "HETMEM_DRAM|budget|2 MiB" run --dram 0 -- "${prog[@]}"
expect_error "budget larger than the machine" "RAM" run --dram 1000T -- "${prog[@]}"
expect_error "budget not a size" "HETMEM_DRAM='lots'" run --dram lots -- "${prog[@]}"
expect_error "unknown policy" "HETMEM_POLICY='nosuch'" run --policy nosuch -- "${prog[@]}"
expect_error "bad folio" "HETMEM_FOLIO='3K'" run --folio 3K -- "${prog[@]}"
expect_error "option without value" "--dram needs a value" run --dram
expect_error "empty stats file" "needs a file name" run --stats= -- "${prog[@]}"

# the same settings through the environment, for programs started another
# way: a bad one stops the program with a message instead of running it
# without hetmem
lib=$(dirname "$hetmem")/libhetmem-preload.so
n=$((n + 1))
rm -f "$marker"
LD_PRELOAD=$lib HETMEM_POLICY=nosuch /bin/sh -c "touch $marker" 2>"$tmp/err"
rc=$?
if [ $rc -ne 0 ] && [ ! -e "$marker" ] && grep -q "HETMEM_POLICY='nosuch'" "$tmp/err"; then
	echo "ok   environment with a bad policy (exit $rc): $(head -n1 "$tmp/err")"
else
	echo "FAIL environment with a bad policy: exit $rc, marker $( [ -e "$marker" ] && echo present || echo absent)"
	cat "$tmp/err"
	fails=$((fails + 1))
fi

# and a good run does start the program, with the stats at exit
n=$((n + 1))
if "$hetmem" run --dram 32M --stats="$tmp/stats" -- /usr/bin/env touch "$marker" && [ -e "$marker" ] &&
	grep -q "^preload_maps_managed" "$tmp/stats"; then
	echo "ok   a good run starts the program and writes its stats"
else
	echo "FAIL a good run"; fails=$((fails + 1))
fi

echo "$((n - fails)) passed, $fails failed"
[ $fails -eq 0 ]
