/*
 * test_parse.c — hm_parse_size(): the SIZE strings of --dram, tier specs
 * and HETMEM_* sizes.  Good strings (a whole or decimal number, a unit
 * K/M/G/T with optional B or iB in any case, or B alone) give the exact byte
 * count, a decimal rounded down to a whole byte; bad ones give -EINVAL,
 * overflow gives -E2BIG, and a failed parse never writes the output.
 */
#include "unit.h"

static void expect_size(const char *s, uint64_t want)
{
	uint64_t v = 0xdeadbeef;
	int rc = hm_parse_size(s, &v);
	if (rc != 0 || v != want)
		fail_msg("hm_parse_size('%s') = %d, %llu; expected 0, %llu", s, rc, (unsigned long long)v,
			 (unsigned long long)want);
}

static void expect_bad(const char *s, int err)
{
	uint64_t v = 0x5a5a5a5a;
	int rc = hm_parse_size(s, &v);
	if (rc != -err)
		fail_msg("hm_parse_size('%s') = %d, expected %d", s ? s : "(null)", rc, -err);
	if (v != 0x5a5a5a5a)
		fail_msg("hm_parse_size('%s') failed but wrote %llu", s ? s : "(null)", (unsigned long long)v);
}

static void test_plain_numbers(void **state)
{
	expect_size("0", 0);
	expect_size("1", 1);
	expect_size("4096", 4096);
	expect_size("123456789", 123456789);
	expect_size("18446744073709551615", UINT64_MAX);
}

static void test_suffixes(void **state)
{
	expect_size("1K", 1024);
	expect_size("1k", 1024);
	expect_size("64K", 65536);
	expect_size("2M", 2u << 20);
	expect_size("2m", 2u << 20);
	expect_size("1G", 1ull << 30);
	expect_size("3g", 3ull << 30);
	expect_size("1T", 1ull << 40);
	expect_size("5t", 5ull << 40);
	expect_size("0K", 0);
	/* KiB / KB spellings */
	expect_size("4KiB", 4096);
	expect_size("4KB", 4096);
	expect_size("2Mi", 2u << 20);
	expect_size("1GiB", 1ull << 30);
	/* the largest T value that fits */
	expect_size("16777215T", ((1ull << 24) - 1) << 40);
	expect_size("17179869183G", ((1ull << 34) - 1) << 30);
	/* any case of the unit and its B / iB, and B alone for bytes */
	expect_size("4kib", 4096);
	expect_size("4Kb", 4096);
	expect_size("2mB", 2u << 20);
	expect_size("1gIb", 1ull << 30);
	expect_size("1tb", 1ull << 40);
	expect_size("512B", 512);
	expect_size("512b", 512);
}

static void test_decimals(void **state)
{
	expect_size("1.5G", 3ull << 29);
	expect_size("1.5g", 3ull << 29);
	expect_size("1.5GiB", 3ull << 29);
	expect_size("0.5K", 512);
	expect_size("0.25M", 256u << 10);
	expect_size("2.0M", 2u << 20);
	expect_size("1.", 1);                     /* as strtod reads it */
	expect_size(".5K", 512);
	expect_size("0.001K", 1);                 /* 1.024 bytes: rounded down */
	expect_size("0.0001K", 0);                /* 0.1024 bytes */
	expect_size("1.1T", (11ull << 40) / 10);  /* 1209462790553.6: rounded down */
	expect_size("23.9G", (239ull << 30) / 10);
	/* more digits than 64 bits hold: the extra ones are read exactly */
	expect_size("1.00000000000000000000000001K", 1024);
	expect_size("0.99999999999999999999999999K", 1023);
	/* the largest T value that fits, with a fraction */
	expect_size("16777215.5T", (((1ull << 24) - 1) << 40) + (1ull << 39));
	expect_size("16777215.99999999999999999999T", UINT64_MAX);
	/* no unit: whole bytes only */
	expect_size("4096.0", 4096);
	expect_size("4096.000B", 4096);
}

static void test_malformed(void **state)
{
	expect_bad(NULL, EINVAL);
	expect_bad("", EINVAL);
	expect_bad("abc", EINVAL);
	expect_bad("K", EINVAL);
	expect_bad("M1", EINVAL);
	expect_bad("-5", EINVAL);
	expect_bad("-0", EINVAL);
	expect_bad("+5", EINVAL);
	expect_bad("5X", EINVAL);
	expect_bad("5KK", EINVAL);
	expect_bad("5KiBB", EINVAL);
	expect_bad("5P", EINVAL);
	expect_bad("1.5.0G", EINVAL);
	expect_bad(".", EINVAL);
	expect_bad(".K", EINVAL);
	expect_bad("1,5G", EINVAL);
	expect_bad("1e3", EINVAL);
	expect_bad("1.5", EINVAL);    /* a fraction of a byte */
	expect_bad("1.5B", EINVAL);
	expect_bad("1.00000000000000000000000000000000000000000000000000000000000000000001K", EINVAL); /* > 64 digits */
	expect_bad("1.-5G", EINVAL);
	expect_bad("5BB", EINVAL);
	expect_bad("5iB", EINVAL);
	expect_bad("5i", EINVAL);
	expect_bad("0x10", EINVAL);
	expect_bad("10 ", EINVAL);
	expect_bad("10 M", EINVAL);
	expect_bad("12abc", EINVAL);
}

static void test_overflow(void **state)
{
	expect_bad("18446744073709551616", E2BIG);          /* 2^64 */
	expect_bad("99999999999999999999999999", E2BIG);
	expect_bad("16777216T", E2BIG);                     /* 2^24 TiB = 2^64 */
	expect_bad("17179869184G", E2BIG);                  /* 2^34 GiB = 2^64 */
	expect_bad("18014398509481984K", E2BIG);            /* 2^54 KiB = 2^64 */
	expect_bad("18446744073709551615K", E2BIG);
	expect_bad("16777216.0T", E2BIG);
	expect_bad("18446744073709551616.5K", E2BIG);
	/* 99999T does fit in 64 bits: it is a tier's job to refuse it */
	expect_size("99999T", 99999ull << 40);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_numbers),
		cmocka_unit_test(test_suffixes),
		cmocka_unit_test(test_decimals),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_overflow),
	};
	return cmocka_run_group_tests_name("unit_parse", tests, NULL, NULL);
}
