/* SPDX-License-Identifier: MIT */
/*
 * kio/tls.h - TLS 1.2/1.3 sessions over connected sockets, with OpenSSL 3
 * doing the cryptography and kio doing every socket read and write.
 *
 * A kio_tls_config holds what many sessions share: certificates, trusted
 * CAs, the minimum version, ALPN, verification. A kio_tls is one session
 * over one connected stream socket. Its handshake, read, write and
 * shutdown are ops like any other (kio/ops.h): one callback each, never
 * inline, an op id that kio_op_cancel() and kio_op_timeout() accept.
 *
 * Safe by default: a client verifies the server's certificate chain
 * against the trusted CAs (the system's unless the config names others)
 * and checks the host name set with kio_tls_config_set_server_name() or
 * kio_tls_set_server_name(); TLS 1.2 is the floor, TLS 1.3 is preferred.
 * Turning verification off takes an explicit kio_tls_config_set_verify().
 *
 * Errors (negated errno values, like everywhere in kio):
 *   -EKEYREJECTED     the peer's certificate failed verification
 *                     (untrusted, expired, wrong host name...)
 *   -EPROTONOSUPPORT  no protocol version both sides accept
 *   -EPROTO           any other TLS failure (bad record, alert received,
 *                     no shared cipher or ALPN protocol)
 *   -ECONNABORTED     the peer closed the connection without close_notify:
 *                     a truncation, never reported as a clean end (0)
 *   socket errors     as kio_recv()/kio_send() report them (-ECONNRESET...)
 * kio_tls_last_error() gives OpenSSL's reason for the last failure.
 *
 * Kernel TLS: when the config allows it (the default), the kernel has its
 * "tls" module and OpenSSL supports the negotiated cipher in the kernel,
 * the session is handed to kernel TLS after the handshake.
 * kio_tls_ktls() reports which directions the kernel took over; with
 * KIO_TLS_KTLS_TX set, kio_send(), kio_sendfile() and kio_send_zc() on the
 * socket send encrypted records directly. Otherwise the session stays in
 * user space, silently; every call below works the same on both paths.
 * So that OpenSSL can install the keys in the kernel, the handshake of
 * such a session (a TCP socket, the kernel module present) runs on the
 * socket itself, which is non-blocking meanwhile: its file status flags
 * are the caller's again when the handshake ends. Limit: a TLS 1.3
 * session whose sending the kernel took cannot follow a KeyUpdate from the
 * peer (OpenSSL 3.0 re-keys itself, not the kernel; the session ends):
 * where peers may send one, disable kernel TLS in the config.
 *
 * Threads: a session belongs to its ctx's thread. A config may be shared
 * by sessions of several ctxs once it is no longer being changed.
 */
#ifndef KIO_TLS_H
#define KIO_TLS_H

#include <kio/common.h>

KIO_EXTERN_C_BEGIN

/* Settings shared by sessions; reference counted by the sessions using it. */
typedef struct kio_tls_config kio_tls_config;
/* One TLS session over one connected socket. */
typedef struct kio_tls kio_tls;

/* kio_tls_create() roles. */
#define KIO_TLS_CLIENT (1u << 0)
#define KIO_TLS_SERVER (1u << 1)

/* Protocol versions, as on the wire. */
#define KIO_TLS_VERSION_1_2 0x0303
#define KIO_TLS_VERSION_1_3 0x0304

/* kio_tls_config_set_verify() modes. */
#define KIO_TLS_VERIFY_NONE 0	      /* no certificate checks at all: testing only */
#define KIO_TLS_VERIFY_PEER 1	      /* default: clients verify the server */
#define KIO_TLS_VERIFY_REQUIRE_PEER 2 /* servers also demand a client certificate */

/* kio_tls_ktls() bits. */
#define KIO_TLS_KTLS_TX (1u << 0) /* the kernel encrypts what is sent */
#define KIO_TLS_KTLS_RX (1u << 1) /* the kernel decrypts what is received */

