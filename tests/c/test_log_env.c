/* SPDX-License-Identifier: MIT */
/*
 * KIO_LOG_LEVEL: the level a process starts with comes from the environment,
 * read when the library is loaded. tests/c/meson.build runs this program
 * once per value, with the level that value must give as its argument.
 */
#include "kio_test.h"

static int want = -1;

static int seen_level = -1;
static char seen_msg[64];

static void capture(void *user_data, int level, const char *msg, size_t len)
{
	(void)user_data;
	seen_level = level;
	snprintf(seen_msg, sizeof(seen_msg), "%.*s", (int)len, msg);
}

static void test_log_env_sets_level(void **state)
{
	(void)state;
	assert_int_equal(kio_log_level(), want);
}

/* The filter is the environment's: a message just at the level passes, one below does not. */
static void test_log_env_filters(void **state)
{
	(void)state;
	kio_log_set_handler(capture, NULL);
	if (want > KIO_LOG_DEBUG) {
		kio_log_write(want - 1, "below", 5);
		assert_int_equal(kio_log_flush(5000 * KT_MS), 0);
		assert_int_equal(seen_level, -1);
	}
	kio_log_write(want, "at", 2);
	assert_int_equal(kio_log_flush(5000 * KT_MS), 0);
	assert_int_equal(seen_level, want);
	assert_string_equal(seen_msg, "at");
	kio_log_set_handler(NULL, NULL);
}

/* kio_log_set_level() overrides the environment. */
static void test_log_env_overridden(void **state)
{
	(void)state;
	int other = want == KIO_LOG_ERROR ? KIO_LOG_INFO : KIO_LOG_ERROR;
	kio_log_set_level(other);
	assert_int_equal(kio_log_level(), other);
	kio_log_set_level(want);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s EXPECTED_LEVEL (KIO_LOG_LEVEL in the environment)\n", argv[0]);
		return 2;
	}
	want = atoi(argv[1]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_env_sets_level),
		cmocka_unit_test(test_log_env_filters),
		cmocka_unit_test(test_log_env_overridden),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
