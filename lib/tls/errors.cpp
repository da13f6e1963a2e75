// SPDX-License-Identifier: MIT
// OpenSSL failures as kio results (negated errno) plus a reason string.
// Every failure drains the thread's error queue, so nothing is left behind
// for the next session (or the application's own OpenSSL calls) to trip on.
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "tls/internal.hpp"

namespace kio::tls {

void set_error(char *dst, const char *msg) noexcept
{
	snprintf(dst, kTlsErrLen, "%s", msg);
}

unsigned long drain_errors(char *err) noexcept
{
	unsigned long first = 0;
	const char *data = nullptr;
	int flags = 0;
	for (;;) {
		const char *d = nullptr;
		int f = 0;
		unsigned long e = ERR_get_error_all(nullptr, nullptr, nullptr, &d, &f);
		if (e == 0)
			break;
		if (first == 0) {
			first = e;
			data = (f & ERR_TXT_STRING) ? d : nullptr;
			flags = f;
			ERR_error_string_n(e, err, kTlsErrLen);
			if (data && *data) {
				size_t n = strlen(err);
				snprintf(err + n, kTlsErrLen - n, " (%s)", data);
			}
		}
	}
	(void)flags;
	return first;
}

namespace {

// The reasons that mean "we speak TLS, but no version in common". Not
// SSL_R_WRONG_VERSION_NUMBER: a record whose version field is no TLS
// version at all is what random bytes or an HTTP reply look like, so that
// is a protocol error (-EPROTO), not a version mismatch.
bool version_reason(int reason) noexcept
{
	switch (reason) {
	case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_UNSUPPORTED_SSL_VERSION:
	case SSL_R_VERSION_TOO_LOW:
	case SSL_R_NO_PROTOCOLS_AVAILABLE:
		return true;
	default:
		return false;
	}
}

} // namespace

int32_t map_error(kio_tls *t, int ssl_err) noexcept
{
	char reason_text[kTlsErrLen] = "";
	unsigned long e = drain_errors(reason_text);
	int lib = e ? ERR_GET_LIB(e) : 0;
	int reason = e ? ERR_GET_REASON(e) : 0;
	if (ssl_err == SSL_ERROR_SYSCALL ||
	    (lib == ERR_LIB_SSL && reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
		set_error(t->last_error, "the peer closed the connection without close_notify");
		return -ECONNABORTED;
	}
	if (lib == ERR_LIB_SSL && reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
		long v = SSL_get_verify_result(t->ssl);
		snprintf(t->last_error, kTlsErrLen, "certificate verify failed: %s",
			 X509_verify_cert_error_string(v));
		return -EKEYREJECTED;
	}
	if (e == 0) {
		set_error(t->last_error, "TLS failure without a reason from OpenSSL");
		return -EPROTO;
	}
	memcpy(t->last_error, reason_text, kTlsErrLen);
	if (lib == ERR_LIB_SSL && version_reason(reason))
		return -EPROTONOSUPPORT;
	return -EPROTO;
}

int config_fail(kio_tls_config *cfg, int rc) noexcept
{
	char text[kTlsErrLen] = "";
	if (drain_errors(text))
		memcpy(cfg->last_error, text, kTlsErrLen);
	return rc;
}

} // namespace kio::tls
