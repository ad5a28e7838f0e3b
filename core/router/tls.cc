#include "router/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace uwsgi {

bool read_https_specs(const Config& cfg, std::vector<HttpsSpec>* out, std::string* err) {
  for (auto& v : cfg.all("https")) {
    std::vector<std::string> parts;
    size_t i = 0;
    while (i <= v.size()) {
      size_t j = v.find(',', i);
      if (j == std::string::npos) j = v.size();
      parts.push_back(v.substr(i, j - i));
      i = j + 1;
    }
    if (parts.size() < 3 || parts[0].empty() || parts[1].empty() || parts[2].empty()) {
      *err = "--https wants ADDR,CERT,KEY[,CIPHERS][,CA], not \"" + v + "\"";
      return false;
    }
    HttpsSpec s{parts[0], parts[1], parts[2], parts.size() > 3 ? parts[3] : "", parts.size() > 4 ? parts[4] : ""};
    out->push_back(s);
  }
  return true;
}

static std::string ssl_error() {
  unsigned long e = ERR_get_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

ssl_ctx_st* make_tls_context(const HttpsSpec& spec, std::string* err) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    *err = "SSL_CTX_new: " + ssl_error();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  auto fail = [&](const std::string& what) -> ssl_ctx_st* {
    *err = what + ": " + ssl_error();
    SSL_CTX_free(ctx);
    return nullptr;
  };
  if (SSL_CTX_use_certificate_chain_file(ctx, spec.cert.c_str()) != 1) return fail("cannot load certificate " + spec.cert);
  if (SSL_CTX_use_PrivateKey_file(ctx, spec.key.c_str(), SSL_FILETYPE_PEM) != 1) return fail("cannot load key " + spec.key);
  if (SSL_CTX_check_private_key(ctx) != 1) return fail("key " + spec.key + " does not match " + spec.cert);
  if (!spec.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, spec.ciphers.c_str()) != 1)
    return fail("bad cipher list \"" + spec.ciphers + "\"");
  if (!spec.ca.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, spec.ca.c_str(), nullptr) != 1) return fail("cannot load CA " + spec.ca);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return ctx;
}

}  // namespace uwsgi
