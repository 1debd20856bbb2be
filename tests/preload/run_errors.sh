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

# expect_error NAME EXPECTED ARGS...: hetmem ARGS exits non-zero, the
# program does not start, and the first line of its stderr is EXPECTED
# exactly (or matches the whole of the extended regex after "re:", for
# texts with this machine's RAM in them)
expect_error() {
	local name=$1 want=$2
	shift 2
	n=$((n + 1))
	rm -f "$marker"
	"$hetmem" "$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	local got
	got=$(head -n1 "$tmp/err")
	if [ $rc -eq 0 ]; then
		echo "FAIL $name: exit 0"; cat "$tmp/err"; fails=$((fails + 1)); return
	fi
	if [ -e "$marker" ]; then
		echo "FAIL $name: the program started"; fails=$((fails + 1)); return
	fi
	case $want in
	re:*) [[ $got =~ ^${want#re:}$ ]] ;;
	*) [ "$got" = "$want" ] ;;
	esac
	if [ $? -ne 0 ]; then
		echo "FAIL $name (exit $rc): expected: $want"
		echo "     got: $got"
		fails=$((fails + 1)); return
	fi
	echo "ok   $name (exit $rc): $got"
}

# the static program creates $HM_MARKER if it runs
export HM_MARKER=$marker
prog=(/bin/sh -c "touch $marker")
R='hetmem run:'
ram='\([0-9]+(\.[0-9])? [KMGT]iB\)'
expect_error "unknown option" "$R unknown option '--frobnicate' (try hetmem run --help)" run --frobnicate -- "${prog[@]}"
expect_error "missing program" "$R no program given" run --dram 64M --
expect_error "program not found" "$R no-such-program-xyz: command not found" run -- no-such-program-xyz
printf 'not a program\n' >"$tmp/text"
chmod 644 "$tmp/text"
expect_error "not executable" "$R $tmp/text: not executable" run -- "$tmp/text"
chmod 755 "$tmp/text"
expect_error "neither ELF nor script" "$R $tmp/text is neither an ELF executable nor a #! script" run -- "$tmp/text"
expect_error "static binary" "$R $static is statically linked: LD_PRELOAD cannot reach it, so hetmem cannot manage its memory" run -- "$static"
expect_error "tier that cannot be opened" "$R --tier file:/nonexistent-dir/x,size=64M: cannot open '/nonexistent-dir/x' (No such file or directory)" run --tier file:/nonexistent-dir/x,size=64M -- "${prog[@]}"
expect_error "malformed tier" "$R --tier emu:lots: size must be a number with an optional K/M/G/T suffix, such as 1G or 1.5G" run --tier emu:lots -- "${prog[@]}"
expect_error "tier below a page" "$R --tier emu:1K: 1K is less than one 4 KiB page (at least 4K)" run --tier emu:1K -- "${prog[@]}"
expect_error "file tier below a page" "$R --tier file:$tmp/tierfile,size=1K: size 1K is less than one 4 KiB page (at least 4K)" run --tier "file:$tmp/tierfile,size=1K" -- "${prog[@]}"
expect_error "tier larger than the machine" "re:$R --tier emu:1000T: 1000T is more than this machine's RAM \+ swap $ram" run --tier emu:1000T -- "${prog[@]}"
expect_error "budget zero" "$R --dram 0 is less than the smallest RAM budget, 2M" run --dram 0 -- "${prog[@]}"
expect_error "budget below the minimum" "$R --dram 1K is less than the smallest RAM budget, 2M" run --dram 1K -- "${prog[@]}"
expect_error "budget larger than the machine" "re:$R --dram 1000T is more than this machine's RAM $ram: give at most [0-9]+(\.[0-9])?[KMGT]" run --dram 1000T -- "${prog[@]}"
expect_error "budget beyond 64 bits" "re:$R --dram=99999999999999999999 is more than this machine's RAM $ram: give at most [0-9]+(\.[0-9])?[KMGT]" run --dram=99999999999999999999 -- "${prog[@]}"
expect_error "budget not a size" "$R --dram lots: expected a size such as 512M, 1.5G or 2G" run --dram lots -- "${prog[@]}"
HETMEM_DRAM=1000T expect_error "budget from the environment" "re:$R HETMEM_DRAM='1000T' is more than this machine's RAM $ram: give at most [0-9]+(\.[0-9])?[KMGT]" run -- "${prog[@]}"
expect_error "unknown policy" "$R --policy nosuch: expected recency, frequency or fifo" run --policy nosuch -- "${prog[@]}"
expect_error "bad folio" "$R --folio 3K: expected 4K, 64K or 2M" run --folio 3K -- "${prog[@]}"
expect_error "option without value" "$R --dram needs a value" run --dram
expect_error "empty stats file" "$R --stats= needs a file name" run --stats= -- "${prog[@]}"
expect_error "stats in a missing directory" "$R --stats=$tmp/no-dir/stats: the directory $tmp/no-dir does not exist" run --dram 32M --stats="$tmp/no-dir/stats" -- "${prog[@]}"
expect_error "stats file is a directory" "$R --stats=$tmp: $tmp is a directory; expected a file name or '-'" run --dram 32M --stats="$tmp" -- "${prog[@]}"
expect_error "stats file that cannot be created" "re:$R --stats=/proc/hetmem-stats: cannot create /proc/hetmem-stats: .+" run --dram 32M --stats=/proc/hetmem-stats -- "${prog[@]}"
expect_error "stats file as a separate word" "$R out.txt: command not found" run --dram 32M --stats out.txt -- "${prog[@]}"
grep -qxF "$R to write the stats to a file, give --stats=out.txt" "$tmp/err" || {
	echo "FAIL stats file as a separate word: no hint"; fails=$((fails + 1)); }

# #! scripts: their interpreter, and the program `#!/usr/bin/env PROG` runs,
# are checked as the program would be
mkdir "$tmp/bin"
cp "$static" "$tmp/bin/hm-static-interp"
printf '#!%s\n' "$static" >"$tmp/static-script"
printf '#!/usr/bin/env hm-static-interp\n' >"$tmp/env-script"
printf '#!/usr/bin/env -S -u HOME -C / A=1 hm-static-interp -x\n' >"$tmp/env-s-script"
printf '#!/usr/bin/env hm-no-such-interp\n' >"$tmp/env-missing"
printf '#!/nonexistent-dir/interp\n' >"$tmp/missing-interp"
chmod +x "$tmp"/*-script "$tmp/env-missing" "$tmp/missing-interp"
expect_error "script with a static interpreter" "$R $static (the #! interpreter of $tmp/static-script) is statically linked: LD_PRELOAD cannot reach it, so hetmem cannot manage its memory" run --dram 32M -- "$tmp/static-script"
PATH=$tmp/bin:$PATH expect_error "env script running a static program" "$R $tmp/bin/hm-static-interp (the program the #! line of $tmp/env-script runs) is statically linked: LD_PRELOAD cannot reach it, so hetmem cannot manage its memory" run --dram 32M -- "$tmp/env-script"
PATH=$tmp/bin:$PATH expect_error "env -S script running a static program" "$R $tmp/bin/hm-static-interp (the program the #! line of $tmp/env-s-script runs) is statically linked: LD_PRELOAD cannot reach it, so hetmem cannot manage its memory" run --dram 32M -- "$tmp/env-s-script"
expect_error "env script running a missing program" "$R hm-no-such-interp (the program the #! line of $tmp/env-missing runs): command not found" run --dram 32M -- "$tmp/env-missing"
expect_error "script with a missing interpreter" "$R $tmp/missing-interp: its #! interpreter /nonexistent-dir/interp does not exist" run --dram 32M -- "$tmp/missing-interp"

# the same settings through the environment, for programs started another
# way: a bad one stops the program with a message instead of running it
# without hetmem
lib=$(dirname "$hetmem")/libhetmem-preload.so
sh=$(readlink -f /bin/sh)
# expect_env_error NAME EXPECTED VAR=VALUE...: /bin/sh under the preload with
# these settings stops before its command runs, with EXPECTED (as above)
expect_env_error() {
	local name=$1 want=$2
	shift 2
	n=$((n + 1))
	rm -f "$marker"
	env LD_PRELOAD="$lib" "$@" /bin/sh -c "touch $marker" 2>"$tmp/err"
	local rc=$? got
	got=$(head -n1 "$tmp/err")
	case $want in
	re:*) [[ $got =~ ^${want#re:}$ ]] ;;
	*) [ "$got" = "$want" ] ;;
	esac
	if [ $? -eq 0 ] && [ $rc -ne 0 ] && [ ! -e "$marker" ]; then
		echo "ok   $name (exit $rc): $got"
	else
		echo "FAIL $name: exit $rc, marker $( [ -e "$marker" ] && echo present || echo absent)"
		echo "     expected: $want"
		echo "     got: $got"
		fails=$((fails + 1))
	fi
}
H="hetmem: cannot start under $sh:"
expect_env_error "environment with a bad policy" "$H HETMEM_POLICY='nosuch': expected recency, frequency or fifo" HETMEM_POLICY=nosuch
expect_env_error "environment with a budget larger than the machine" "re:$H HETMEM_DRAM='1000T' is more than this machine's RAM $ram: give at most [0-9]+(\.[0-9])?[KMGT]" HETMEM_DRAM=1000T
expect_env_error "environment with stats in a missing directory" "$H HETMEM_STATS='$tmp/no-dir/s': the directory $tmp/no-dir does not exist" HETMEM_STATS="$tmp/no-dir/s"

# good runs start the program: with the stats at exit; a decimal budget;
# a script through env; and without --dram, with the default budget said
n=$((n + 1))
rm -f "$marker"
if "$hetmem" run --dram 32M --stats="$tmp/stats" -- /usr/bin/env touch "$marker" && [ -e "$marker" ] &&
	grep -q "^preload_maps_managed" "$tmp/stats"; then
	echo "ok   a good run starts the program and writes its stats"
else
	echo "FAIL a good run"; fails=$((fails + 1))
fi
n=$((n + 1))
rm -f "$marker" "$tmp/stats"
if "$hetmem" run --dram 1.5M --stats="$tmp/stats" -- /bin/true 2>"$tmp/err"; then
	echo "FAIL --dram 1.5M was accepted"; fails=$((fails + 1))
elif "$hetmem" run --dram 2.5M --stats="$tmp/stats" -- /bin/true &&
	grep -q "budget 2621440 bytes" "$tmp/stats"; then
	echo "ok   --dram 2.5M is a budget of 2621440 bytes"
else
	echo "FAIL --dram 2.5M"; cat "$tmp/stats"; fails=$((fails + 1))
fi
n=$((n + 1))
rm -f "$marker"
printf '#!/usr/bin/env sh\ntouch "$1"\n' >"$tmp/good-script"
chmod +x "$tmp/good-script"
if "$hetmem" run --dram 32M -- "$tmp/good-script" "$marker" && [ -e "$marker" ]; then
	echo "ok   a #!/usr/bin/env sh script runs"
else
	echo "FAIL a #!/usr/bin/env sh script"; fails=$((fails + 1))
fi
n=$((n + 1))
rm -f "$marker" "$tmp/stats"
ram_b=$(( $(getconf _PHYS_PAGES) * $(getconf PAGESIZE) ))
half=$(( ram_b / 2 / 1048576 * 1048576 ))
"$hetmem" run --stats="$tmp/stats" -- /usr/bin/env touch "$marker" 2>"$tmp/err"
rc=$?
said=$(grep -m1 "no --dram given" "$tmp/err")
if [ $rc -eq 0 ] && [ -e "$marker" ] && grep -q "budget $half bytes" "$tmp/stats" &&
	[[ $said =~ ^"$R no --dram given: the RAM budget is "[0-9.]+" "[KMGT]iB", half of this machine's "[0-9.]+" "[KMGT]iB" (--dram SIZE sets it)"$ ]]; then
	echo "ok   without --dram: $said"
else
	echo "FAIL without --dram: exit $rc, budget $(grep -o 'budget [0-9]* bytes' "$tmp/stats"), expected $half; said: $said"
	fails=$((fails + 1))
fi

echo "$((n - fails)) passed, $fails failed"
[ $fails -eq 0 ]
