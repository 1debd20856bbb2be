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
