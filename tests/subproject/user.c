/* SPDX-License-Identifier: MIT */
/* A program built against kio as a Meson subproject: one NOP through the loop. */
#include <kio/kio.h>
#include <stdio.h>

static void on_nop(void *user_data, int32_t res, uint32_t flags)
{
	(void)flags;
	*(int32_t *)user_data = res;
}

int main(void)
{
	kio_ctx *ctx;
	int32_t res = -1;
	int rc = kio_ctx_create(&ctx, NULL, 0);
	if (rc < 0) {
		fprintf(stderr, "kio_ctx_create: %s\n", kio_strerror(rc));
		return 1;
	}
	if (kio_nop(ctx, on_nop, &res) < 0 || kio_ctx_run(ctx) < 0 || res != 0)
		return 1;
	kio_ctx_destroy(ctx);
	printf("kio %s as a subproject: nop completed\n", kio_version_string());
	return 0;
}
