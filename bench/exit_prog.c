/*
 * exit_prog MiB — bench/exit.sh's program: allocates MiB of memory with
 * malloc, writes every page (each a different value, so that none is a
 * zero page), prints the wall-clock time (CLOCK_REALTIME, ns) on stdout just
 * before main returns, and returns.  The time from that line to the exit
 * status reaching the parent is the cost of the program's exit.
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
	for (size_t i = 0; i < n; i += 4096)
		for (size_t j = 0; j < 64; j += 8)
			p[i + j] = (unsigned char)((i >> 12) + j + 1);
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	printf("%lld\n", (long long)t.tv_sec * 1000000000ll + t.tv_nsec);
	fflush(stdout);
	return p[4096 * 7 + 8] == 0;
}
