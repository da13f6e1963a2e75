// SPDX-License-Identifier: MIT
// The session ops: kio_tls_handshake(), _read(), _write(), _shutdown().
//
// Each is one hooked kernel op with its own id. Its steps are SQEs tagged
// with that id - a recv into the BIO pair's incoming region, a send of its
// outgoing region, a poll while another op of the session is sending, or a
// NOP carrying a result decided without I/O - so kio_op_cancel() and
// kio_op_timeout() reach whichever step is in flight, and the callback
// always runs from the loop, exactly once.
//
// Between steps, advance() asks OpenSSL what it needs next. A read and a
// write may run together: they share the SSL object (one thread, so calls
// never overlap) and the outgoing BIO, of which one send at a time is in
// flight (kio_tls::send_busy); the other op polls for POLLOUT meanwhile.
#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <climits>
#include <cstring>

#include <cstdio>

#include <linux/tls.h>
#include <poll.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "core/guard.hpp"
#include "tls/internal.hpp"

namespace kio::tls {

namespace {

using Phase = Job::Phase;

// What a job does next: a step, or its result.
struct Next {
	Phase phase;
	int32_t result = 0;
	char *ptr = nullptr;
	size_t len = 0;
};

Next result(int32_t res)
{
	return Next{Phase::Result, res};
}

// Bytes waiting for a send to start.
size_t out_pending(const kio_tls *t)
{
	if (t->direct)
		return t->out_ptr && t->out_sent == 0 ? t->out_len : 0;
	return BIO_ctrl_pending(t->net);
}

// Bytes of records handed to the write side that have not left: nonzero
// when a stop now would tear a record.
size_t out_unsent(const kio_tls *t)
{
	if (t->direct)
		return t->out_ptr ? t->out_len - t->out_sent : 0;
	return BIO_ctrl_pending(t->net);
}

// Sends what the outgoing BIO holds, or waits for the op sending it.
Next flush(kio_tls *t)
{
	if (t->send_busy)
		return Next{Phase::Wait};
	if (t->direct) {
		if (!t->out_ptr || t->out_sent) {
			set_error(t->last_error, "internal: nothing to send");
			return result(-EPROTO);
		}
		return Next{Phase::Send, 0, const_cast<char *>(t->out_ptr), t->out_len};
	}
	char *p = nullptr;
	int n = BIO_nread0(t->net, &p);
	if (n <= 0) {
		set_error(t->last_error, "internal: nothing to send");
		return result(-EPROTO);
	}
	return Next{Phase::Send, 0, p, size_t(n)};
}

Next receive(kio_tls *t)
{
	if (t->peer_eof) {
		set_error(t->last_error, "the peer closed the connection without close_notify");
		return result(-ECONNABORTED);
	}
	char *p = nullptr;
	int n = BIO_nwrite0(t->net, &p);
	if (n <= 0) {
		set_error(t->last_error, "internal: receive buffer full");
		return result(-EPROTO);
	}
	return Next{Phase::Recv, 0, p, size_t(n)};
}

// A failure is decided; the alert OpenSSL queued for the peer goes out
// first when the session's sender is free.
Next failing(Job &j)
{
	kio_tls *t = j.tls;
	if (out_pending(t) && !t->send_busy)
		return flush(t);
	return result(j.fail);
}

void handshake_done(kio_tls *t)
{
	t->handshaken = true;
	t->version = SSL_version(t->ssl) == TLS1_3_VERSION ? KIO_TLS_VERSION_1_3 :
							     KIO_TLS_VERSION_1_2;
	const unsigned char *p = nullptr;
	unsigned n = 0;
	SSL_get0_alpn_selected(t->ssl, &p, &n);
	n = std::min<unsigned>(n, sizeof(t->alpn) - 1);
	if (p && n)
		memcpy(t->alpn, p, n);
	t->alpn[n] = '\0';
}

// The handshake on the socket (kernel TLS wanted): OpenSSL reads and
// writes the fd itself; kio polls for what it waits for.
Next advance_socket_handshake(Job &j)
{
	kio_tls *t = j.tls;
	clear_errors();
	int r = SSL_do_handshake(t->ssl);
	if (r == 1) {
		t->on_socket = false;
		t->ktls = ktls_take(t);
		handshake_done(t);
		return result(0);
	}
	int e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		return Next{Phase::Poll, 0, nullptr, POLLIN};
	if (e == SSL_ERROR_WANT_WRITE)
		return Next{Phase::Poll, 0, nullptr, POLLOUT};
	return result(map_error(t, e)); // OpenSSL sent its alert itself
}

Next advance_handshake(Job &j)
{
	kio_tls *t = j.tls;
	if (j.fail)
		return failing(j);
	if (t->on_socket)
		return advance_socket_handshake(j);
	clear_errors();
	int r = SSL_do_handshake(t->ssl);
	if (r == 1) {
		// The last flight (a server's tickets, a client's Finished) goes
		// out before the handshake counts as done.
		if (out_pending(t))
			return flush(t);
		handshake_done(t);
		// The pair's outgoing half is empty: from now on records leave
		// from OpenSSL's buffer (if the BIO cannot be made, the pair
		// goes on serving).
		direct_install(t);
		return result(0);
	}
	int e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		return out_pending(t) ? flush(t) : receive(t);
	if (e == SSL_ERROR_WANT_WRITE)
		return flush(t);
	j.fail = map_error(t, e);
	return failing(j);
}

Next advance_read(Job &j)
{
	kio_tls *t = j.tls;
	if (j.fail)
		return failing(j);
	if (t->close_seen)
		return result(0);
	if (t->ktls & KIO_TLS_KTLS_RX) {
		// The kernel decrypts; the record type comes as a control message.
		if (t->peer_eof) {
			set_error(t->last_error,
				  "the peer closed the connection without close_notify");
			return result(-ECONNABORTED);
		}
		j.iov = iovec{j.buf, j.len};
		j.msg = msghdr{};
		j.msg.msg_iov = &j.iov;
		j.msg.msg_iovlen = 1;
		j.msg.msg_control = j.ctrl.buf;
		j.msg.msg_controllen = sizeof(j.ctrl.buf);
		return Next{Phase::KRecv};
	}
	clear_errors();
	int r = SSL_read(t->ssl, j.buf, int(j.len));
	if (r > 0)
		return result(r);
	int e = SSL_get_error(t->ssl, r);
	switch (e) {
	case SSL_ERROR_ZERO_RETURN:
		t->close_seen = true;
		return result(0);
	case SSL_ERROR_WANT_READ:
		// Records OpenSSL queued while reading (a key update answer) go
		// out before waiting, unless a write is sending anyway.
		if (out_pending(t) && !t->send_busy)
			return flush(t);
		return receive(t);
	case SSL_ERROR_WANT_WRITE:
		return flush(t);
	default:
		j.fail = map_error(t, e);
		return failing(j);
	}
}

Next advance_write(Job &j)
{
	kio_tls *t = j.tls;
	if (j.fail)
		return failing(j);
	if (t->ktls & KIO_TLS_KTLS_TX) {
		// The kernel encrypts: plaintext goes straight to the socket.
		if (j.done == j.len)
			return result(int32_t(j.len));
		return Next{Phase::KSend, 0, reinterpret_cast<char *>(j.buf + j.done),
			    j.len - j.done};
	}
	while (j.done < j.len) {
		clear_errors();
		int r = SSL_write(t->ssl, j.buf + j.done, int(j.len - j.done));
		if (r > 0) {
			j.done += size_t(r);
			continue;
		}
		int e = SSL_get_error(t->ssl, r);
		if (e == SSL_ERROR_WANT_WRITE)
			break; // the outgoing BIO is full: send, then go on
		j.fail = map_error(t, e);
		return failing(j);
	}
	if (out_pending(t))
		return flush(t);
	if (j.done == j.len)
		return result(int32_t(j.len));
	set_error(t->last_error, "internal: write made no progress");
	return result(-EPROTO);
}

// close_notify through kernel TLS: an alert record (warning, close_notify).
Next ktls_close_notify(Job &j)
{
	if (j.closing)
		return result(0);
	j.alert[0] = 1;
	j.alert[1] = 0;
	j.iov = iovec{j.alert, sizeof(j.alert)};
	j.msg = msghdr{};
	j.msg.msg_iov = &j.iov;
	j.msg.msg_iovlen = 1;
	j.msg.msg_control = j.ctrl.buf;
	j.msg.msg_controllen = CMSG_SPACE(1);
	cmsghdr *cm = CMSG_FIRSTHDR(&j.msg);
	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(1);
	*CMSG_DATA(cm) = 21; // alert
	return Next{Phase::KAlert};
}

Next advance_shutdown(Job &j)
{
	kio_tls *t = j.tls;
	if (j.fail)
		return failing(j);
	if (t->ktls & KIO_TLS_KTLS_TX)
		return ktls_close_notify(j);
	if (!j.closing) {
		clear_errors();
		int r = SSL_shutdown(t->ssl);
		if (r >= 0) {
			j.closing = true;
			t->close_sent = true;
		} else {
			int e = SSL_get_error(t->ssl, r);
			if (e == SSL_ERROR_WANT_WRITE)
				return flush(t);
			j.fail = map_error(t, e);
			return failing(j);
		}
	}
	if (out_pending(t))
		return flush(t);
	return result(0);
}

Next advance(Job &j)
{
	switch (j.kind) {
	case Job::Kind::Handshake:
		return advance_handshake(j);
	case Job::Kind::Read:
		return advance_read(j);
	case Job::Kind::Write:
		return advance_write(j);
	case Job::Kind::Shutdown:
		break;
	}
	return advance_shutdown(j);
}

// Ends the job's op: the session forgets it, then the user's callback runs.
void finish(kio_ctx *c, uint32_t idx, Job &j, int32_t res)
{
	kio_tls *t = j.tls;
	if (interrupted(res) && ((c->ops.at(idx).state & kCancelReq) || c->destroying))
		res = -ECANCELED;
	switch (j.kind) {
	case Job::Kind::Handshake:
		ktls_restore_fd(t);
		if (res != 0)
			t->failed = true;
		break;
	case Job::Kind::Write:
		// Encrypted bytes that did not all leave: the peer would see
		// a torn record stream, so the session cannot go on.
		if (res != int32_t(j.len) && (j.done > 0 || out_unsent(t)))
			t->broken = true;
		break;
	case Job::Kind::Shutdown:
		if (res != 0 && j.closing && out_unsent(t))
			t->broken = true;
		break;
	case Job::Kind::Read:
		break;
	}
	j.phase = Phase::Idle;
	j.id = -1;
	j.buf = nullptr;
	t->in_flight--;
	bool free_now = t->destroyed && t->in_flight == 0;
	if (t->destroyed)
		res = -ECANCELED;
	complete_op(c, idx, res, 0);
	if (free_now)
		session_free(t);
}

// Fills sqe (already tagged with the op id) with step n.
void prep(kio_tls *t, Job &j, io_uring_sqe *sqe, const Next &n)
{
	uint64_t ud = sqe->user_data;
	switch (n.phase) {
	case Phase::Recv:
		io_uring_prep_recv(sqe, t->fd, n.ptr, n.len, 0);
		break;
	case Phase::Send:
		io_uring_prep_send(sqe, t->fd, n.ptr, n.len, MSG_NOSIGNAL);
		t->send_busy = true;
		break;
	case Phase::Wait:
		io_uring_prep_poll_add(sqe, t->fd, POLLOUT);
		break;
	case Phase::Poll:
		io_uring_prep_poll_add(sqe, t->fd, unsigned(n.len));
		break;
	case Phase::KRecv:
		io_uring_prep_recvmsg(sqe, t->fd, &j.msg, 0);
		break;
	case Phase::KSend:
		io_uring_prep_send(sqe, t->fd, n.ptr, n.len, MSG_NOSIGNAL);
		break;
	case Phase::KAlert:
		io_uring_prep_sendmsg(sqe, t->fd, &j.msg, MSG_NOSIGNAL);
		break;
	case Phase::Result:
	case Phase::Idle:
		io_uring_prep_nop(sqe);
		j.result = n.result;
		break;
	}
	j.phase = n.phase == Phase::Idle ? Phase::Result : n.phase;
	sqe->user_data = ud;
}

// A kernel TLS receive completed with res bytes (0: end of stream).
// Returns whether the op goes on (a handshake record was skipped).
bool ktls_received(kio_ctx *c, uint32_t idx, Job &j, int32_t res)
{
	kio_tls *t = j.tls;
	if (res == 0) {
		t->peer_eof = true;
		return true; // advance_read() reports the truncation
	}
	unsigned char type = 23; // application data
	for (cmsghdr *cm = CMSG_FIRSTHDR(&j.msg); cm; cm = CMSG_NXTHDR(&j.msg, cm))
		if (cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE)
			type = *CMSG_DATA(cm);
	switch (type) {
	case 23:
		finish(c, idx, j, res);
		return false;
	case 22: // post-handshake messages (session tickets): not for the reader
		return true;
	case 21:
		if (res >= 2 && j.buf[1] == 0) { // close_notify
			t->close_seen = true;
			finish(c, idx, j, 0);
			return false;
		}
		snprintf(t->last_error, kTlsErrLen, "TLS alert %u received",
			 res >= 2 ? j.buf[1] : 0u);
		finish(c, idx, j, -EPROTO);
		return false;
	default:
		snprintf(t->last_error, kTlsErrLen, "unexpected TLS record type %u", type);
		finish(c, idx, j, -EPROTO);
		return false;
	}
}

void tls_step(kio_ctx *c, uint32_t idx, int32_t res, uint32_t flags)
{
	(void)flags;
	Job &j = *static_cast<Job *>(c->ops.at(idx).ext);
	kio_tls *t = j.tls;
	switch (j.phase) {
	case Phase::Result:
		finish(c, idx, j, j.result);
		return;
	case Phase::Recv:
		if (res > 0) {
			char *p = nullptr;
			BIO_nwrite(t->net, &p, res); // the kernel filled the region
		} else if (res == 0) {
			t->peer_eof = true;
		} else {
			finish(c, idx, j, res);
			return;
		}
		break;
	case Phase::Send:
		t->send_busy = false;
		if (res > 0 && t->direct) {
			t->out_sent = size_t(res); // told to OpenSSL by its next write
		} else if (res > 0) {
			char *p = nullptr;
			BIO_nread(t->net, &p, res); // those bytes left
		} else {
			t->broken = true;
			finish(c, idx, j, j.fail ? j.fail : res == 0 ? -EPIPE : res);
			return;
		}
		break;
	case Phase::Wait:
	case Phase::Poll:
		if (res < 0) {
			finish(c, idx, j, res);
			return;
		}
		break;
	case Phase::KRecv:
		if (res < 0) {
			finish(c, idx, j, res);
			return;
		}
		if (!ktls_received(c, idx, j, res))
			return;
		break;
	case Phase::KSend:
		if (res <= 0) {
			finish(c, idx, j, res == 0 ? -EPIPE : res);
			return;
		}
		j.done += size_t(res);
		break;
	case Phase::KAlert:
		if (res <= 0) {
			finish(c, idx, j, res == 0 ? -EPIPE : res);
			return;
		}
		j.closing = true;
		t->close_sent = true;
		break;
	case Phase::Idle:
		return;
	}
	// A cancel, a timeout or a destroy asked the op to stop: what arrived
	// stays in the BIO for the next op.
	if ((c->ops.at(idx).state & kCancelReq) || t->destroyed || c->destroying) {
		finish(c, idx, j, j.fail ? j.fail : -ECANCELED);
		return;
	}
	Next n = advance(j);
	if (n.phase == Phase::Result) {
		finish(c, idx, j, n.result);
		return;
	}
	int err = 0;
	io_uring_sqe *sqe = step_sqe(c, idx, &err);
	if (!sqe) {
		finish(c, idx, j, err);
		return;
	}
	prep(t, j, sqe, n);
}

const Hook kTlsHook{tls_step, nullptr};

// Starts job j's op: a slot and an SQE first, so that whatever OpenSSL
// does next is always delivered through the loop.
int64_t start(kio_tls *t, Job &j, kio_cb cb, void *user_data)
{
	return guard<int64_t>([&]() -> int64_t {
		io_uring_sqe *sqe = nullptr;
		int64_t id = start_hooked(t->ctx, cb, user_data, IORING_OP_NOP, t->fd, false,
					  &kTlsHook, &j, &sqe);
		if (id < 0)
			return id;
		j.id = id;
		j.done = 0;
		j.fail = 0;
		// A second shutdown only flushes what the first one queued.
		j.closing = j.kind == Job::Kind::Shutdown && t->close_sent;
		t->in_flight++;
		prep(t, j, sqe, advance(j));
		sqe->user_data = uint64_t(id);
		return id;
	});
}

bool is_ip_literal(const char *name)
{
	unsigned char a[16];
	return inet_pton(AF_INET, name, a) == 1 || inet_pton(AF_INET6, name, a) == 1;
}

// Verification and SNI settings of a client, read when its handshake starts.
int client_setup(kio_tls *t)
{
	kio_tls_config *cfg = t->config;
	const std::string &name = t->server_name.empty() ? cfg->server_name : t->server_name;
	ERR_clear_error();
	if (!name.empty() && !is_ip_literal(name.c_str()) &&
	    SSL_set_tlsext_host_name(t->ssl, name.c_str()) != 1)
		return map_error(t, SSL_ERROR_SSL);
	if (cfg->verify == KIO_TLS_VERIFY_NONE) {
		SSL_set_verify(t->ssl, SSL_VERIFY_NONE, nullptr);
		return 0;
	}
	if (name.empty()) {
		set_error(t->last_error, "no server name to verify the certificate against");
		return -EINVAL;
	}
	SSL_set_verify(t->ssl, SSL_VERIFY_PEER, nullptr);
	int ok = is_ip_literal(name.c_str()) ?
			 X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), name.c_str()) :
			 SSL_set1_host(t->ssl, name.c_str());
	if (ok != 1)
		return map_error(t, SSL_ERROR_SSL);
	return 0;
}

