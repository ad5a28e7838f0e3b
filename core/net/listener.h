// Listening sockets: TCP "host:port" / ":port" and unix paths, for the uwsgi or HTTP protocol.
#pragma once

#include <string>
#include <vector>

namespace uwsgi {

enum class Protocol { kUwsgi, kHttp };

struct Listener {
  int fd = -1;
  Protocol proto = Protocol::kUwsgi;
  std::string spec;       // as given
  std::string addr, port; // for SERVER_NAME / SERVER_PORT
  std::string unix_path;  // non-empty for unix sockets
};

struct ListenOptions {
  int backlog = 100;
  bool reuse_port = false;
  bool so_keepalive = false;  // --so-keepalive: TCP keepalive probes on the connections (inherited by accept)
  bool defer_accept = true;  // TCP_DEFER_ACCEPT (--no-defer-accept turns it off)
  int chmod = -1;  // unix socket mode, -1 = leave
  int owner_uid = -1, owner_gid = -1;  // --chown-socket for unix sockets, -1 = leave
  // uWSGI's --socket-sndbuf/--socket-rcvbuf (bytes, SO_SNDBUF/SO_RCVBUF) and --so-send-timeout
  // (seconds, SO_SNDTIMEO): set on the listening socket, which accepted connections inherit.
  // 0 = the kernel's default.
  int sndbuf = 0, rcvbuf = 0, send_timeout_s = 0;
  bool freebind = false;  // --freebind: IP_FREEBIND, so an address not (yet) on this host binds
};

bool bind_listener(const std::string& spec, Protocol proto, const ListenOptions& opt, Listener* out,
                   std::string* err);
// Sockets kept open across a re-exec (graceful reload) are passed in UWSGI_INHERITED_SOCKETS
// as "fd:proto:spec;..." so the new process takes them over instead of binding again.
std::string encode_inherited(const std::vector<Listener>& ls);
bool take_inherited(const std::string& spec, Protocol proto, Listener* out);

}  // namespace uwsgi
