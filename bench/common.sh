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
	# how an idle CPU waits: on a VM guest whose halt polling is off, a
	# thread woken on an idle vCPU waits for the hypervisor (a userfaultfd
	# fault is such a wake-up: docs/bench-logs/JOURNAL.md, session 6)
	local idle poll
	idle=$(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo none)
	poll=$(cat /sys/module/haltpoll/parameters/guest_halt_poll_ns 2>/dev/null || true)
	echo "cpuidle: $idle${poll:+, guest_halt_poll_ns $poll}"
	# hetmem's settings from the environment (HETMEM_FAULTS=signal, ...)
	local vars
	vars=$(env | grep '^HETMEM_' | sort | tr '\n' ' ' || true)
	echo "env:     ${vars:-(no HETMEM_ variables)}"
}

# zram_memcg_up NAME DISK_MiB LIMIT_MiB: the kernel's own answer at a budget,
# as the C benchmarks set it up (bench_common.c's zram_setup_alg): a fresh
# zram swap device of DISK_MiB compressing with lz4 (what hetmem's default
# tier uses), at the highest swap priority, and a memory cgroup (v1) limited
# to LIMIT_MiB that swaps readily.  Sets zdev and cg (zram_memcg_down undoes
# both; call it from the script's EXIT trap) and prints the algorithm in use.
# Returns 1, changing nothing, where that cannot be done here (not root, no
# zram, no memcg v1), with the reason on stderr.
zram_memcg_up() {
	if [ "$(id -u)" != 0 ] || [ ! -w /sys/class/zram-control/hot_add ] || [ ! -d /sys/fs/cgroup/memory ]; then
		echo "(zram baseline skipped: needs root, zram and a memory cgroup v1 hierarchy)" >&2
		return 1
	fi
	zdev=$(cat /sys/class/zram-control/hot_add)
	if grep -qw lz4 "/sys/block/zram$zdev/comp_algorithm"; then
		echo lz4 > "/sys/block/zram$zdev/comp_algorithm"
	fi
	echo "${2}M" > "/sys/block/zram$zdev/disksize"
	mkswap "/dev/zram$zdev" >/dev/null
	swapon -p 32767 "/dev/zram$zdev"
	cg=/sys/fs/cgroup/memory/hetmem-bench-$1-$$
	mkdir "$cg"
	echo "$(($3 * 1024 * 1024))" > "$cg/memory.limit_in_bytes"
	echo 100 > "$cg/memory.swappiness"
	echo "zram:    $(sed 's/.*\[\(.*\)\].*/\1/' "/sys/block/zram$zdev/comp_algorithm"), ${2} MiB device, memcg limit ${3} MiB"
}

zram_memcg_down() {
	if [ -n "${cg:-}" ] && [ -d "$cg" ]; then
		for t in $(cat "$cg/cgroup.procs" 2>/dev/null); do echo "$t" > /sys/fs/cgroup/memory/cgroup.procs; done
		rmdir "$cg"
	fi
	if [ -n "${zdev:-}" ]; then
		swapoff "/dev/zram$zdev" 2>/dev/null
		echo 1 > "/sys/block/zram$zdev/reset" 2>/dev/null
		echo "$zdev" > /sys/class/zram-control/hot_remove 2>/dev/null
	fi
	cg="" zdev=""
}
