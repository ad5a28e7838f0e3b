// route-if / route-if-not conditions: COND:SUBJECT;PATTERN, both expanded per request.
#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "routing/route_table.h"

namespace uwsgi {

static std::string zstr(std::string_view s) { return std::string(s); }

static bool c_exists(std::string_view s, std::string_view, const RouteRegex*, Captures*) {
  struct stat st;
  return !s.empty() && stat(zstr(s).c_str(), &st) == 0;
}
static bool c_isfile(std::string_view s, std::string_view, const RouteRegex*, Captures*) {
  struct stat st;
  return !s.empty() && stat(zstr(s).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
static bool c_isdir(std::string_view s, std::string_view, const RouteRegex*, Captures*) {
  struct stat st;
  return !s.empty() && stat(zstr(s).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
static bool c_islink(std::string_view s, std::string_view, const RouteRegex*, Captures*) {
  struct stat st;
  return !s.empty() && lstat(zstr(s).c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}
static bool c_isexec(std::string_view s, std::string_view, const RouteRegex*, Captures*) {
  struct stat st;
  std::string p = zstr(s);
  return !s.empty() && stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(p.c_str(), X_OK) == 0;
}
static bool c_equal(std::string_view s, std::string_view p, const RouteRegex*, Captures*) { return s == p; }
static bool c_startswith(std::string_view s, std::string_view p, const RouteRegex*, Captures*) {
  return s.substr(0, p.size()) == p;
}
static bool c_endswith(std::string_view s, std::string_view p, const RouteRegex*, Captures*) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}
static bool c_contains(std::string_view s, std::string_view p, const RouteRegex*, Captures*) {
  return s.find(p) != std::string_view::npos;
}
static bool c_empty(std::string_view s, std::string_view, const RouteRegex*, Captures*) { return s.empty(); }

// Numbers as uWSGI compares them: leading digits, anything else counts as 0.
static long long num(std::string_view s) { return strtoll(zstr(s).c_str(), nullptr, 10); }
static bool c_higher(std::string_view s, std::string_view p, const RouteRegex*, Captures*) { return num(s) > num(p); }
static bool c_higherequal(std::string_view s, std::string_view p, const RouteRegex*, Captures*) {
  return num(s) >= num(p);
}
static bool c_lower(std::string_view s, std::string_view p, const RouteRegex*, Captures*) { return num(s) < num(p); }
static bool c_lowerequal(std::string_view s, std::string_view p, const RouteRegex*, Captures*) {
  return num(s) <= num(p);
}

static bool c_regexp(std::string_view s, std::string_view p, const RouteRegex* re, Captures* caps) {
  if (re) return re->match(s, caps);
  RouteRegex dyn;  // a pattern with variables in it: compiled for this request
  std::string err;
  return dyn.compile(zstr(p), &err) && dyn.match(s, caps);
}

// ADDR in NET/BITS (or NET alone: the exact address).
static bool in_net(int af, std::string_view s, std::string_view p) {
  unsigned char a[16], n[16];
  std::string net = zstr(p);
  int bits = af == AF_INET ? 32 : 128;
  size_t slash = net.find('/');
  if (slash != std::string::npos) {
    bits = atoi(net.c_str() + slash + 1);
    net.resize(slash);
  }
  if (inet_pton(af, zstr(s).c_str(), a) != 1 || inet_pton(af, net.c_str(), n) != 1) return false;
  int max = af == AF_INET ? 32 : 128;
  if (bits < 0 || bits > max) return false;
  for (int i = 0; bits > 0; i++, bits -= 8) {
    unsigned char mask = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
    if ((a[i] & mask) != (n[i] & mask)) return false;
  }
  return true;
}
static bool c_ipv4in(std::string_view s, std::string_view p, const RouteRegex*, Captures*) {
  return in_net(AF_INET, s, p);
}
static bool c_ipv6in(std::string_view s, std::string_view p, const RouteRegex*, Captures*) {
  return in_net(AF_INET6, s, p);
}

static const ConditionDef kConditions[] = {
    {"exists", false, c_exists},         {"isfile", false, c_isfile},
    {"isdir", false, c_isdir},           {"islink", false, c_islink},
    {"isexec", false, c_isexec},         {"equal", false, c_equal},
    {"isequal", false, c_equal},         {"eq", false, c_equal},
    {"==", false, c_equal},              {"startswith", false, c_startswith},
    {"endswith", false, c_endswith},     {"contains", false, c_contains},
    {"empty", false, c_empty},           {"regexp", true, c_regexp},
    {"re", true, c_regexp},              {"ishigher", false, c_higher},
    {">", false, c_higher},              {"ishigherequal", false, c_higherequal},
    {">=", false, c_higherequal},        {"islower", false, c_lower},
    {"<", false, c_lower},               {"islowerequal", false, c_lowerequal},
    {"<=", false, c_lowerequal},         {"ipv4in", false, c_ipv4in},
    {"ipv6in", false, c_ipv6in},
};

const ConditionDef* find_condition(std::string_view name) {
  for (auto& c : kConditions)
    if (name == c.name) return &c;
  return nullptr;
}

}  // namespace uwsgi
