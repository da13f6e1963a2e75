// SPDX-License-Identifier: MIT
// kio_resolve(): getaddrinfo(3) as a job of the blocking pool. host,
// service and hints are copied into the request when the call is made, so
// the caller's strings may be temporaries; only out is borrowed, and it is
// written on the ctx thread, just before the callback.
#include <cerrno>
#include <cstring>
#include <string>

#include <netdb.h>

#include "core/ctx.hpp"
#include "core/guard.hpp"
#include "pool/pool.hpp"

namespace {

struct ResolveReq {
	std::string host;
	std::string service;
	bool has_host;
	bool has_service;
	bool has_hints;
	addrinfo hints;
	addrinfo **out;
	addrinfo *list; // written by the pool thread
};

// getaddrinfo's EAI_* codes as the negated errno values net.h documents.
int map_eai(int rc, int sys_errno) noexcept
{
	switch (rc) {
	case 0:
		return 0;
	case EAI_NONAME:
	case EAI_NODATA:
		return -ENOENT;
	case EAI_AGAIN:
		return -EAGAIN;
	case EAI_BADFLAGS:
	case EAI_SERVICE:
	case EAI_SOCKTYPE:
		return -EINVAL;
	case EAI_FAMILY:
	case EAI_ADDRFAMILY:
		return -EAFNOSUPPORT;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_SYSTEM:
		return sys_errno > 0 ? -sys_errno : -EIO;
	default: // EAI_FAIL and anything newer
		return -EIO;
	}
}

// On a pool thread.
int resolve_work(void *arg)
{
	ResolveReq *r = static_cast<ResolveReq *>(arg);
	errno = 0;
	int rc = getaddrinfo(r->has_host ? r->host.c_str() : nullptr,
			     r->has_service ? r->service.c_str() : nullptr,
			     r->has_hints ? &r->hints : nullptr, &r->list);
	int res = map_eai(rc, errno);
	if (res < 0)
		r->list = nullptr;
	return res;
}

// On the ctx thread, just before the callback; res is -ECANCELED when
// getaddrinfo never ran.
void resolve_finish(void *arg, int32_t res)
{
	ResolveReq *r = static_cast<ResolveReq *>(arg);
	if (res == 0 && r->list) {
		*r->out = r->list;
	} else {
		if (r->list)
			freeaddrinfo(r->list);
		*r->out = nullptr;
	}
	delete r;
}

} // namespace

KIO_API int64_t kio_resolve(kio_ctx *ctx, kio_pool *pool, const char *host, const char *service,
			    const struct addrinfo *hints, struct addrinfo **out, kio_cb cb,
			    void *user_data) noexcept
{
	if (int rc = kio::begin_check(ctx, cb))
		return rc;
	if (!pool || !out || (!host && !service))
		return -EINVAL;
	return kio::guard<int64_t>([&]() -> int64_t {
		ResolveReq *r = new ResolveReq();
		r->has_host = host != nullptr;
		r->has_service = service != nullptr;
		try {
			if (host)
				r->host = host;
			if (service)
				r->service = service;
		} catch (...) {
			delete r;
			throw;
		}
		// Only the four fields getaddrinfo reads from hints; the rest
		// must be zero.
		memset(&r->hints, 0, sizeof(r->hints));
		r->has_hints = hints != nullptr;
		if (hints) {
			r->hints.ai_flags = hints->ai_flags;
			r->hints.ai_family = hints->ai_family;
			r->hints.ai_socktype = hints->ai_socktype;
			r->hints.ai_protocol = hints->ai_protocol;
		}
		r->out = out;
		r->list = nullptr;
		int64_t id;
		try {
			id = kio::pool_start(ctx, pool, resolve_work, r, resolve_finish, cb,
					     user_data);
		} catch (...) {
			delete r;
			throw;
		}
		if (id < 0) {
			delete r;
			return id;
		}
		*out = nullptr;
		return id;
	});
}
