// SPDX-License-Identifier: MIT
// Placeholder: every TLS entry point answers -EOPNOTSUPP until the implementation lands.
#include <cerrno>

#include <kio/tls.h>

KIO_API int kio_tls_config_create(kio_tls_config **out) noexcept
{
	(void)out;
	return -EOPNOTSUPP;
}

KIO_API void kio_tls_config_destroy(kio_tls_config *config) noexcept
{
	(void)config;
}

KIO_API int kio_tls_config_set_cert_file(kio_tls_config *config, const char *chain_path,
					 const char *key_path) noexcept
{
	(void)config;
	(void)chain_path;
	(void)key_path;
	return -EOPNOTSUPP;
}

KIO_API int kio_tls_config_set_cert_mem(kio_tls_config *config, const void *chain_pem,
					size_t chain_len, const void *key_pem,
					size_t key_len) noexcept
{
	(void)config;
	(void)chain_pem;
	(void)chain_len;
	(void)key_pem;
	(void)key_len;
	return -EOPNOTSUPP;
}

KIO_API int kio_tls_config_add_sni_cert_file(kio_tls_config *config, const char *server_name,
					     const char *chain_path, const char *key_path) noexcept
{
	(void)config;
	(void)server_name;
	(void)chain_path;
	(void)key_path;
	return -EOPNOTSUPP;
}

KIO_API int kio_tls_config_set_ca_file(kio_tls_config *config, const char *ca_file,
				       const char *ca_dir) noexcept
{
	(void)config;
	(void)ca_file;
	(void)ca_dir;
	return -EOPNOTSUPP;
}

KIO_API int kio_tls_config_set_ca_mem(kio_tls_config *config, const void *ca_pem,
				      size_t len) noexcept
{
	(void)config;
	(void)ca_pem;
	(void)len;
	return -EOPNOTSUPP;
}

KIO_API int kio_tls_config_set_min_version(kio_tls_config *config, int version) noexcept
{
	(void)config;
	(void)version;
	return -EOPNOTSUPP;
}

KIO_API int kio_tls_config_set_alpn(kio_tls_config *config, const char *const *protocols,
				    size_t count) noexcept
{
	(void)config;
	(void)protocols;
	(void)count;
	return -EOPNOTSUPP;
}

KIO_API int kio_tls_config_set_server_name(kio_tls_config *config, const char *name) noexcept
{
	(void)config;
	(void)name;
	return -EOPNOTSUPP;
}

KIO_API int kio_tls_config_set_verify(kio_tls_config *config, int mode) noexcept
{
	(void)config;
	(void)mode;
	return -EOPNOTSUPP;
}

KIO_API int kio_tls_config_set_ktls(kio_tls_config *config, int enable) noexcept
{
	(void)config;
	(void)enable;
	return -EOPNOTSUPP;
}

KIO_API const char *kio_tls_config_last_error(const kio_tls_config *config) noexcept
{
	(void)config;
	return "";
}

KIO_API int kio_tls_create(kio_tls **out, kio_ctx *ctx, kio_tls_config *config, int fd,
			   uint32_t flags) noexcept
{
	(void)out;
	(void)ctx;
	(void)config;
	(void)fd;
	(void)flags;
	return -EOPNOTSUPP;
}

KIO_API void kio_tls_destroy(kio_tls *tls) noexcept
{
	(void)tls;
}

KIO_API int kio_tls_set_server_name(kio_tls *tls, const char *name) noexcept
{
	(void)tls;
	(void)name;
	return -EOPNOTSUPP;
}

KIO_API int64_t kio_tls_handshake(kio_tls *tls, kio_cb cb, void *user_data) noexcept
{
	(void)tls;
	(void)cb;
	(void)user_data;
	return -EOPNOTSUPP;
}

KIO_API int64_t kio_tls_read(kio_tls *tls, void *buf, size_t len, kio_cb cb,
			     void *user_data) noexcept
{
	(void)tls;
	(void)buf;
	(void)len;
	(void)cb;
	(void)user_data;
	return -EOPNOTSUPP;
}

KIO_API int64_t kio_tls_write(kio_tls *tls, const void *buf, size_t len, kio_cb cb,
			      void *user_data) noexcept
{
	(void)tls;
	(void)buf;
	(void)len;
	(void)cb;
	(void)user_data;
	return -EOPNOTSUPP;
}

KIO_API int64_t kio_tls_shutdown(kio_tls *tls, kio_cb cb, void *user_data) noexcept
{
	(void)tls;
	(void)cb;
	(void)user_data;
	return -EOPNOTSUPP;
}

KIO_API int kio_tls_version(const kio_tls *tls) noexcept
{
	(void)tls;
	return 0;
}

KIO_API const char *kio_tls_alpn(const kio_tls *tls) noexcept
{
	(void)tls;
	return nullptr;
}

KIO_API const char *kio_tls_server_name(const kio_tls *tls) noexcept
{
	(void)tls;
	return nullptr;
}

KIO_API uint32_t kio_tls_ktls(const kio_tls *tls) noexcept
{
	(void)tls;
	return 0;
}

KIO_API const char *kio_tls_last_error(const kio_tls *tls) noexcept
{
	(void)tls;
	return "";
}
