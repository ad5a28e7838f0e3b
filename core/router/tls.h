// TLS for the router's --https sockets (OpenSSL).
#pragma once

#include <string>
#include <vector>

#include "host.h"

struct ssl_ctx_st;

namespace uwsgi {

// --https ADDR,CERT,KEY[,CIPHERS][,CA]
struct HttpsSpec {
  std::string addr, cert, key, ciphers, ca;
};

bool read_https_specs(const Config& cfg, std::vector<HttpsSpec>* out, std::string* err);
// A server context with the certificate chain and key loaded (and checked against each other);
// a CA file asks clients for a certificate (and verifies it). Null + *err on failure.
ssl_ctx_st* make_tls_context(const HttpsSpec& spec, std::string* err);

}  // namespace uwsgi
