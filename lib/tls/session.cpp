// SPDX-License-Identifier: MIT
// kio_tls sessions: creation, destruction and what they report.
#include <cerrno>
#include <cstring>
#include <new>

#include <arpa/inet.h>
#include <fcntl.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "core/guard.hpp"
#include "tls/internal.hpp"

namespace kio::tls {

void session_free(kio_tls *t) noexcept
{
	SSL_free(t->ssl);
	BIO_free(t->inner);
	BIO_free(t->net);
	config_unref(t->config);
	delete t;
}

} // namespace kio::tls

using namespace kio;
using namespace kio::tls;

KIO_API int kio_tls_create(kio_tls **out, kio_ctx *ctx, kio_tls_config *config, int fd,
			   uint32_t flags) noexcept
{
	if (!out)
		return -EINVAL;
	*out = nullptr;
	if (!ctx || !config || (flags != KIO_TLS_CLIENT && flags != KIO_TLS_SERVER))
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	{
		ErrnoKeeper keep_errno;
		if (fcntl(fd, F_GETFD) < 0)
			return -EBADF;
	}
	auto *t = new (std::nothrow) kio_tls();
	if (!t)
		return -ENOMEM;
	ERR_clear_error();
	BIO *inner = nullptr;
	t->ssl = SSL_new(config->ssl_ctx);
	if (!t->ssl || BIO_new_bio_pair(&inner, kOutBytes, &t->net, kInBytes) != 1) {
		drain_errors(config->last_error);
		SSL_free(t->ssl);
		delete t;
		return -ENOMEM;
	}
	SSL_set_bio(t->ssl, inner, inner);
	BIO_up_ref(inner); // kept for going back from the socket after a handshake there
	t->inner = inner;
	t->ctx = ctx;
	t->config = config;
	config_ref(config);
	t->fd = fd;
	t->server = flags == KIO_TLS_SERVER;
	if (t->server)
		SSL_set_accept_state(t->ssl);
	else
		SSL_set_connect_state(t->ssl);
	t->hs.tls = t->rd.tls = t->wr.tls = t;
	t->hs.kind = Job::Kind::Handshake;
	t->rd.kind = Job::Kind::Read;
	t->wr.kind = Job::Kind::Write;
	*out = t;
	return 0;
}

KIO_API void kio_tls_destroy(kio_tls *tls) noexcept
{
	if (!tls || tls->destroyed)
		return;
	tls->destroyed = true;
	if (tls->in_flight == 0) {
		session_free(tls);
		return;
	}
	// The ops end from the loop with -ECANCELED; the last one frees the
	// session, once the kernel handed back the buffers it was using.
	kio_ctx *c = tls->ctx;
	for (Job *j : {&tls->hs, &tls->rd, &tls->wr}) {
		if (j->phase == Job::Phase::Idle)
			continue;
		Op *op = c->ops.lookup(j->id);
		if (op && !(op->state & (kCompleting | kCancelReq)))
			cancel_op(c, OpTable::index_of(j->id));
	}
	embed_kick(c);
}

KIO_API int kio_tls_set_server_name(kio_tls *tls, const char *name) noexcept
{
	size_t n = name ? strlen(name) : 0;
	if (!tls || tls->server || n == 0 || n > 255)
		return -EINVAL;
	if (tls->handshaken || tls->hs.phase != Job::Phase::Idle || tls->failed)
		return -EISCONN;
	return guard<int>([&] {
		tls->server_name = name;
		return 0;
	});
}

KIO_API int kio_tls_version(const kio_tls *tls) noexcept
{
	return tls && tls->handshaken ? tls->version : 0;
}

KIO_API const char *kio_tls_alpn(const kio_tls *tls) noexcept
{
	return tls && tls->handshaken && tls->alpn[0] ? tls->alpn : nullptr;
}

KIO_API const char *kio_tls_server_name(const kio_tls *tls) noexcept
{
	if (!tls || !tls->server)
		return nullptr;
	return SSL_get_servername(tls->ssl, TLSEXT_NAMETYPE_host_name);
}

KIO_API uint32_t kio_tls_ktls(const kio_tls *tls) noexcept
{
	return tls && tls->handshaken ? tls->ktls : 0;
}

KIO_API const char *kio_tls_last_error(const kio_tls *tls) noexcept
{
	return tls ? tls->last_error : "";
}
