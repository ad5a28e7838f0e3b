// uWSGI's websocket options: --websocket-max-size (KiB), --websocket-ping-freq and
// --websocket-pong-tolerance (seconds), each also spelled websockets-*.
#pragma once

#include <string>

#include "host.h"
#include "net/websocket.h"

namespace uwsgi {

void register_websocket_options(HostImpl& host);
// false with *err naming the option when a value is out of range.
bool read_websocket_settings(const Config& cfg, WebSocketSettings* out, std::string* err);

}  // namespace uwsgi
