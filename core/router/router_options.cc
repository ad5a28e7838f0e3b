// The HTTP router's option table and its settings.
#include <netdb.h>
#include <sys/un.h>

#include <cstring>

#include "config/options.h"
#include "config/values.h"
#include "log/log.h"
#include "router/router.h"

namespace uwsgi {

// uWSGI router options accepted for compatibility that change nothing here.
static const char* const kNoEffect[] = {
    "http-modifier2", "http-headers-timeout", "http-manage-expect",
    "http-auto-gzip", "http-server-name-as-http-host",
};
// Options that only tune a router: without --http they do nothing (as in uWSGI).
static const char* const kTuning[] = {
    "http-to",       "http-timeout",   "http-connect-timeout", "http-buffer-size",
    "http-auto-chunked", "http-raw-body", "http-websockets", "http-enable-proxy-protocol",
    "http-modifier1", "http-var",     "http-processes", "http-to-https", "http-stats",
};

void register_router_options(HostImpl& host) {
  const OptArg R = OptArg::Required, N = OptArg::None, O = OptArg::Optional;
  // http-keepalive: a flag in uWSGI 2.0, a number of seconds in 2.1; both are read.
  host.add_option(make_option("http", 0, R,
                              "start the HTTP router on this address (host:port, :port or a unix path; repeatable): "
                              "it reads each request whole, then passes it to a worker"));
  host.add_option(make_option("https", 0, R,
                              "start the router on a TLS socket: ADDR,CERT,KEY[,CIPHERS][,CA] (repeatable; a CA "
                              "file asks clients for a certificate); the app sees HTTPS=on"));
  host.add_option(make_option("http-to-https", 0, N,
                              "router: answer plain-HTTP requests with a 301 to the same URL over https"));
  host.add_option(make_option("http-stats", 0, R,
                              "router: serve its counters as JSON on this address (router 1; one dump per "
                              "connection, as --stats)", {"http-stats-server"}));
  host.add_option(make_option("http-to", 0, R,
                              "the router forwards to these uwsgi sockets instead of the workers' (repeatable: round "
                              "robin, a refused one skipped)"));
  host.add_option(make_option("http-keepalive", 0, O,
                              "HTTP/1.1 keep-alive with the router's clients (default on; 0 turns it off; N > 1 = "
                              "idle seconds, default 30); --http-socket keeps alive in any case"));
  host.add_option(make_option("http-timeout", 0, R,
                              "router: seconds a client or a worker may stay silent, including the wait for a "
                              "free worker (default 60)", {}, true));
  host.add_option(make_option("http-connect-timeout", 0, R,
                              "router: seconds to connect to a worker socket (default 5)", {}, true));
  host.add_option(make_option("http-buffer-size", 0, R, "router: largest request head in bytes (default 8192)",
                              {}, true));
  host.add_option(make_option("http-auto-chunked", 0, N,
                              "router: a keep-alive HTTP/1.1 response with no length is chunked instead of closed"));
  host.add_option(make_option("http-raw-body", 0, N,
                              "router: stream request bodies to the worker as they come (not read whole first)"));
  host.add_option(make_option("http-websockets", 0, N,
                              "router: pass websocket upgrades through (a 101 answer is always tunnelled)"));
  host.add_option(make_option("http-enable-proxy-protocol", 0, N,
                              "router: a client may start with a PROXY v1 line (its source becomes REMOTE_ADDR)"));
  host.add_option(make_option("http-modifier1", 0, R, "router: uwsgi modifier1 of the forwarded requests", {}, true));
  host.add_option(make_option("http-var", 0, R, "router: add KEY=VALUE to every forwarded request (repeatable)"));
  host.add_option(make_option("http-processes", 0, R, "number of router processes (default 1)", {"http-workers"},
                              true));
  for (const char* name : kNoEffect)
    host.add_option(make_option(name, 0, OptArg::Optional, "uWSGI router option accepted for compatibility: no effect"));
}

void warn_router_options(const Config& cfg) {
  for (const char* name : kNoEffect)
    if (cfg.has(name)) log_line("uwsgi: --%s has no effect in this server's HTTP router", name);
  if (cfg.has("http") || cfg.has("https")) return;
  for (const char* name : kTuning)
    if (cfg.has(name)) log_line("uwsgi: --%s has no effect: it tunes the HTTP router (--http), and none runs here", name);
}

bool resolve_backend(const std::string& spec, RouterBackend* out, std::string* err) {
  out->spec = spec;
  if (spec.find('/') != std::string::npos || spec.find(':') == std::string::npos) {
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    if (spec.size() >= sizeof sun.sun_path) {
      *err = "unix socket path too long: " + spec;
      return false;
    }
    memcpy(sun.sun_path, spec.c_str(), spec.size());
    memcpy(&out->addr, &sun, sizeof sun);
    out->addr_len = sizeof sun;
    return true;
  }
  size_t colon = spec.rfind(':');
  std::string host = spec.substr(0, colon), port = spec.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || !res) {
    *err = "cannot resolve " + spec + ": " + gai_strerror(rc);
    return false;
  }
  memcpy(&out->addr, res->ai_addr, res->ai_addrlen);
  out->addr_len = res->ai_addrlen;
  freeaddrinfo(res);
  return true;
}

