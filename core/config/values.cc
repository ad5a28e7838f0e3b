#include "config/values.h"

#include <cerrno>
#include <climits>
#include <cstdlib>

namespace uwsgi {

bool parse_count(std::string_view v, long long* out) {
  if (v.empty() || v.size() > 19) return false;  // 19 digits fit in an unsigned long long
  unsigned long long n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (unsigned)(c - '0');
  }
  if (n > (unsigned long long)LLONG_MAX) return false;
  *out = (long long)n;
  return true;
}

bool get_bounded(const Config& cfg, const char* name, long long def, long long lo, long long hi, long long* out,
                 std::string* err) {
  *out = def;
  if (!cfg.has(name)) return true;
  std::string v = cfg.get(name);
  char* end = nullptr;
  errno = 0;
  long long n = strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != 0 || errno || n < lo || n > hi) {
    *err = std::string("--") + name + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
           ", not \"" + v + "\"";
    return false;
  }
  *out = n;
  return true;
}

bool check_socket_address(const std::string& spec, std::string* err) {
  if (spec.empty()) {
    *err = "empty socket address";
    return false;
  }
  if (spec.find('/') != std::string::npos || spec.find(':') == std::string::npos) return true;  // unix path
  std::string port = spec.substr(spec.rfind(':') + 1);
  long long n = 0;
  if (!parse_count(port, &n) || n > 65535) {
    *err = "the port must be a number between 0 and 65535, not \"" + port + "\"";
    return false;
  }
  return true;
}

}  // namespace uwsgi
