// libFuzzer target for what the routing reads from requests: the Authorization header of
// basicauth (base64, user:password), query-string and cookie items, and a template expanded over
// request variables holding the input (its own text is compiled too: it must never crash).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "routing/route_table.h"

using namespace uwsgi;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in((const char*)data, size);
  std::string user;
  bool ok = basicauth_check(in, "alice:s3cret", &user);
  // Only the exact credentials pass.
  if (ok && user != "alice") {
    fprintf(stderr, "contract violated: basicauth passed user \"%s\"\n", user.c_str());
    abort();
  }
  query_item(in, "a");
  cookie_item(in, "sid");
  RequestHead head;
  head.vars.emplace_back("QUERY_STRING", in);
  head.vars.emplace_back("HTTP_COOKIE", in);
  head.vars.emplace_back("PATH_INFO", in);
  Captures caps;
  caps.count = 2;
  caps.group[0] = in;
  caps.group[1] = in.substr(0, in.size() / 2);
  RouteEnv env;
  env.head = &head;
  env.caps = &caps;
  RouteTemplate t;
  std::string err;
  if (t.compile("${qs[a]}|${cookie[sid]}|$1|${hex[PATH_INFO]}|${base64[PATH_INFO]}", &err)) t.expand(env);
  if (t.compile(in, &err)) t.expand(env);
  return 0;
}
