// SPDX-License-Identifier: MIT
// kio_tls_config: one SSL_CTX (plus one per SNI certificate) and the
// settings sessions read when they start. Reference counted: each session
// holds a reference, kio_tls_config_destroy() drops the caller's.
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <new>

#include <arpa/inet.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/guard.hpp"
#include "tls/internal.hpp"

namespace kio::tls {

void config_ref(kio_tls_config *cfg) noexcept
{
	cfg->refs.fetch_add(1, std::memory_order_relaxed);
}

int config_load_defaults(kio_tls_config *cfg, char *err) noexcept
{
	if (!cfg->defaults_pending.load(std::memory_order_acquire))
		return 0;
	// Sessions of several ctxs may get here at once: one loads, the
	// others wait for it (only until the first verifying handshake).
	std::lock_guard lock(cfg->defaults_mu);
	if (!cfg->defaults_pending.load(std::memory_order_relaxed))
		return 0;
	ERR_clear_error();
	if (X509_STORE_set_default_paths(SSL_CTX_get_cert_store(cfg->ssl_ctx)) != 1) {
		if (!drain_errors(err))
			set_error(err, "cannot load the system's trusted CAs");
		return -EPROTO;
	}
	cfg->defaults_pending.store(false, std::memory_order_release);
	return 0;
}

void config_unref(kio_tls_config *cfg) noexcept
{
	if (cfg->refs.fetch_sub(1, std::memory_order_acq_rel) != 1)
		return;
	for (auto &s : cfg->sni)
		SSL_CTX_free(s.ssl_ctx);
	SSL_CTX_free(cfg->ssl_ctx);
	delete cfg;
}

namespace {

// Servers: the client asked for a name through SNI; present the
// certificate added for it, if any.
int on_server_name(SSL *ssl, int *alert, void *arg)
{
	(void)alert;
	auto *cfg = static_cast<kio_tls_config *>(arg);
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (!name)
		return SSL_TLSEXT_ERR_OK;
	for (auto &s : cfg->sni) {
		if (strcasecmp(s.name.c_str(), name) == 0) {
			if (SSL_set_SSL_CTX(ssl, s.ssl_ctx) != s.ssl_ctx)
				return SSL_TLSEXT_ERR_ALERT_FATAL;
			break;
		}
	}
	return SSL_TLSEXT_ERR_OK;
}

// Servers: the first protocol of our list that the client offered.
int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
	    unsigned int inlen, void *arg)
{
	(void)ssl;
	auto *cfg = static_cast<kio_tls_config *>(arg);
	const auto &ours = cfg->alpn;
	if (ours.empty())
		return SSL_TLSEXT_ERR_NOACK;
	for (size_t i = 0; i < ours.size(); i += 1 + ours[i]) {
		for (unsigned j = 0; j < inlen; j += 1u + in[j]) {
			if (in[j] == ours[i] && j + 1u + in[j] <= inlen &&
			    memcmp(in + j + 1, &ours[i + 1], ours[i]) == 0) {
				*out = in + j + 1;
				*outlen = in[j];
				return SSL_TLSEXT_ERR_OK;
			}
		}
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

SSL_CTX *new_ssl_ctx(kio_tls_config *cfg) noexcept
{
	SSL_CTX *sc = SSL_CTX_new(TLS_method());
	if (!sc)
		return nullptr;
	SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION);
	// Renegotiation would need a read inside a write: refused.
	SSL_CTX_set_options(sc, SSL_OP_NO_RENEGOTIATION);
	// Writes take what fits in the BIO pair and go on after each send.
	SSL_CTX_set_mode(sc, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_tlsext_servername_callback(sc, on_server_name);
	SSL_CTX_set_tlsext_servername_arg(sc, cfg);
	SSL_CTX_set_alpn_select_cb(sc, on_alpn, cfg);
	return sc;
}

int read_file(const char *path, std::string *out)
{
	ErrnoKeeper keep_errno;
	FILE *f = fopen(path, "rbe");
	if (!f)
		return -errno;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		out->append(chunk, n);
	int rc = ferror(f) ? -EIO : 0;
	fclose(f);
	return rc;
}

// Loads a PEM chain (leaf first) and key into sc; checks they match.
int load_cert(kio_tls_config *cfg, SSL_CTX *sc, const void *chain, size_t chain_len,
	      const void *key, size_t key_len) noexcept
{
	if (chain_len > INT_MAX || key_len > INT_MAX)
		return -EINVAL;
	ERR_clear_error();
	int rc = -EINVAL;
	BIO *cb = BIO_new_mem_buf(chain, int(chain_len));
	BIO *kb = BIO_new_mem_buf(key, int(key_len));
	X509 *leaf = nullptr;
	EVP_PKEY *pkey = nullptr;
	if (!cb || !kb) {
		rc = -ENOMEM;
		goto out;
	}
	leaf = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
	if (!leaf) {
		set_error(cfg->last_error, "no certificate in the chain PEM");
		goto out;
	}
	pkey = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
	if (!pkey) {
		set_error(cfg->last_error, "no private key in the key PEM");
		goto out;
	}
	if (SSL_CTX_use_certificate(sc, leaf) != 1 || SSL_CTX_clear_chain_certs(sc) != 1)
		goto out;
	for (;;) {
		X509 *ca = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
		if (!ca)
			break;
		int ok = SSL_CTX_add0_chain_cert(sc, ca);
		if (ok != 1) {
			X509_free(ca);
			goto out;
		}
	}
	ERR_clear_error(); // the read that ended the chain
	if (SSL_CTX_use_PrivateKey(sc, pkey) != 1 || SSL_CTX_check_private_key(sc) != 1)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		config_fail(cfg, rc);
	ERR_clear_error();
	X509_free(leaf);
	EVP_PKEY_free(pkey);
	BIO_free(cb);
	BIO_free(kb);
	return rc;
}

int load_cert_files(kio_tls_config *cfg, SSL_CTX *sc, const char *chain_path, const char *key_path)
{
	std::string chain, key;
	int rc = read_file(chain_path, &chain);
	if (rc == 0)
		rc = read_file(key_path, &key);
	if (rc < 0) {
		snprintf(cfg->last_error, kTlsErrLen, "cannot read %s: %s",
			 chain.empty() ? chain_path : key_path, strerror(-rc));
		return rc;
	}
	rc = load_cert(cfg, sc, chain.data(), chain.size(), key.data(), key.size());
	OPENSSL_cleanse(key.data(), key.size());
	return rc;
}

// Hands store to every SSL_CTX of cfg (the main one takes the reference).
void use_store(kio_tls_config *cfg, X509_STORE *store) noexcept
{
	for (auto &s : cfg->sni)
		SSL_CTX_set1_cert_store(s.ssl_ctx, store);
	SSL_CTX_set_cert_store(cfg->ssl_ctx, store);
}

bool is_name_ok(const char *name) noexcept
{
	size_t n = name ? strlen(name) : 0;
	return n > 0 && n < 256;
}

} // namespace

} // namespace kio::tls

using namespace kio;
using namespace kio::tls;

KIO_API int kio_tls_config_create(kio_tls_config **out) noexcept
{
	if (!out)
		return -EINVAL;
	*out = nullptr;
	auto *cfg = new (std::nothrow) kio_tls_config();
	if (!cfg)
		return -ENOMEM;
	cfg->ssl_ctx = new_ssl_ctx(cfg);
	if (!cfg->ssl_ctx) {
		ERR_clear_error();
		delete cfg;
		return -EPROTO;
	}
	cfg->defaults_pending.store(true, std::memory_order_relaxed);
	*out = cfg;
	return 0;
}

KIO_API void kio_tls_config_destroy(kio_tls_config *config) noexcept
{
	if (config)
		config_unref(config);
}

KIO_API int kio_tls_config_set_cert_file(kio_tls_config *config, const char *chain_path,
					 const char *key_path) noexcept
{
	if (!config || !chain_path || !key_path)
		return -EINVAL;
	return guard<int>(
		[&] { return load_cert_files(config, config->ssl_ctx, chain_path, key_path); });
}

KIO_API int kio_tls_config_set_cert_mem(kio_tls_config *config, const void *chain_pem,
					size_t chain_len, const void *key_pem,
					size_t key_len) noexcept
{
	if (!config || !chain_pem || !key_pem || !chain_len || !key_len)
		return -EINVAL;
	return load_cert(config, config->ssl_ctx, chain_pem, chain_len, key_pem, key_len);
}

KIO_API int kio_tls_config_add_sni_cert_file(kio_tls_config *config, const char *server_name,
					     const char *chain_path, const char *key_path) noexcept
{
	if (!config || !is_name_ok(server_name) || !chain_path || !key_path)
		return -EINVAL;
	return guard<int>([&] {
		SSL_CTX *sc = new_ssl_ctx(config);
		if (!sc)
			return config_fail(config, -ENOMEM);
		SSL_CTX_set_min_proto_version(sc, SSL_CTX_get_min_proto_version(config->ssl_ctx));
		int rc = load_cert_files(config, sc, chain_path, key_path);
		if (rc == 0) {
			SSL_CTX_set1_cert_store(sc, SSL_CTX_get_cert_store(config->ssl_ctx));
			try {
				config->sni.push_back({server_name, sc});
			} catch (...) {
				SSL_CTX_free(sc);
				throw;
			}
			return 0;
		}
		SSL_CTX_free(sc);
		return rc;
	});
}

KIO_API int kio_tls_config_set_ca_file(kio_tls_config *config, const char *ca_file,
				       const char *ca_dir) noexcept
{
	if (!config)
		return -EINVAL;
	ErrnoKeeper keep_errno;
	if (ca_file && access(ca_file, R_OK) != 0)
		return -errno;
	if (ca_dir && access(ca_dir, R_OK | X_OK) != 0)
		return -errno;
	ERR_clear_error();
	X509_STORE *store = X509_STORE_new();
	if (!store)
		return -ENOMEM;
	// Both NULL: an empty store that the first verifying handshake fills
	// with the system's CAs.
	const bool system = !ca_file && !ca_dir;
	bool ok = (!ca_file || X509_STORE_load_file(store, ca_file) == 1) &&
		  (!ca_dir || X509_STORE_load_path(store, ca_dir) == 1);
	if (!ok) {
		X509_STORE_free(store);
		return config_fail(config, -EINVAL);
	}
	use_store(config, store);
	config->defaults_pending.store(system, std::memory_order_release);
	return 0;
}

KIO_API int kio_tls_config_set_ca_mem(kio_tls_config *config, const void *ca_pem,
				      size_t len) noexcept
{
	if (!config || !ca_pem || len == 0 || len > INT_MAX)
		return -EINVAL;
	ERR_clear_error();
	BIO *b = BIO_new_mem_buf(ca_pem, int(len));
	X509_STORE *store = X509_STORE_new();
	if (!b || !store) {
		BIO_free(b);
		X509_STORE_free(store);
		return -ENOMEM;
	}
	int count = 0;
	bool ok = true;
	while (X509 *x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr)) {
		ok = ok && X509_STORE_add_cert(store, x) == 1;
		X509_free(x);
		count++;
	}
	BIO_free(b);
	if (!ok || count == 0) {
		X509_STORE_free(store);
		if (count == 0)
			set_error(config->last_error, "no certificate in the CA PEM");
		int rc = config_fail(config, -EINVAL);
		ERR_clear_error();
		return rc;
	}
	ERR_clear_error(); // the read that ended the list
	use_store(config, store);
	config->defaults_pending.store(false, std::memory_order_release);
	return 0;
}

