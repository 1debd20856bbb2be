# bench/common.sh — sourced by the benchmark scripts.
# print_header: the machine, the date and the commit, so each result says
# where and on what it was measured.
print_header() {
	local model mem rev
	model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
	mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
	echo "machine: $(nproc) CPUs (${model:-unknown model}), $mem RAM, Linux $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	if rev=$(git -C "$(dirname "${BASH_SOURCE[0]}")/.." rev-parse --short HEAD 2>/dev/null); then
		echo "commit:  $rev"
	fi
}