static bool bounded(const Config& cfg, const char* name, long long def, long long lo, long long hi, long long* v,
                    std::string* err) {
  return get_bounded(cfg, name, def, lo, hi, v, err);
}

bool read_router_settings(const Config& cfg, const std::vector<Listener>& workers, RouterSettings* out,
                          std::string* err) {
  for (auto& spec : cfg.all("http-to")) {
    RouterBackend b;
    if (!check_socket_address(spec, err) || !resolve_backend(spec, &b, err)) {
      *err = "--http-to " + spec + ": " + *err;
      return false;
    }
    out->backends.push_back(b);
  }
  if (out->backends.empty()) {
    for (auto& l : workers) {
      if (l.proto != Protocol::kUwsgi) continue;
      RouterBackend b;
      std::string spec = l.unix_path.empty() ? (l.addr.find(':') != std::string::npos ? "[" + l.addr + "]" : l.addr) +
                                                   ":" + l.port
                                             : l.unix_path;
      if (!resolve_backend(spec, &b, err)) return false;
      out->backends.push_back(b);
      break;
    }
  }
  long long v;
  if (!bounded(cfg, "http-processes", 1, 1, 64, &v, err)) return false;
  out->processes = (int)v;
  if (!bounded(cfg, "http-timeout", 60, 1, 86400, &v, err)) return false;
  out->timeout_ms = (int)v * 1000;
  if (!bounded(cfg, "http-connect-timeout", 5, 1, 3600, &v, err)) return false;
  out->connect_timeout_ms = (int)v * 1000;
  if (!bounded(cfg, "http-buffer-size", 8192, 512, 1 << 20, &v, err)) return false;
  out->max_head = (size_t)v;
  if (!bounded(cfg, "http-modifier1", 0, 0, 255, &v, err)) return false;
  out->modifier1 = (int)v;
  if (cfg.has("http-keepalive")) {
    std::string k = cfg.get("http-keepalive");
    long long n = 1;
    if (!k.empty() && !parse_number_value(k, &n)) {
      *err = "--http-keepalive wants a number of seconds or true/false, not \"" + k + "\"";
      return false;
    }
    out->keepalive = n != 0;
    if (n > 1) out->keepalive_idle_ms = (int)std::min<long long>(n, 86400) * 1000;
  }
  out->auto_chunked = cfg.get_bool("http-auto-chunked");
  out->raw_body = cfg.get_bool("http-raw-body");
  out->websockets = cfg.get_bool("http-websockets");
  out->proxy_protocol = cfg.get_bool("http-enable-proxy-protocol");
  out->http_to_https = cfg.get_bool("http-to-https");
  for (auto& kv : cfg.all("http-var")) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      *err = "--http-var wants KEY=VALUE, not \"" + kv + "\"";
      return false;
    }
    out->vars.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  long long mercy = cfg.get_int("reload-mercy", 60);
  out->mercy_ms = (int)std::min<long long>(std::max<long long>(mercy, 1), 86400) * 1000;
  return true;
}

}  // namespace uwsgi
