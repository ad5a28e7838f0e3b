#include "net/websocket_options.h"

#include "config/options.h"
#include "config/values.h"

namespace uwsgi {

void register_websocket_options(HostImpl& host) {
  const OptArg R = OptArg::Required;
  host.add_option(make_option("websocket-max-size", 0, R,
                              "largest websocket message in KiB (default 1024): a larger one is closed with 1009",
                              {"websockets-max-size"}, true));
  host.add_option(make_option("websocket-ping-freq", 0, R,
                              "seconds between the pings a waiting websocket_recv() sends (default 30)",
                              {"websockets-ping-freq"}, true));
  host.add_option(make_option("websocket-pong-tolerance", 0, R,
                              "seconds a ping may wait for its pong before the websocket is dropped (default 3)",
                              {"websockets-pong-tolerance"}, true));
}

bool read_websocket_settings(const Config& cfg, WebSocketSettings* out, std::string* err) {
  long long kib, freq, tol;
  if (!get_bounded(cfg, "websocket-max-size", 1024, 1, 1 << 22, &kib, err) ||
      !get_bounded(cfg, "websocket-ping-freq", 30, 1, 86400, &freq, err) ||
      !get_bounded(cfg, "websocket-pong-tolerance", 3, 1, 86400, &tol, err))
    return false;
  out->max_size = (size_t)kib * 1024;
  out->ping_freq_s = (int)freq;
  out->pong_tolerance_s = (int)tol;
  return true;
}

}  // namespace uwsgi