/*
 * A new config: verification on (clients), the system's trusted CAs
 * (read by the first handshake that verifies a peer, not here),
 * TLS 1.2 minimum, no certificate, no ALPN, kernel TLS allowed.
 * Returns 0 with *out set, -EINVAL, -ENOMEM, or -EPROTO (OpenSSL failed).
 */
KIO_API int kio_tls_config_create(kio_tls_config **out) KIO_NOEXCEPT;

/* Drops the caller's reference; sessions keep theirs. NULL is a no-op. */
KIO_API void kio_tls_config_destroy(kio_tls_config *config) KIO_NOEXCEPT;

/*
 * The certificate chain (leaf first) and private key this side presents,
 * from PEM files or PEM bytes in memory (copied). Checks that the key
 * matches the certificate. -ENOENT/-EACCES for unreadable files,
 * -EINVAL for bad PEM or a key that does not match (see
 * kio_tls_config_last_error()).
 */
KIO_API int kio_tls_config_set_cert_file(kio_tls_config *config, const char *chain_path,
					 const char *key_path) KIO_NOEXCEPT;
KIO_API int kio_tls_config_set_cert_mem(kio_tls_config *config, const void *chain_pem,
					size_t chain_len, const void *key_pem,
					size_t key_len) KIO_NOEXCEPT;

/*
 * Servers: an extra certificate chain and key presented to clients that
 * ask for server_name through SNI; others get the one set above.
 */
KIO_API int kio_tls_config_add_sni_cert_file(kio_tls_config *config, const char *server_name,
					     const char *chain_path,
					     const char *key_path) KIO_NOEXCEPT;

/*
 * Trusted CAs replacing the system's: a PEM file, a hashed directory
 * (c_rehash), or both; PEM bytes in memory for the second form. Both
 * paths NULL goes back to the system's default store.
 */
KIO_API int kio_tls_config_set_ca_file(kio_tls_config *config, const char *ca_file,
				       const char *ca_dir) KIO_NOEXCEPT;
KIO_API int kio_tls_config_set_ca_mem(kio_tls_config *config, const void *ca_pem,
				      size_t len) KIO_NOEXCEPT;

/*
 * Lowest version accepted: KIO_TLS_VERSION_1_2 (default) or
 * KIO_TLS_VERSION_1_3. Anything older is refused with -EINVAL.
 */
KIO_API int kio_tls_config_set_min_version(kio_tls_config *config, int version) KIO_NOEXCEPT;

/*
 * ALPN protocols ("h2", "http/1.1"...), most preferred first. A client
 * offers them; a server picks the first of its own list that the client
 * offered and fails the handshake (-EPROTO) when there is none.
 * count 0 turns ALPN off.
 */
KIO_API int kio_tls_config_set_alpn(kio_tls_config *config, const char *const *protocols,
				    size_t count) KIO_NOEXCEPT;

/*
 * Clients: the host name sent through SNI and checked against the
 * server's certificate (a DNS name or an IP address literal).
 */
KIO_API int kio_tls_config_set_server_name(kio_tls_config *config, const char *name) KIO_NOEXCEPT;

/* One of KIO_TLS_VERIFY_*. NONE is the only way to skip verification. */
KIO_API int kio_tls_config_set_verify(kio_tls_config *config, int mode) KIO_NOEXCEPT;

/* enable 0 keeps every session in user space; 1 (default) allows kernel TLS. */
KIO_API int kio_tls_config_set_ktls(kio_tls_config *config, int enable) KIO_NOEXCEPT;

/* OpenSSL's reason for the config's last failed call; "" if none. Never NULL. */
KIO_API const char *kio_tls_config_last_error(const kio_tls_config *config) KIO_NOEXCEPT;

/*
 * A session over fd, a connected stream socket the caller keeps owning
 * (kio_tls_destroy() does not close it). flags: exactly one of
 * KIO_TLS_CLIENT, KIO_TLS_SERVER. The session takes a reference on config.
 * Returns 0 with *out set, -EINVAL, -EBADF, -ENOMEM, or -EPROTO.
 */
