// Internal routing (uWSGI's --route*, --response-route*, --final-route*, --add-header,
// --del-header): rule tables compiled once at start-up (regexps, templates, goto targets,
// actions), then run per request by the connection at three points:
//   route_request()   before the app is called: may rewrite the request's variables, queue
//                     response headers, or answer itself (redirect, return, static, basicauth);
//   route_error()     when the response status is >= 400 (--error-route*), before its head is
//                     built: may answer instead (redirect, static, return...);
//   route_response()  when the response head is built: the headers actually sent;
//   route_final()     after the response went out (log-only actions).
// Any bad rule (unknown action or condition, bad regexp, goto to no label) stops start-up with
// a message naming the option and the rule. docs/routing.md is the user's side.
#pragma once

#include <uwsgi/plugin.h>

#include <memory>
#include <string>
#include <vector>

#include "host.h"
#include "net/request_head.h"

namespace uwsgi {

struct RoutingConfig;

// What the request chain left for the rest of the request (owned by the connection, reused).
struct RouteState {
  HeaderList add_headers;                // addheader:
  std::vector<std::string> del_headers;  // delheader: / remheader:
  HeaderList scratch;                    // the headers route_response() hands back
  bool donotlog = false;                 // donotlog:
  bool error_routed = false;             // the error chain ran for this request (it runs once)
  std::vector<std::pair<std::string, std::string>> logvars;  // logvar: (the log format's %(NAME))
  void reset() {
    add_headers.clear();
    del_headers.clear();
    donotlog = false;
    error_routed = false;
    logvars.clear();
  }
  // The value a logvar: action gave NAME for this request (empty when none did).
  std::string_view logvar(std::string_view name) const {
    for (auto& kv : logvars)
      if (kv.first == name) return kv.second;
    return {};
  }
};

void register_routing_options(HostImpl& host);
// Null *out when no routing option is given (the connection then skips every hook).
bool read_routing_config(const Config& cfg, std::shared_ptr<const RoutingConfig>* out, std::string* err);

bool routing_has_request_rules(const RoutingConfig& rc);
bool routing_has_final_rules(const RoutingConfig& rc);
bool routing_has_error_rules(const RoutingConfig& rc);

enum class RouteOutcome {
  kApp,       // call the app (possibly with rewritten variables)
  kAnswered,  // the routing answered through req (start_response/write/sendfile)
  kClose,     // break: without a status: close the connection with no answer
};
RouteOutcome route_request(const RoutingConfig& rc, RequestHead& head, Request& req, RouteState& st, int worker_id);

// The error chain, for a response whose status is >= 400, before its head is built (once per
// request: the caller checks and sets st.error_routed). kAnswered: a rule answered through req
// instead, and the app's own response is to be dropped; kClose: break: without a status.
RouteOutcome route_error(const RoutingConfig& rc, RequestHead& head, Request& req, RouteState& st, int status,
                         int worker_id);

// The headers to send for status and the app's headers: --del-header/delheader removed,
// --add-header/addheader added, then the response chain applied. Returns `in` itself when
// nothing changes it, else st.scratch.
const HeaderList& route_response(const RoutingConfig& rc, RequestHead& head, RouteState& st, int status,
                                 const HeaderList& in, int worker_id);

void route_final(const RoutingConfig& rc, RequestHead& head, RouteState& st, int status, int worker_id);

}  // namespace uwsgi
