#include "net/request_options.h"

#include "config/options.h"
#include "config/values.h"

namespace uwsgi {

void register_request_options(HostImpl& host) {
  const OptArg R = OptArg::Required;
  host.add_option(make_option("max-vars", 'v', R,
                              "a request may carry at most 2 x N variables (CGI variables and headers, about uWSGI's "
                              "cut-off): more is answered 431 (default: no limit)",
                              {}, true));
  host.add_option(make_option("http-socket-modifier1", 0, R,
                              "modifier1 of the requests that come in over HTTP (they carry none): the app handler "
                              "registered for it serves them (python: 0)",
                              {}, true));
  host.add_option(make_option("http-socket-modifier2", 0, R, "modifier2 of the requests that come in over HTTP",
                              {}, true));
  host.add_option(make_option("harakiri-no-arh", 0, OptArg::None,
                              "--harakiri no longer covers a request once its response is sent (its final routing "
                              "rules and log line run unwatched)",
                              {"no-harakiri-arh", "no-harakiri-after-req-hook"}));
  host.add_option(make_option("disable-sendfile", 0, OptArg::None,
                              "send files (wsgi.file_wrapper, --static-map) with read() and write() instead of "
                              "sendfile(), and not through --offload-threads"));
}

bool read_request_settings(const Config& cfg, ServeSettings* out, std::string* err) {
  long long max_vars, m1, m2;
  if (!get_bounded(cfg, "max-vars", 0, 1, 65535, &max_vars, err) ||
      !get_bounded(cfg, "http-socket-modifier1", -1, 0, 255, &m1, err) ||
      !get_bounded(cfg, "http-socket-modifier2", -1, 0, 255, &m2, err))
    return false;
  out->max_vars = (size_t)max_vars * 2;
  out->http_modifier1 = (int)m1;
  out->http_modifier2 = (int)m2;
  out->disable_sendfile = cfg.get_bool("disable-sendfile");
  out->harakiri_no_arh = cfg.get_bool("harakiri-no-arh");
  return true;
}

}  // namespace uwsgi
