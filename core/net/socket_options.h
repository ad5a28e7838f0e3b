// The options that shape how sockets are bound, read once: --listen, --reuse-port, --so-keepalive, --chmod-socket,
// --chown-socket, --umask, the buffer sizes, send timeout and --freebind, and --protocol (which protocol a plain --socket speaks).
#pragma once

#include <string>

#include "config/options.h"
#include "host.h"
#include "net/listener.h"

namespace uwsgi {

struct SocketSettings {
  ListenOptions listen;
  Protocol socket_protocol = Protocol::kUwsgi;  // --protocol: what --socket speaks
};

// Applies --umask to the process (so the unix sockets bound next get it) and fills *out.
// false with a one-line reason naming the option in *err.
// --socket-sndbuf, --socket-rcvbuf, --so-send-timeout, --freebind.
void register_socket_tuning_options(HostImpl& host);

bool read_socket_settings(const Config& cfg, SocketSettings* out, std::string* err);

}  // namespace uwsgi
