// The HTTP router (--http): a process the master starts and supervises. It accepts HTTP/1.x
// clients on one epoll loop, reads each request whole (head and body) and only then hands it to a
// worker over the uwsgi protocol, streaming the response back. It lives in the core rather than in
// plugins/http/ because the plugin API (include/uwsgi/plugin.h) has no "supervised process" of its
// own yet; it uses nothing but the core's parser and listeners.
#pragma once

#include <sys/socket.h>

#include <string>
#include <utility>
#include <vector>

#include "host.h"
#include "net/listener.h"

struct ssl_ctx_st;

namespace uwsgi {

struct RouterBackend {
  std::string spec;  // as given ("127.0.0.1:3031" or a unix path)
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
};

struct RouterSettings {
  std::vector<RouterBackend> backends;  // --http-to, or the workers' socket; round robin
  int processes = 1;                    // --http-processes
  bool keepalive = true;                // --http-keepalive (on unless 0)
  int keepalive_idle_ms = 30000;        // an idle keep-alive client is closed after this
  int timeout_ms = 60000;               // --http-timeout: client or worker silent that long
  int connect_timeout_ms = 5000;        // --http-connect-timeout
  size_t max_head = 8192;               // --http-buffer-size: largest request head
  size_t body_in_memory = 256 * 1024;   // beyond this a request body goes to a temp file
  bool auto_chunked = false;            // --http-auto-chunked
  bool raw_body = false;                // --http-raw-body: stream the body, do not read it first
  bool websockets = false;              // --http-websockets (101 is tunnelled either way)
  bool proxy_protocol = false;          // --http-enable-proxy-protocol
  int modifier1 = 0;                    // --http-modifier1
  std::vector<std::pair<std::string, std::string>> vars;  // --http-var KEY=VALUE
  int mercy_ms = 60000;                 // a stopping router finishes its requests for this long
  std::vector<ssl_ctx_st*> tls;         // per router listener: its TLS context (--https), or null
  bool http_to_https = false;           // --http-to-https: plain requests get a redirect
  std::string https_port;               // where that redirect points ("" = 443)
  int stats_fd = -1;                    // --http-stats: a listening socket router 1 answers with JSON
};

// Options of the router: --http, --http-to, ... (and the uWSGI router options we accept but that
// change nothing here, with a warning line).
void register_router_options(HostImpl& host);
void warn_router_options(const Config& cfg);
// Reads the router's options; `workers` are the listeners the workers serve (the default backend
// is the first uwsgi-protocol one). False + *err on a bad value.
bool read_router_settings(const Config& cfg, const std::vector<Listener>& workers, RouterSettings* out,
                          std::string* err);
bool resolve_backend(const std::string& spec, RouterBackend* out, std::string* err);

// The router process's main: serves until SIGINT/SIGQUIT/SIGTERM (then finishes what is in
// flight, up to mercy_ms) and returns the exit code.
int run_router(const RouterSettings& s, const std::vector<Listener>& listeners, int id);

}  // namespace uwsgi
