// SPDX-License-Identifier: MIT
//
// Throw-away certificates for the TLS tests, made by `openssl req` in a
// temporary directory removed at the end of the test: a CA, a server
// certificate it signed for localhost and 127.0.0.1, and a client
// certificate it signed (for mutual TLS). Skips the test when there is no
// openssl command.
#ifndef KIO_CXX_TEST_TLS_PKI_HPP
#define KIO_CXX_TEST_TLS_PKI_HPP

#include <criterion/criterion.h>

#include <cstdlib>
#include <string>

namespace kxt {

struct Pki {
	std::string dir;
	std::string ca, cert, key, client_cert, client_key;

	Pki()
	{
		char tmpl[] = "/tmp/kio-tls-test.XXXXXX";
		cr_assert(mkdtemp(tmpl) != nullptr);
		dir = tmpl;
		ca = dir + "/ca.pem";
		cert = dir + "/server.pem";
		key = dir + "/server.key";
		client_cert = dir + "/client.pem";
		client_key = dir + "/client.key";
		if (std::system("openssl version > /dev/null 2>&1") != 0) {
			Remove();
			cr_skip_test("no openssl command to make certificates");
		}
		const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
		const std::string sign = " -CA ca.pem -CAkey ca.key -CAcreateserial -days 2";
		const std::string cmd =
			"cd '" + dir + "' && exec 2>openssl.log" + " && openssl req -x509" + ec +
			" -days 2 -subj /CN=kio-test-ca -keyout ca.key -out ca.pem" +
			" && openssl req" + ec +
			" -subj /CN=localhost -keyout server.key -out server.csr" +
			" && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > leaf.ext" +
			" && openssl x509 -req -in server.csr" + sign +
			" -extfile leaf.ext -out server.pem" + " && openssl req" + ec +
			" -subj /CN=kio-test-client -keyout client.key -out client.csr" +
			" && openssl x509 -req -in client.csr" + sign + " -out client.pem";
		int rc = std::system(cmd.c_str());
		cr_assert_eq(rc, 0, "openssl failed (%d); see %s/openssl.log", rc, dir.c_str());
	}
	~Pki()
	{
		Remove();
	}
	Pki(const Pki &) = delete;
	Pki &operator=(const Pki &) = delete;

	void Remove()
	{
		std::string cmd = "rm -rf '" + dir + "'";
		cr_expect_eq(std::system(cmd.c_str()), 0);
	}
};

} // namespace kxt

#endif // KIO_CXX_TEST_TLS_PKI_HPP
