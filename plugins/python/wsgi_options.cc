// Options about the WSGI contract itself: --wsgi-strict (no bare-bytes result), --wsgi-env-behaviour
// (uWSGI's environ allocation strategy: checked, always "holy" here), --ignore-script-name (the
// SCRIPT_NAME a web server sends does not pick the --mount app), --response-headers-limit (the
// largest head start_response() accepts).
#include "py_opts.h"

namespace uwsgi::py {

WsgiOpts wsgi_opts;

namespace {

bool on(std::string_view v) { return v != "false" && v != "0" && v != "no" && v != "off"; }

}  // namespace

void register_wsgi_options(Host& host) {
  add_py_option(host, "wsgi-strict", OptArg::None,
                "PEP 3333 only: a bare bytes object returned by the app is iterated like any iterable (its items "
                "are ints: an error), where by default it is sent as the whole body",
                [](std::string_view v, std::string*) {
                  wsgi_opts.strict = on(v);
                  return true;
                });
  add_py_option(host, "wsgi-env-behaviour", OptArg::Required,
                "uWSGI's environ strategy, holy or cheat: both accepted, each request always gets a new "
                "environ dict (holy)",
                [](std::string_view v, std::string* err) {
                  if (v != "holy" && v != "cheat") {
                    *err = "--wsgi-env-behaviour must be holy or cheat, not \"" + std::string(v) + "\"";
                    return false;
                  }
                  return true;
                },
                {"wsgi-env-behavior"});
  {
    OptionDef d;
    d.name = "response-headers-limit";
    d.help = "largest response head in bytes (status line and headers as sent): start_response() raises "
             "TypeError past it (default: no limit)";
    d.numeric = true;
    d.on_set = [](std::string_view v, std::string* err) {
      unsigned long long n = 0;
      bool digits = !v.empty() && v.size() <= 10;
      for (char c : v) {
        digits = digits && c >= '0' && c <= '9';
        n = n * 10 + (unsigned)(c - '0');
      }
      if (!digits || n < 64) {
        *err = "--response-headers-limit must be a number of bytes, at least 64";
        return false;
      }
      wsgi_opts.headers_limit = (size_t)n;
      return true;
    };
    host.add_option(std::move(d));
  }
  add_py_option(host, "ignore-script-name", OptArg::None,
                "the SCRIPT_NAME a web server sends does not pick the --mount app (it stays in the environ; "
                "UWSGI_APPID and --manage-script-name still do)",
                [](std::string_view v, std::string*) {
                  wsgi_opts.ignore_script_name = on(v);
                  return true;
                });
}

}  // namespace uwsgi::py