KIO_API int kio_tls_config_set_min_version(kio_tls_config *config, int version) noexcept
{
	if (!config)
		return -EINVAL;
	int v;
	if (version == KIO_TLS_VERSION_1_2)
		v = TLS1_2_VERSION;
	else if (version == KIO_TLS_VERSION_1_3)
		v = TLS1_3_VERSION;
	else
		return -EINVAL;
	SSL_CTX_set_min_proto_version(config->ssl_ctx, v);
	for (auto &s : config->sni)
		SSL_CTX_set_min_proto_version(s.ssl_ctx, v);
	return 0;
}

KIO_API int kio_tls_config_set_alpn(kio_tls_config *config, const char *const *protocols,
				    size_t count) noexcept
{
	if (!config || (count && !protocols))
		return -EINVAL;
	return guard<int>([&] {
		std::vector<unsigned char> wire;
		for (size_t i = 0; i < count; i++) {
			size_t n = protocols[i] ? strlen(protocols[i]) : 0;
			if (n == 0 || n > 255)
				return -EINVAL;
			wire.push_back(static_cast<unsigned char>(n));
			wire.insert(wire.end(), protocols[i], protocols[i] + n);
		}
		if (wire.size() > 65535)
			return -EINVAL;
		// Clients offer the list (0 is success here).
		if (SSL_CTX_set_alpn_protos(config->ssl_ctx, wire.empty() ? nullptr : wire.data(),
					    unsigned(wire.size())) != 0)
			return config_fail(config, -ENOMEM);
		config->alpn.swap(wire);
		return 0;
	});
}

KIO_API int kio_tls_config_set_server_name(kio_tls_config *config, const char *name) noexcept
{
	if (!config || !is_name_ok(name))
		return -EINVAL;
	return guard<int>([&] {
		config->server_name = name;
		return 0;
	});
}

KIO_API int kio_tls_config_set_verify(kio_tls_config *config, int mode) noexcept
{
	if (!config || mode < KIO_TLS_VERIFY_NONE || mode > KIO_TLS_VERIFY_REQUIRE_PEER)
		return -EINVAL;
	config->verify = mode;
	return 0;
}

KIO_API int kio_tls_config_set_ktls(kio_tls_config *config, int enable) noexcept
{
	if (!config || (enable != 0 && enable != 1))
		return -EINVAL;
	config->ktls = enable != 0;
	return 0;
}

KIO_API const char *kio_tls_config_last_error(const kio_tls_config *config) noexcept
{
	return config ? config->last_error : "";
}
