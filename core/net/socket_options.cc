#include "net/socket_options.h"

#include <sys/stat.h>

#include <cstdlib>

#include "config/values.h"
#include "process/process_opts.h"

namespace uwsgi {

static bool parse_octal_mode(const std::string& v, int* out) {
  char* end = nullptr;
  long m = strtol(v.c_str(), &end, 8);
  if (v.empty() || *end != 0 || m < 0 || m > 07777) return false;
  *out = (int)m;
  return true;
}

void register_socket_tuning_options(HostImpl& host) {
  const OptArg R = OptArg::Required;
  host.add_option(make_option("socket-sndbuf", 0, R,
                              "SO_SNDBUF of the listening sockets in bytes (connections inherit it)", {}, true));
  host.add_option(make_option("socket-rcvbuf", 0, R,
                              "SO_RCVBUF of the listening sockets in bytes (connections inherit it)", {}, true));
  host.add_option(make_option("so-send-timeout", 0, R,
                              "SO_SNDTIMEO of the listening sockets in seconds (connections inherit it)",
                              {"socket-send-timeout", "so-write-timeout", "socket-write-timeout"}, true));
  host.add_option(make_option("freebind", 0, OptArg::None,
                              "IP_FREEBIND on TCP sockets: bind an address this host does not have (yet)"));
}

bool read_socket_settings(const Config& cfg, SocketSettings* out, std::string* err) {
  ListenOptions& lo = out->listen;
  long long sndbuf = 0, rcvbuf = 0, send_timeout = 0;
  if (!get_bounded(cfg, "socket-sndbuf", 0, 0, 1 << 30, &sndbuf, err) ||
      !get_bounded(cfg, "socket-rcvbuf", 0, 0, 1 << 30, &rcvbuf, err) ||
      !get_bounded(cfg, "so-send-timeout", 0, 0, 86400, &send_timeout, err))
    return false;
  lo.sndbuf = (int)sndbuf;
  lo.rcvbuf = (int)rcvbuf;
  lo.send_timeout_s = (int)send_timeout;
  lo.freebind = cfg.get_bool("freebind");
  long long backlog = 100;
  if (!get_bounded(cfg, "listen", 100, 1, 65535, &backlog, err)) return false;
  lo.backlog = (int)backlog;
  lo.reuse_port = cfg.get_bool("reuse-port");
  lo.so_keepalive = cfg.get_bool("so-keepalive");
  lo.defer_accept = !cfg.get_bool("no-defer-accept");
  if (cfg.has("chmod-socket")) {
    std::string m = cfg.get("chmod-socket");
    if (m.empty() || m == "true") {
      lo.chmod = 0666;
    } else if (!parse_octal_mode(m, &lo.chmod)) {
      *err = "--chmod-socket wants an octal mode such as 660, not \"" + m + "\"";
      return false;
    }
  }
  // uWSGI's form: USER or USER:GROUP (names or numbers).
  if (cfg.has("chown-socket")) {
    std::string v = cfg.get("chown-socket");
    size_t colon = v.find(':');
    unsigned uid = 0, gid = 0;
    if (!parse_id(v.substr(0, colon), true, &uid, err)) {
      *err = "--chown-socket: " + *err;
      return false;
    }
    lo.owner_uid = (int)uid;
    if (colon != std::string::npos) {
      if (!parse_id(v.substr(colon + 1), false, &gid, err)) {
        *err = "--chown-socket: " + *err;
        return false;
      }
      lo.owner_gid = (int)gid;
    }
  }
  if (cfg.has("umask")) {
    int mask = 0;
    if (!parse_octal_mode(cfg.get("umask"), &mask) || mask > 0777) {
      *err = "--umask wants an octal mask such as 022, not \"" + cfg.get("umask") + "\"";
      return false;
    }
    umask((mode_t)mask);
  }
  std::string proto = cfg.get("protocol");
  if (proto.empty() || proto == "uwsgi") {
    out->socket_protocol = Protocol::kUwsgi;
  } else if (proto == "http" || proto == "http11") {
    out->socket_protocol = Protocol::kHttp;
  } else {
    *err = "--protocol " + proto + " is not supported (this server speaks uwsgi and http)";
    return false;
  }
  return true;
}

}  // namespace uwsgi