KIO_API int kio_tls_create(kio_tls **out, kio_ctx *ctx, kio_tls_config *config, int fd,
			   uint32_t flags) KIO_NOEXCEPT;

/*
 * Cancels the session's ops in flight (their callbacks run, with
 * -ECANCELED, from the ctx's loop as usual) and frees the session once
 * the kernel let go of its buffers. Sends nothing: call kio_tls_shutdown()
 * first for a clean close. The fd stays open. NULL is a no-op. It may
 * also be called after kio_ctx_destroy() of the session's ctx (which ended
 * the session's ops with -ECANCELED); the session is then only freed.
 */
KIO_API void kio_tls_destroy(kio_tls *tls) KIO_NOEXCEPT;

/* Clients, before the handshake: like kio_tls_config_set_server_name(), for this session. */
KIO_API int kio_tls_set_server_name(kio_tls *tls, const char *name) KIO_NOEXCEPT;

/*
 * Runs the handshake: res 0 when it is done and the peer verified, or an
 * error above. A session whose handshake failed, timed out or was
 * cancelled can only be destroyed (later calls give -EPIPE).
 * Returns the op id, or -EINVAL (also: a client verifying the server
 * with no server name set), -EBUSY (a handshake or shutdown in flight),
 * -EISCONN (already done), -EPIPE, -EPROTO (the system's CAs, read by
 * a config's first verifying handshake, could not be loaded).
 */
KIO_API int64_t kio_tls_handshake(kio_tls *tls, kio_cb cb, void *user_data) KIO_NOEXCEPT;

/*
 * Reads decrypted bytes into buf (borrowed until the callback): res is
 * the count (1..len), 0 after the peer's close_notify, or an error
 * (-ECONNABORTED for a truncation). One read at a time per session
 * (-EBUSY otherwise); a read may run alongside a write. A cancelled read
 * loses no data: what arrived stays for the next read.
 * Reads, writes and shutdowns before the handshake succeeded give
 * -ENOTCONN; len 0 gives -EINVAL.
 */
KIO_API int64_t kio_tls_read(kio_tls *tls, void *buf, size_t len, kio_cb cb,
			     void *user_data) KIO_NOEXCEPT;

/*
 * Encrypts and sends all len bytes of buf (borrowed until the callback):
 * res is len once the kernel has taken every record, or an error. One
 * write at a time per session (-EBUSY otherwise). A write cancelled or
 * timed out part way leaves a record half sent: the session then fails
 * every later op with -EPIPE. After kio_tls_shutdown(): -EPIPE.
 * len is at most INT32_MAX (-EINVAL).
 */
KIO_API int64_t kio_tls_write(kio_tls *tls, const void *buf, size_t len, kio_cb cb,
			      void *user_data) KIO_NOEXCEPT;

/*
 * Sends close_notify: res 0 once it is sent. It does not wait for the
 * peer's; read until 0 for that. No write may be in flight (-EBUSY).
 */
KIO_API int64_t kio_tls_shutdown(kio_tls *tls, kio_cb cb, void *user_data) KIO_NOEXCEPT;

/* After the handshake: the negotiated version (KIO_TLS_VERSION_*), else 0. */
KIO_API int kio_tls_version(const kio_tls *tls) KIO_NOEXCEPT;

/* After the handshake: the ALPN protocol agreed on, or NULL. Valid while tls lives. */
KIO_API const char *kio_tls_alpn(const kio_tls *tls) KIO_NOEXCEPT;

/* Servers: the host name the client asked for through SNI, or NULL (always for clients). */
KIO_API const char *kio_tls_server_name(const kio_tls *tls) KIO_NOEXCEPT;

/* After the handshake: KIO_TLS_KTLS_* bits for what the kernel took over; 0 in user space. */
KIO_API uint32_t kio_tls_ktls(const kio_tls *tls) KIO_NOEXCEPT;

/* OpenSSL's reason for the session's last failure; "" if none. Never NULL. */
KIO_API const char *kio_tls_last_error(const kio_tls *tls) KIO_NOEXCEPT;

KIO_EXTERN_C_END

#endif /* KIO_TLS_H */
