// SPDX-License-Identifier: MIT
// TLS sessions (kio/tls.h): the config and session records shared by the
// tls_*.cpp files. Private: never installed.
//
// OpenSSL never touches the socket. Each session has a BIO pair: SSL reads
// and writes one end, kio moves the other end's bytes with its own recv and
// send steps, straight into and out of the pair's fixed buffers (the
// BIO_nwrite0()/BIO_nread0() regions), so the steady state copies nothing
// twice and allocates nothing. Once the handshake is over, the write side
// is a BIO of kio's own (tls_direct.cpp) that sends records from OpenSSL's
// buffer without copying them into the pair. The one exception is a handshake meant to
// hand the session to kernel TLS (tls_ktls.cpp): OpenSSL runs it on the
// socket, then whatever the kernel did not take comes back to the pair.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <sys/uio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <kio/tls.h>

#include "core/ctx.hpp"

// Room for an OpenSSL reason string ("error:0A000086:SSL routines:...").
inline constexpr size_t kTlsErrLen = 256;

struct kio_tls_config {
	SSL_CTX *ssl_ctx = nullptr;
	std::atomic<uint32_t> refs{1}; // the caller's and one per session
	int verify = KIO_TLS_VERIFY_PEER;
	bool ktls = true;
	// The system's trusted CAs are read by the first handshake that
	// verifies a peer, not at create: parsing the whole bundle costs tens
	// of milliseconds that servers and configs given their own CAs never
	// need. Set while the store still waits for them.
	std::atomic<bool> defaults_pending{false};
	std::mutex defaults_mu;
	std::string server_name;
	std::vector<unsigned char> alpn; // wire format: length-prefixed names
	struct SniCert {
		std::string name;
		SSL_CTX *ssl_ctx;
	};
	std::vector<SniCert> sni;
	char last_error[kTlsErrLen] = "";
};

namespace kio::tls {

// One public op of a session. Each session has three, one per kind that
// may be in flight at a time, so starting an op allocates nothing.
struct Job {
	enum class Kind : uint8_t {
		Handshake,
		Read,
		Write,
		Shutdown
	};
	enum class Phase : uint8_t {
		Idle,   // no op
		Result, // a NOP carries the result already decided (result)
		Recv,   // a recv into the incoming BIO region is in flight
		Send,   // a send of the outgoing BIO region is in flight
		Wait,   // a poll for POLLOUT: another op of the session is sending
		Poll,   // handshake on the socket itself: a poll for what OpenSSL waits for
		KRecv,  // kernel TLS receive: a recvmsg with the record type
		KSend,  // kernel TLS send: plaintext to the socket
		KAlert, // kernel TLS send: close_notify as an alert record
	};
	kio_tls *tls = nullptr;
	Kind kind = Kind::Read;
	Phase phase = Phase::Idle;
	bool closing = false; // shutdown: close_notify is in the BIO
	int64_t id = -1;      // the op's id while it runs
	unsigned char *buf = nullptr;
	size_t len = 0;
	size_t done = 0;    // write: bytes encrypted so far
	int32_t result = 0; // the result a Result step delivers
	int32_t fail = 0;   // an error decided while its alert is still being sent
	// Kernel TLS steps: the message the kernel reads or fills.
	msghdr msg{};
	iovec iov{};
	struct {
		alignas(cmsghdr) char buf[CMSG_SPACE(sizeof(int))];
	} ctrl{};
	unsigned char alert[2] = {};
};

} // namespace kio::tls

