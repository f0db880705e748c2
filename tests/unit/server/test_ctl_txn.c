/* test_ctl_txn.c — regattactl's Txn parser: the etcdctl text form and the JSON form. */
#include "server/ctl/txn_parse.h"

#include <criterion/criterion.h>
#include <string.h>

static struct arena a;

static void setup(void) { arena_init(&a, 4096, 1 << 20); }
static void teardown(void) { arena_deinit(&a); }

TestSuite(ctl_txn, .init = setup, .fini = teardown);

static int parse(const char *text, Regatta__V1__TxnRequest *t, char *err)
{
	regatta__v1__txn_request__init(t);
	return ctl_txn_parse(text, strlen(text), &a, t, err, 256);
}

static int bin_eq(ProtobufCBinaryData b, const char *s, size_t n)
{
	return b.len == n && memcmp(b.data, s, n) == 0;
}

Test(ctl_txn, text_form_all_sections)
{
	Regatta__V1__TxnRequest t;
	char err[256] = "";
	const char *in = "value(\"k1\") = \"v 1\"\n"
			 "version(\"k2\") > \"0\"\n"
			 "mod(k3, k9) < 100\n"
			 "\n"
			 "put k1 \"new\\x41\"\n"
			 "get --prefix --limit 5 ke\n"
			 "\n"
			 "del --prev-kv k1 k5\n";
	cr_assert_eq(parse(in, &t, err), 0, "%s", err);
	cr_assert_eq(t.n_compare, 3);
	cr_assert_eq(t.compare[0]->target, MVCC__V1__COMPARE__COMPARE_TARGET__VALUE);
	cr_assert(bin_eq(t.compare[0]->value, "v 1", 3));
	cr_assert_eq(t.compare[1]->result, MVCC__V1__COMPARE__COMPARE_RESULT__GREATER);
	cr_assert_eq(t.compare[1]->version, 0);
	cr_assert_eq(t.compare[2]->target, MVCC__V1__COMPARE__COMPARE_TARGET__MOD);
	cr_assert(bin_eq(t.compare[2]->range_end, "k9", 2));
	cr_assert_eq(t.compare[2]->mod_revision, 100);
	cr_assert_eq(t.n_success, 2);
	cr_assert(bin_eq(t.success[0]->request_put->value, "newA", 4));
	cr_assert(bin_eq(t.success[1]->request_range->range_end, "kf", 2), "--prefix increments the last byte");
	cr_assert_eq(t.success[1]->request_range->limit, 5);
	cr_assert_eq(t.n_failure, 1);
	cr_assert(t.failure[0]->request_delete_range->prev_kv);
	cr_assert(bin_eq(t.failure[0]->request_delete_range->range_end, "k5", 2));
}

Test(ctl_txn, text_form_errors_name_the_line)
{
	Regatta__V1__TxnRequest t;
	char err[256] = "";
	cr_assert_eq(parse("value(\"k\") ~ \"v\"\n", &t, err), ERR_INVAL);
	cr_assert(strstr(err, "line 1"), "%s", err);
	cr_assert_eq(parse("\nput onlykey\n", &t, err), ERR_INVAL);
	cr_assert(strstr(err, "line 2"), "%s", err);
	cr_assert_eq(parse("version(k) = abc\n", &t, err), ERR_INVAL);
	cr_assert_eq(parse("\n\n\n\nput a b\n", &t, err), ERR_INVAL, "a fourth section is refused");
}

Test(ctl_txn, json_form)
{
	Regatta__V1__TxnRequest t;
	char err[256] = "";
	const char *in = "{\"compare\":[{\"key\":\"a\",\"target\":\"CREATE\",\"result\":\"EQUAL\",\"create_revision\":0}],"
			 "\"success\":[{\"put\":{\"key\":\"a\",\"value\":\"1\",\"prev_kv\":true}}],"
			 "\"failure\":[{\"get\":{\"key\":\"a\"}},{\"delete\":{\"key\":\"b\",\"range_end\":\"c\"}}]}";
	cr_assert_eq(parse(in, &t, err), 0, "%s", err);
	cr_assert_eq(t.n_compare, 1);
	cr_assert_eq(t.compare[0]->target_union_case, MVCC__V1__COMPARE__TARGET_UNION_CREATE_REVISION);
	cr_assert_eq(t.n_success, 1);
	cr_assert(t.success[0]->request_put->prev_kv);
	cr_assert_eq(t.n_failure, 2);
	cr_assert(bin_eq(t.failure[1]->request_delete_range->range_end, "c", 1));
	cr_assert_eq(parse("{\"compare\":[{\"key\":\"a\",\"target\":\"NOPE\"}]}", &t, err), ERR_INVAL);
	cr_assert_eq(parse("{\"success\":[{\"frob\":{}}]}", &t, err), ERR_INVAL);
	cr_assert_eq(parse("{not json", &t, err), ERR_INVAL);
}

Test(ctl_txn, prefix_range_end_rules)
{
	ProtobufCBinaryData e;
	cr_assert_eq(ctl_range_end(&a, "a\xff\xff", 3, 1, 0, NULL, 0, &e), 0);
	cr_assert(bin_eq(e, "b", 1));
	cr_assert_eq(ctl_range_end(&a, "\xff", 1, 1, 0, NULL, 0, &e), 0);
	cr_assert(bin_eq(e, "\0", 1), "all-0xff prefix means everything after");
	cr_assert_eq(ctl_range_end(&a, "k", 1, 0, 1, NULL, 0, &e), 0);
	cr_assert(bin_eq(e, "\0", 1));
	cr_assert_eq(ctl_range_end(&a, "k", 1, 0, 0, NULL, 0, &e), 0);
	cr_assert_eq(e.len, 0, "a single key has no range end");
}
