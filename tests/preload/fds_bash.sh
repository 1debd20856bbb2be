#!/bin/sh
# fds_bash.sh HETMEM — a bash script under `hetmem run --dram 32M` that
# redirects and closes file descriptors the way scripts do (exec 3>file,
# exec {fd}>file, exec N>&- for every N up to 1023, a redirection of stderr
# around each) while its 44 MB of variables are mostly on the device, then
# checks them; and a python3 child that does os.closerange and os.dup2 over
# every number while its 40 MiB of bytes are mostly on the device, starts
# children with subprocess (vfork, closing every fd above 2), and checks them.
# (HETMEM_DEMOTE comes from the test's environment.)
set -u
. "$(dirname "$0")/../lib.sh"
hetmem=$1
command -v bash >/dev/null || hm_skip "no bash"
command -v python3 >/dev/null || hm_skip "no python3"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/script.sh" <<'EOS'
set -u
d=$1
printf -v s '%*d' 40000000 7
printf -v t '%*d' 4000000 8
sum() { { printf '%s' "$s"; printf '%s' "$t"; } | md5sum; }
want=$(sum)
exec 3>"$d/three"
exec 4<"$d/three"
exec 5>"$d/five" 6>&5
echo three >&3
exec {hi}>"$d/hi"
echo hi >&"$hi"
for fd in $(seq 7 1023); do
	[ "$fd" = 255 ] || [ "$fd" = "$hi" ] || eval "exec $fd>&-" 2>/dev/null
done
for fd in $(seq 7 200); do
	[ "$fd" = "$hi" ] || eval "exec $fd>\"\$d/f\"" 2>/dev/null
done
echo more >&3
[ ${#s} = 40000000 ] && [ ${#t} = 4000000 ] && [ "$(sum)" = "$want" ] ||
	{ echo "FAIL: bash's variables read back wrong"; exit 1; }
[ "$(cat "$d/three")" = "three
more" ] || { echo "FAIL: fd 3 did not write to its file"; exit 1; }
python3 - <<'EOP' || exit 1
import os, sys
n = 20 << 20
pat = (bytes(range(251)) * (n // 251 + 1))[:n]
b = bytearray(pat)
os.closerange(3, 1 << 16)
null = os.open("/dev/null", os.O_RDONLY)
for fd in range(3, 1024):
    if fd != null:
        os.dup2(null, fd)
os.closerange(3, 1024)
# children by vfork (Python's subprocess), which close every fd above 2 in
# their own table before exec
import subprocess
for _ in range(3):
    subprocess.check_call(["true"], close_fds=True)
if b != pat:
    print("FAIL: python3's bytearray read back wrong")
    sys.exit(1)
print("python3: ok")
EOP
echo "bash: ok"
EOS
out=$(timeout 150 "$hetmem" run --dram 32M --tier emu:1G,lazy -- bash "$dir/script.sh" "$dir" 2>&1)
rc=$?
echo "$out"
case "$out" in *FAIL*) exit 1 ;; esac
[ $rc -eq 0 ] && echo "$out" | grep -q '^bash: ok' && exit 0
echo "fds_bash.sh: the script ended with status $rc" >&2
exit 1
