// Internal routing (uWSGI's --route*, --response-route*, --final-route*, --add-header,
// --del-header): rule tables compiled once at start-up (regexps, templates, goto targets,
// actions), then run per request by the connection at three points:
//   route_request()   before the app is called: may rewrite the request's variables, queue
//                     response headers, or answer itself (redirect, return, static, basicauth);
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
  void reset() {
    add_headers.clear();
    del_headers.clear();
    donotlog = false;
  }
};

void register_routing_options(HostImpl& host);
// Null *out when no routing option is given (the connection then skips every hook).
bool read_routing_config(const Config& cfg, std::shared_ptr<const RoutingConfig>* out, std::string* err);

bool routing_has_request_rules(const RoutingConfig& rc);
bool routing_has_final_rules(const RoutingConfig& rc);

enum class RouteOutcome {
  kApp,       // call the app (possibly with rewritten variables)
  kAnswered,  // the routing answered through req (start_response/write/sendfile)
  kClose,     // break: without a status: close the connection with no answer
};
RouteOutcome route_request(const RoutingConfig& rc, RequestHead& head, Request& req, RouteState& st, int worker_id);

// The headers to send for status and the app's headers: --del-header/delheader removed,
// --add-header/addheader added, then the response chain applied. Returns `in` itself when
// nothing changes it, else st.scratch.
const HeaderList& route_response(const RoutingConfig& rc, RequestHead& head, RouteState& st, int status,
                                 const HeaderList& in, int worker_id);

void route_final(const RoutingConfig& rc, RequestHead& head, RouteState& st, int status, int worker_id);

}  // namespace uwsgi
