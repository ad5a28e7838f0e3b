// basicauth: credentials check: "Basic BASE64(user:password)" against a user:password pair or
// an htpasswd file of user:crypt(3)-hash lines (read per request, so edits apply at once).
#include <crypt.h>
#include <strings.h>

#include <cstdio>
#include <memory>
#include <string>

#include "routing/route_table.h"

namespace uwsgi {

static bool base64_decode(std::string_view in, std::string* out) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  unsigned acc = 0;
  int bits = 0;
  size_t i = 0;
  for (; i < in.size() && in[i] != '='; i++) {
    int v = val(in[i]);
    if (v < 0) return false;
    acc = (acc << 6) | (unsigned)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back((char)((acc >> bits) & 0xff));
    }
  }
  for (; i < in.size(); i++)
    if (in[i] != '=') return false;
  return true;
}

// Compares without stopping at the first difference (no timing hint about the password).
static bool same(std::string_view a, std::string_view b) {
  unsigned char d = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); i++) d |= (unsigned char)(a[i] ^ (i < b.size() ? b[i] : 0));
  return d == 0;
}

static bool htpasswd_match(const std::string& path, std::string_view user, std::string_view password) {
  FILE* f = fopen(path.c_str(), "re");
  if (!f) return false;
  char line[1024];
  bool ok = false;
  while (!ok && fgets(line, sizeof line, f)) {
    std::string_view l(line);
    while (!l.empty() && (l.back() == '\n' || l.back() == '\r')) l.remove_suffix(1);
    size_t colon = l.find(':');
    if (colon == std::string_view::npos || l.substr(0, colon) != user) continue;
    std::string hash(l.substr(colon + 1));
    // crypt_data is ~32 KiB: on the heap, not on an async core's stack.
    auto data = std::make_unique<crypt_data>();
    const char* h = crypt_r(std::string(password).c_str(), hash.c_str(), data.get());
    ok = h && h[0] != '*' && same(h, hash);
  }
  fclose(f);
  return ok;
}

bool basicauth_check(std::string_view authorization, const std::string& creds, std::string* user) {
  if (authorization.size() < 6 || strncasecmp(authorization.data(), "Basic ", 6) != 0) return false;
  std::string_view b64 = authorization.substr(6);
  while (!b64.empty() && b64.front() == ' ') b64.remove_prefix(1);
  std::string decoded;
  if (!base64_decode(b64, &decoded)) return false;
  size_t colon = decoded.find(':');
  if (colon == std::string::npos) return false;
  *user = decoded.substr(0, colon);
  if (creds.find(':') != std::string::npos) return same(decoded, creds);
  return htpasswd_match(creds, *user, std::string_view(decoded).substr(colon + 1));
}

}  // namespace uwsgi
