/*
 * exit_prog MiB — bench/exit.sh's program: allocates MiB of memory with
 * malloc, writes every page in order (each a different value, so that none
 * is a zero page), and prints on stdout, just before main returns, the
 * wall-clock time (CLOCK_REALTIME, ns) and the time the writes took per page
 * (ns: a first touch in order, what fault-around serves).  The time from
 * that line to the exit status reaching the parent is the cost of the
 * program's exit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	size_t n = (argc > 1 ? (size_t)atol(argv[1]) : 1536) << 20;
	unsigned char *p = malloc(n);
	if (!p)
		return 1;
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	long long f0 = (long long)t.tv_sec * 1000000000ll + t.tv_nsec;
	for (size_t i = 0; i < n; i += 4096)
		for (size_t j = 0; j < 64; j += 8)
			p[i + j] = (unsigned char)((i >> 12) + j + 1);
	clock_gettime(CLOCK_MONOTONIC, &t);
	long long fill = (long long)t.tv_sec * 1000000000ll + t.tv_nsec - f0;
	clock_gettime(CLOCK_REALTIME, &t);
	printf("%lld %lld\n", (long long)t.tv_sec * 1000000000ll + t.tv_nsec, fill / (long long)(n >> 12));
	fflush(stdout);
	return p[4096 * 7 + 8] == 0;
}
