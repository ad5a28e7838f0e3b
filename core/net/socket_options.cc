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

bool read_socket_settings(const Config& cfg, SocketSettings* out, std::string* err) {
  ListenOptions& lo = out->listen;
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
