/* SPDX-License-Identifier: MIT */
/*
 * A first program as a user writes it against an installed kio: only
 * <kio/kio.h> and the flags `pkg-config --cflags --libs kio` gives.
 * argv[1] is the version the build was configured with.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <kio/kio.h>

struct nop_result {
	int calls;
	int32_t res;
	uint32_t flags;
};

static void on_nop(void *user_data, int32_t res, uint32_t flags)
{
	struct nop_result *r = user_data;

	r->calls++;
	r->res = res;
	r->flags = flags;
}

int main(int argc, char **argv)
{
	struct nop_result r = { 0, -1, 0 };
	kio_ctx *ctx = NULL;
	uint32_t want = (KIO_VERSION_MAJOR << 16) | (KIO_VERSION_MINOR << 8) | KIO_VERSION_PATCH;
	int64_t id;
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: %s EXPECTED_VERSION\n", argv[0]);
		return 2;
	}
	if (strcmp(kio_version_string(), argv[1]) != 0 || kio_version() != want) {
		fprintf(stderr, "version mismatch: library %s (0x%06x), expected %s (0x%06x)\n",
			kio_version_string(), (unsigned)kio_version(), argv[1], (unsigned)want);
		return 1;
	}

	err = kio_ctx_create(&ctx, NULL, 0);
	if (err == -EPERM || err == -ENOSYS) {
		printf("io_uring unavailable (%s): skipping\n", kio_strerror(err));
		return 77;
	}
	if (err < 0) {
		fprintf(stderr, "kio_ctx_create: %s\n", kio_strerror(err));
		return 1;
	}

	id = kio_nop(ctx, on_nop, &r);
	if (id < 0) {
		fprintf(stderr, "kio_nop: %s\n", kio_strerror((int)id));
		kio_ctx_destroy(ctx);
		return 1;
	}
	if (r.calls != 0) {
		fprintf(stderr, "callback ran inside kio_nop\n");
		kio_ctx_destroy(ctx);
		return 1;
	}
	err = kio_ctx_run(ctx);
	kio_ctx_destroy(ctx);
	if (err != 0 || r.calls != 1 || r.res != 0 || r.flags != 0) {
		fprintf(stderr, "run=%d calls=%d res=%d flags=0x%x, expected 0 1 0 0x0\n", err,
			r.calls, (int)r.res, (unsigned)r.flags);
		return 1;
	}

	printf("kio %s: nop completed\n", kio_version_string());
	return 0;
}