void server_setup(kio_tls *t)
{
	if (t->config->verify == KIO_TLS_VERIFY_REQUIRE_PEER)
		SSL_set_verify(t->ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
	else
		SSL_set_verify(t->ssl, SSL_VERIFY_NONE, nullptr);
}

// The checks every data op makes on its session.
int usable(const kio_tls *t)
{
	if (t->destroyed)
		return -EINVAL;
	if (t->failed || t->broken)
		return -EPIPE;
	if (!t->handshaken)
		return t->hs.phase != Phase::Idle ? -EBUSY : -ENOTCONN;
	return 0;
}

} // namespace

} // namespace kio::tls

using namespace kio;
using namespace kio::tls;

KIO_API int64_t kio_tls_handshake(kio_tls *tls, kio_cb cb, void *user_data) noexcept
{
	if (!tls || !cb || tls->destroyed)
		return -EINVAL;
	if (int rc = begin_check(tls->ctx, cb))
		return rc;
	if (tls->hs.phase != Phase::Idle)
		return -EBUSY;
	if (tls->failed || tls->broken)
		return -EPIPE;
	if (tls->handshaken)
		return -EISCONN;
	if (tls->server) {
		server_setup(tls);
	} else if (int rc = client_setup(tls); rc < 0) {
		return rc;
	}
	// A session that verifies its peer needs the trusted CAs now.
	const int verify = tls->config->verify;
	if (tls->server ? verify == KIO_TLS_VERIFY_REQUIRE_PEER : verify != KIO_TLS_VERIFY_NONE) {
		if (int rc = config_load_defaults(tls->config, tls->last_error); rc < 0)
			return rc;
	}
	ktls_prepare(tls);
	tls->hs.kind = Job::Kind::Handshake;
	int64_t id = start(tls, tls->hs, cb, user_data);
	if (id < 0)
		ktls_restore_fd(tls);
	return id;
}