struct kio_tls {
	kio_ctx *ctx = nullptr;
	kio_tls_config *config = nullptr;
	SSL *ssl = nullptr;
	BIO *net = nullptr;   // kio's end of the BIO pair
	BIO *inner = nullptr; // OpenSSL's end (a reference of our own)
	int fd = -1;
	int fd_flags = -1;      // the fd's flags while the handshake made it non-blocking
	bool on_socket = false; // the handshake runs on the socket (kernel TLS wanted)
	bool server = false;
	bool handshaken = false; // the handshake succeeded
	bool failed = false;     // the handshake failed: only destroy is left
	bool broken = false;     // a record was left half sent: -EPIPE from now on
	bool peer_eof = false;   // recv returned 0
	bool close_seen = false; // the peer's close_notify arrived
	bool close_sent = false; // our close_notify went out (or is going)
	bool destroyed = false;  // kio_tls_destroy() ran; freed by the last op
	bool send_busy = false;  // a Send step of one of the jobs is in flight
	uint32_t in_flight = 0;  // jobs not Idle
	unsigned ktls = 0;       // KIO_TLS_KTLS_* taken
	int version = 0;
	std::string server_name; // kio_tls_set_server_name()
	char alpn[256] = "";
	// After a handshake on the BIO pair, records go to the socket straight
	// from OpenSSL's own record buffer (tls_direct.cpp): the region handed
	// to the BIO that waits to be sent, and how much of it a send took.
	bool direct = false;
	const char *out_ptr = nullptr;
	size_t out_len = 0;
	size_t out_sent = 0;
	kio::tls::Job hs, rd, wr; // the handshake and the shutdown share hs
	char last_error[kTlsErrLen] = "";
};

namespace kio::tls {

// BIO pair sizes: outgoing room for a few full records per send, incoming
// room for two full records per recv.
inline constexpr size_t kOutBytes = 65536;
inline constexpr size_t kInBytes = 2 * (16384 + 2048);

// Empties the thread's OpenSSL error queue before an SSL call whose
// failure SSL_get_error() will classify (a stale entry would read as this
// call's). Only when it holds anything: OpenSSL 3's ERR_clear_error() wipes
// every slot of the queue, about 800 instructions with the frees of their
// data, and a session makes two such calls per record it sends; a peek
// costs about a tenth of that.
inline void clear_errors() noexcept
{
	if (ERR_peek_error() != 0)
		ERR_clear_error();
}

// tls_errors.cpp
// Drains the thread's OpenSSL error queue into err (kTlsErrLen bytes),
// keeping the first error (the cause); returns that error's code or 0.
unsigned long drain_errors(char *err) noexcept;
// The kio result of a failed SSL call (SSL_get_error() gave ssl_err).
// Drains the error queue into t->last_error.
int32_t map_error(kio_tls *t, int ssl_err) noexcept;
// Records a failure of a config call; returns rc.
int config_fail(kio_tls_config *cfg, int rc) noexcept;
void set_error(char *dst, const char *msg) noexcept;

// tls_config.cpp
void config_ref(kio_tls_config *cfg) noexcept;
void config_unref(kio_tls_config *cfg) noexcept;
// Loads the system's CAs into the config's store if it still waits for
// them (once per config; callable from the threads of several ctxs).
// 0, or -EPROTO with the reason in err (kTlsErrLen bytes).
int config_load_defaults(kio_tls_config *cfg, char *err) noexcept;

// tls_ktls.cpp
// Whether this kernel has the "tls" ULP (probed once per process).
bool ktls_kernel_available() noexcept;
// Before a handshake that may hand the session to kernel TLS: OpenSSL
// works on the socket (non-blocking meanwhile). false: stay on the BIO pair.
bool ktls_prepare(kio_tls *t) noexcept;
// After a handshake on the socket: the KIO_TLS_KTLS_* directions the kernel
// took; the others go back to the BIO pair. Restores the fd's flags.
unsigned ktls_take(kio_tls *t) noexcept;
// Restores the fd's flags if the handshake changed them.
void ktls_restore_fd(kio_tls *t) noexcept;

// tls_direct.cpp
// Replaces the BIO pair as OpenSSL's write side (once the pair's outgoing
// half is empty): OpenSSL's records are then sent from its own buffer, so
// no byte is copied into the pair. false (nothing changed) when OpenSSL
// cannot make the BIO.
bool direct_install(kio_tls *t) noexcept;

// tls_session.cpp
// Frees a session whose ops have all ended.
void session_free(kio_tls *t) noexcept;

} // namespace kio::tls
