/* SPDX-License-Identifier: MIT */
/* kio_version, kio_version_string and kio_strerror. */
#include "kio_test.h"

static void test_version_number(void **state)
{
	(void)state;
	uint32_t want = ((uint32_t)KIO_VERSION_MAJOR << 16) | ((uint32_t)KIO_VERSION_MINOR << 8) |
			(uint32_t)KIO_VERSION_PATCH;
	assert_int_equal(kio_version(), want);
	assert_int_equal(kio_version(), 0x000400u);
	assert_int_equal(kio_version() >> 16, KIO_VERSION_MAJOR);
	assert_int_equal((kio_version() >> 8) & 0xff, KIO_VERSION_MINOR);
	assert_int_equal(kio_version() & 0xff, KIO_VERSION_PATCH);
}

static void test_version_string(void **state)
{
	(void)state;
	char want[32];
	const char *s = kio_version_string();
	assert_non_null(s);
	snprintf(want, sizeof(want), "%d.%d.%d", KIO_VERSION_MAJOR, KIO_VERSION_MINOR,
		 KIO_VERSION_PATCH);
	assert_string_equal(s, want);
	assert_string_equal(s, "0.4.0");
	/* A static string: the same one every time. */
	assert_ptr_equal(kio_version_string(), s);
}

static void test_version_strerror_known(void **state)
{
	(void)state;
	assert_string_equal(kio_strerror(-EINVAL), "Invalid argument");
	assert_string_equal(kio_strerror(-ENOENT), "No such file or directory");
	assert_string_equal(kio_strerror(-EBADF), strerror(EBADF));
	assert_string_equal(kio_strerror(-ECANCELED), strerror(ECANCELED));
	assert_string_equal(kio_strerror(-ETIMEDOUT), strerror(ETIMEDOUT));
	assert_string_equal(kio_strerror(-EPIPE), strerror(EPIPE));
	assert_string_equal(kio_strerror(-ESHUTDOWN), strerror(ESHUTDOWN));
}

/* Every errno the C library names gets the same description. */
static void test_version_strerror_matches_libc(void **state)
{
	(void)state;
	for (int e = 1; e < 134; e++) {
		char libc[256];
		snprintf(libc, sizeof(libc), "%s", strerror(e));
		if (strncmp(libc, "Unknown error", 13) == 0)
			continue;
		const char *s = kio_strerror(-e);
		assert_non_null(s);
		if (strcmp(s, libc) != 0)
			fail_msg("kio_strerror(-%d) = \"%s\", expected \"%s\"", e, s, libc);
	}
}

static void test_version_strerror_success(void **state)
{
	(void)state;
	assert_string_equal(kio_strerror(0), "Success");
	assert_string_equal(kio_strerror(1), "Success");
	assert_string_equal(kio_strerror(EINVAL), "Success");
	assert_string_equal(kio_strerror(INT32_MAX), "Success");
}

static void test_version_strerror_unknown(void **state)
{
	(void)state;
	assert_string_equal(kio_strerror(-4095), "Unknown error");
	assert_string_equal(kio_strerror(-100000), "Unknown error");
	assert_string_equal(kio_strerror(-INT32_MAX), "Unknown error");
	/* Its negation does not fit in an int: must not crash or read out of bounds. */
	assert_string_equal(kio_strerror(INT32_MIN), "Unknown error");
}

/* The strings are static: concurrent callers get stable pointers. */
static void *strerror_thread(void *arg)
{
	(void)arg;
	const char *first = kio_strerror(-EINVAL);
	for (int i = 0; i < 10000; i++) {
		if (kio_strerror(-EINVAL) != first || kio_strerror(-ENOENT)[0] != 'N')
			return (void *)1;
	}
	return NULL;
}

static void test_version_strerror_threads(void **state)
{
	(void)state;
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, strerror_thread, NULL), 0);
	for (int i = 0; i < 4; i++) {
		void *ret = (void *)1;
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		KT_TEST(test_version_number),
		KT_TEST(test_version_string),
		KT_TEST(test_version_strerror_known),
		KT_TEST(test_version_strerror_matches_libc),
		KT_TEST(test_version_strerror_success),
		KT_TEST(test_version_strerror_unknown),
		KT_TEST(test_version_strerror_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