KIO_API int64_t kio_tls_read(kio_tls *tls, void *buf, size_t len, kio_cb cb,
			     void *user_data) noexcept
{
	if (!tls || !cb || !buf || len == 0)
		return -EINVAL;
	if (int rc = begin_check(tls->ctx, cb))
		return rc;
	if (int rc = usable(tls))
		return rc;
	if (tls->rd.phase != Phase::Idle)
		return -EBUSY;
	tls->rd.buf = static_cast<unsigned char *>(buf);
	tls->rd.len = std::min<size_t>(len, INT_MAX);
	return start(tls, tls->rd, cb, user_data);
}

KIO_API int64_t kio_tls_write(kio_tls *tls, const void *buf, size_t len, kio_cb cb,
			      void *user_data) noexcept
{
	if (!tls || !cb || (!buf && len) || len > INT32_MAX)
		return -EINVAL;
	if (int rc = begin_check(tls->ctx, cb))
		return rc;
	if (int rc = usable(tls))
		return rc;
	if (tls->close_sent)
		return -EPIPE;
	if (tls->wr.phase != Phase::Idle)
		return -EBUSY;
	tls->wr.buf = static_cast<unsigned char *>(const_cast<void *>(buf));
	tls->wr.len = len;
	return start(tls, tls->wr, cb, user_data);
}

KIO_API int64_t kio_tls_shutdown(kio_tls *tls, kio_cb cb, void *user_data) noexcept
{
	if (!tls || !cb)
		return -EINVAL;
	if (int rc = begin_check(tls->ctx, cb))
		return rc;
	if (int rc = usable(tls))
		return rc;
	if (tls->wr.phase != Phase::Idle || tls->hs.phase != Phase::Idle)
		return -EBUSY;
	tls->hs.kind = Job::Kind::Shutdown;
	int64_t id = start(tls, tls->hs, cb, user_data);
	return id;
}
