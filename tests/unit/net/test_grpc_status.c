/* test_grpc_status.c — status names, grpc-message escaping, grpc-timeout parse/format, mapping. */
#include "net/grpc_status.h"

#include <criterion/criterion.h>
#include <string.h>

Test(grpc_status, names_and_parse)
{
	cr_assert_str_eq(grpc_status_name(0), "OK");
	cr_assert_str_eq(grpc_status_name(12), "UNIMPLEMENTED");
	cr_assert_str_eq(grpc_status_name(16), "UNAUTHENTICATED");
	cr_assert_str_eq(grpc_status_name(17), "UNKNOWN_CODE");
	cr_assert_str_eq(grpc_status_name(-1), "UNKNOWN_CODE");
	int c;
	cr_assert_eq(grpc_status_parse("14", 2, &c), 0);
	cr_assert_eq(c, 14);
	cr_assert_eq(grpc_status_parse("99", 2, &c), 0);
	cr_assert_eq(c, GRPC_STATUS_UNKNOWN);
	cr_assert_eq(grpc_status_parse("", 0, &c), ERR_PROTO);
	cr_assert_eq(grpc_status_parse("1a", 2, &c), ERR_PROTO);
	cr_assert_eq(grpc_status_parse("-1", 2, &c), ERR_PROTO);
}

Test(grpc_status, err_mapping)
{
	cr_assert_eq(grpc_status_from_err(0), GRPC_STATUS_OK);
	cr_assert_eq(grpc_status_from_err(ERR_NOTFOUND), GRPC_STATUS_NOT_FOUND);
	cr_assert_eq(grpc_status_from_err(ERR_INVAL), GRPC_STATUS_INVALID_ARGUMENT);
	cr_assert_eq(grpc_status_from_err(ERR_NOTLEADER), GRPC_STATUS_UNAVAILABLE);
	cr_assert_eq(grpc_status_from_err(ERR_TOOBIG), GRPC_STATUS_RESOURCE_EXHAUSTED);
	cr_assert_eq(grpc_status_from_err(ERR_TIMEOUT), GRPC_STATUS_DEADLINE_EXCEEDED);
	cr_assert_eq(grpc_status_from_err(ERR_IO), GRPC_STATUS_INTERNAL);
	cr_assert_eq(grpc_status_to_err(GRPC_STATUS_NOT_FOUND), ERR_NOTFOUND);
	cr_assert_eq(grpc_status_to_err(GRPC_STATUS_OK), 0);
	for (int e = ERR_CODE_MIN; e <= 0; e++) {
		int s = grpc_status_from_err(e);
		cr_assert(s >= 0 && s < GRPC_STATUS_COUNT);
	}
}

Test(grpc_status, message_round_trip)
{
	const char *msg = "bad key: caf\xc3\xa9 100% \x01\n end";
	char enc[128], dec[128];
	size_t n = grpc_message_encode(msg, strlen(msg), enc, sizeof enc);
	cr_assert_str_eq(enc, "bad key: caf%C3%A9 100%25 %01%0A end");
	cr_assert_eq(n, strlen(enc));
	size_t m = grpc_message_decode(enc, n, dec, sizeof dec);
	cr_assert_eq(m, strlen(msg));
	cr_assert_str_eq(dec, msg);
	/* malformed escapes pass through */
	m = grpc_message_decode("a%zzb%4", 7, dec, sizeof dec);
	cr_assert_str_eq(dec, "a%zzb%4");
	/* cutting never splits an escape */
	n = grpc_message_encode("ab\x01", 3, enc, 5);
	cr_assert_str_eq(enc, "ab");
	n = grpc_message_encode("ab\x01", 3, enc, 6);
	cr_assert_str_eq(enc, "ab%01");
}

Test(grpc_status, timeout_parse)
{
	uint64_t ns;
	cr_assert_eq(grpc_timeout_parse("1S", 2, &ns), 0);
	cr_assert_eq(ns, 1000000000ull);
	cr_assert_eq(grpc_timeout_parse("250m", 4, &ns), 0);
	cr_assert_eq(ns, 250000000ull);
	cr_assert_eq(grpc_timeout_parse("7u", 2, &ns), 0);
	cr_assert_eq(ns, 7000ull);
	cr_assert_eq(grpc_timeout_parse("99999999n", 9, &ns), 0);
	cr_assert_eq(ns, 99999999ull);
	cr_assert_eq(grpc_timeout_parse("2M", 2, &ns), 0);
	cr_assert_eq(ns, 120000000000ull);
	cr_assert_eq(grpc_timeout_parse("99999999H", 9, &ns), 0);
	cr_assert_eq(ns, UINT64_MAX); /* 3.6e20 ns saturates */
	cr_assert_eq(grpc_timeout_parse("123456789S", 10, &ns), ERR_PROTO);
	cr_assert_eq(grpc_timeout_parse("S", 1, &ns), ERR_PROTO);
	cr_assert_eq(grpc_timeout_parse("10", 2, &ns), ERR_PROTO);
	cr_assert_eq(grpc_timeout_parse("10x", 3, &ns), ERR_PROTO);
	cr_assert_eq(grpc_timeout_parse("1 S", 3, &ns), ERR_PROTO);
	cr_assert_eq(grpc_timeout_parse("", 0, &ns), ERR_PROTO);
}

Test(grpc_status, timeout_format_round_trips_up)
{
	const uint64_t cases[] = {0, 1, 999, 1000, 99999999, 100000000, 100000001, 1500000000ull,
				  3600ull * 1000000000ull, UINT64_MAX};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char s[GRPC_TIMEOUT_STR_MAX];
		size_t n = grpc_timeout_format(cases[i], s);
		cr_assert_eq(n, strlen(s));
		cr_assert_leq(n, 9);
		uint64_t back;
		cr_assert_eq(grpc_timeout_parse(s, n, &back), 0, "%s", s);
		if (cases[i] != UINT64_MAX)
			cr_assert_geq(back, cases[i], "%s", s);
	}
	char s[GRPC_TIMEOUT_STR_MAX];
	grpc_timeout_format(100000001, s);
	cr_assert_str_eq(s, "100001u");
	grpc_timeout_format(5000000000ull, s);
	cr_assert_str_eq(s, "5000000u");
}
