// SPDX-License-Identifier: MIT
// Kernel TLS hand-off.
//
// The kernel's "tls" upper-layer protocol is probed once per process: on
// a TCP socket that is not connected, setsockopt(TCP_ULP, "tls") fails
// with ENOTCONN when the module is there and ENOENT when it is not.
//
// Only OpenSSL knows the keys and record sequence numbers the kernel
// needs, and it installs them itself when it runs the handshake on the
// socket with SSL_OP_ENABLE_KTLS. So when the config allows kernel TLS and
// the kernel has it, the handshake runs on the fd (made non-blocking
// meanwhile, waiting with kio polls), and afterwards each direction the
// kernel did not take goes back to the BIO pair and the user-space path.
#include <cerrno>
#include <cstdlib>
#include <mutex>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "core/guard.hpp"
#include "tls/internal.hpp"

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

namespace kio::tls {

namespace {

// Tests set KIO_TLS_FORCE_SOCKET_HANDSHAKE=1 to run the socket handshake
// (and the way back to the BIO pair) on kernels without "tls" as well.
bool forced() noexcept
{
	static const bool force = [] {
		const char *v = getenv("KIO_TLS_FORCE_SOCKET_HANDSHAKE");
		return v && v[0] == '1';
	}();
	return force;
}

bool is_tcp(int fd) noexcept
{
	int proto = 0;
	socklen_t len = sizeof(proto);
	return getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == 0 && proto == IPPROTO_TCP;
}

} // namespace

bool ktls_kernel_available() noexcept
{
	static std::once_flag once;
	static bool available = false;
	std::call_once(once, [] {
		ErrnoKeeper keep_errno;
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return;
		if (setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) == 0 ||
		    errno == ENOTCONN)
			available = true;
		close(fd);
	});
	return available;
}

bool ktls_prepare(kio_tls *t) noexcept
{
	if (!t->config->ktls || !(ktls_kernel_available() || forced()))
		return false;
	ErrnoKeeper keep_errno;
	if (!is_tcp(t->fd))
		return false;
	int fl = fcntl(t->fd, F_GETFL);
	if (fl < 0)
		return false;
	BIO *sock = BIO_new_socket(t->fd, BIO_NOCLOSE);
	if (!sock) {
		ERR_clear_error();
		return false;
	}
	if (!(fl & O_NONBLOCK)) {
		if (fcntl(t->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
			BIO_free(sock);
			return false;
		}
		t->fd_flags = fl;
	}
	SSL_set_bio(t->ssl, sock, sock); // drops OpenSSL's references to the pair
	SSL_set_options(t->ssl, SSL_OP_ENABLE_KTLS);
	t->on_socket = true;
	return true;
}

void ktls_restore_fd(kio_tls *t) noexcept
{
	if (t->fd_flags < 0)
		return;
	ErrnoKeeper keep_errno;
	fcntl(t->fd, F_SETFL, t->fd_flags);
	t->fd_flags = -1;
}

unsigned ktls_take(kio_tls *t) noexcept
{
	ktls_restore_fd(t);
	unsigned bits = 0;
	if (BIO_get_ktls_send(SSL_get_wbio(t->ssl)))
		bits |= KIO_TLS_KTLS_TX;
	if (BIO_get_ktls_recv(SSL_get_rbio(t->ssl)))
		bits |= KIO_TLS_KTLS_RX;
	// Directions left to user space read and write the BIO pair again.
	// The socket BIO never reads ahead, so nothing of the peer's is lost.
	if (!(bits & KIO_TLS_KTLS_RX)) {
		BIO_up_ref(t->inner);
		SSL_set0_rbio(t->ssl, t->inner);
	}
	if (!(bits & KIO_TLS_KTLS_TX)) {
		BIO_up_ref(t->inner);
		SSL_set0_wbio(t->ssl, t->inner);
	}
	ERR_clear_error();
	return bits;
}

} // namespace kio::tls
