// SPDX-License-Identifier: MIT
#include <cerrno>
#include <cstring>

#include "core/ctx.hpp"

KIO_API int kio_ctx_stats(const kio_ctx *ctx, kio_stats *out, size_t out_size) noexcept
{
	if (!ctx || !out)
		return -EINVAL;
	kio_stats s = ctx->stats;
	s.enter_calls = ctx->ring.enter_calls;
	s.ops_completed = kio::ops_completed(ctx);
	size_t n = out_size < sizeof(s) ? out_size : sizeof(s);
	memcpy(out, &s, n);
	if (out_size > n)
		memset(reinterpret_cast<unsigned char *>(out) + n, 0, out_size - n);
	return 0;
}
