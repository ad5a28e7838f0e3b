#include "config/router_options.h"

#include "log/log.h"

namespace uwsgi {

// uWSGI 2.0's router options that only shape how the router talks to clients and workers.
static const char* const kRouterTuning[] = {
    "http-timeout",        "http-connect-timeout", "http-buffer-size", "http-auto-chunked",
    "http-raw-body",       "http-websockets",      "http-enable-proxy-protocol", "http-modifier1",
    "http-modifier2",      "http-var",             "http-stats",       "http-processes",
    "http-workers",        "http-headers-timeout", "http-manage-expect", "http-auto-gzip",
    "http-server-name-as-http-host",
};

void register_router_tuning_options(HostImpl& host) {
  for (const char* name : kRouterTuning)
    host.add_option(make_option(name, 0, OptArg::Optional,
                                "HTTP router tuning: no effect without --http, which this server does not have yet "
                                "(as in uWSGI, where it does nothing unless a router runs)"));
}

void warn_router_tuning_options(const Config& cfg) {
  for (const char* name : kRouterTuning)
    if (cfg.has(name))
      log_line("uwsgi: --%s has no effect: it tunes the HTTP router (--http), and none runs here", name);
}

}  // namespace uwsgi
