// SPDX-License-Identifier: MIT
// The write side of a session once its handshake is over: a BIO that never
// copies. OpenSSL writes each record into its own record buffer and hands
// that buffer to its write BIO. The BIO pair copied it into its ring; this
// BIO instead remembers the region (kio_tls::out_ptr/out_len) and asks
// OpenSSL to retry. kio sends the region straight from OpenSSL's buffer,
// and when OpenSSL retries with the same region - which it must, the
// record buffer holds the record until it is written - the BIO reports the
// bytes the send took. The buffer stays put meanwhile: OpenSSL only frees
// or moves it once the record is gone, and the session is freed only after
// its last op (and so its last send) ended.
#include <openssl/bio.h>

#include "tls/internal.hpp"

namespace kio::tls {

namespace {

int direct_write(BIO *b, const char *data, int len)
{
	auto *t = static_cast<kio_tls *>(BIO_get_data(b));
	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	if (t->out_ptr) {
		if (t->out_sent == 0) {
			// Still being sent (a retry before the send ended).
			BIO_set_retry_write(b);
			return -1;
		}
		if (data != t->out_ptr)
			return -1; // not the record being sent: a hard error, not a loop
		size_t n = t->out_sent < size_t(len) ? t->out_sent : size_t(len);
		t->out_ptr = nullptr;
		t->out_len = 0;
		t->out_sent = 0;
		return int(n);
	}
	t->out_ptr = data;
	t->out_len = size_t(len);
	t->out_sent = 0;
	BIO_set_retry_write(b);
	return -1;
}

long direct_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)num;
	(void)ptr;
	auto *t = static_cast<kio_tls *>(BIO_get_data(b));
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		BIO_clear_retry_flags(b);
		if (t && t->out_ptr) {
			BIO_set_retry_write(b);
			return -1;
		}
		return 1;
	case BIO_CTRL_WPENDING:
		return t && t->out_ptr ? long(t->out_len) : 0;
	case BIO_CTRL_PENDING:
		return 0;
	default:
		return 0;
	}
}

int direct_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

BIO_METHOD *direct_method() noexcept
{
	// Made once per process (thread-safe static initialisation) and kept.
	static BIO_METHOD *m = [] {
		BIO_METHOD *bm =
			BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "kio direct send");
		if (bm && (BIO_meth_set_write(bm, direct_write) != 1 ||
			   BIO_meth_set_ctrl(bm, direct_ctrl) != 1 ||
			   BIO_meth_set_create(bm, direct_create) != 1)) {
			BIO_meth_free(bm);
			bm = nullptr;
		}
		return bm;
	}();
	return m;
}

} // namespace

bool direct_install(kio_tls *t) noexcept
{
	BIO_METHOD *m = direct_method();
	BIO *b = m ? BIO_new(m) : nullptr;
	if (!b)
		return false;
	BIO_set_data(b, t);
	SSL_set0_wbio(t->ssl, b); // drops OpenSSL's write reference to the pair
	t->direct = true;
	return true;
}

} // namespace kio::tls
