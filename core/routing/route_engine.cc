// Runs a compiled chain over one request, and the three hooks the connection calls.
#include <strings.h>

#include "log/log.h"
#include "routing/route_table.h"

namespace uwsgi {

static bool rule_matches(const RouteRule& r, RouteCall& call) {
  switch (r.kind) {
    case RouteRule::kRun:
      return true;
    case RouteRule::kLabel:
      return false;
    case RouteRule::kRegex: {
      if (r.subject_status) return r.regex.match(std::to_string(call.env.status), &call.caps);
      return r.regex.match(call.head.find(r.subject_var), &call.caps);
    }
    case RouteRule::kCondition: {
      std::string subject = r.cond_subject.expand(call.env);
      std::string pattern = r.cond_pattern.expand(call.env);
      bool hit = r.cond->test(subject, pattern, r.regex.valid() ? &r.regex : nullptr, &call.caps);
      return r.negate ? !hit : hit;
    }
  }
  return false;
}

// Jumps only go forward (checked at start-up for fixed labels, here for labels made of
// variables), so a chain always ends.
RouteResult run_chain(const RouteChain& chain, RouteCall& call) {
  size_t i = 0;
  while (i < chain.rules.size()) {
    const RouteRule& r = chain.rules[i];
    call.rule = i;
    if (!rule_matches(r, call)) {
      i++;
      continue;
    }
    RouteResult res = r.action.def->run(r.action, call);
    if (res == RouteResult::kNext) {
      i++;
    } else if (res == RouteResult::kGoto) {
      int to = call.jump;
      if (to < 0) {
        std::string label = r.action.arg.expand(call.env);
        to = chain.find_label(label, i + 1);
        if (to < 0) {
          log_line("routing: %s: no label \"%s\" after this rule: going on with the next rule", r.origin.c_str(),
                   label.c_str());
          to = (int)i + 1;
        }
      }
      i = (size_t)to;
    } else {
      return res;
    }
  }
  return RouteResult::kNext;
}

bool routing_has_request_rules(const RoutingConfig& rc) { return !rc.request.rules.empty(); }
bool routing_has_final_rules(const RoutingConfig& rc) { return !rc.final.rules.empty(); }
bool routing_has_error_rules(const RoutingConfig& rc) { return !rc.error.rules.empty(); }

RouteOutcome route_request(const RoutingConfig& rc, RequestHead& head, Request& req, RouteState& st, int worker_id) {
  RouteCall call(head, st);
  call.req = &req;
  call.env.worker_id = worker_id;
  RouteResult r = run_chain(rc.request, call);
  if (r != RouteResult::kBreak) return RouteOutcome::kApp;
  return call.close ? RouteOutcome::kClose : RouteOutcome::kAnswered;
}

RouteOutcome route_error(const RoutingConfig& rc, RequestHead& head, Request& req, RouteState& st, int status,
                         int worker_id) {
  RouteCall call(head, st);
  call.req = &req;
  call.env.status = status;
  call.env.worker_id = worker_id;
  RouteResult r = run_chain(rc.error, call);
  if (r != RouteResult::kBreak) return RouteOutcome::kApp;
  return call.close ? RouteOutcome::kClose : RouteOutcome::kAnswered;
}

static bool named_in(const std::string& name, const std::vector<std::string>& names) {
  for (auto& n : names)
    if (strcasecmp(n.c_str(), name.c_str()) == 0) return true;
  return false;
}

const HeaderList& route_response(const RoutingConfig& rc, RequestHead& head, RouteState& st, int status,
                                 const HeaderList& in, int worker_id) {
  if (!rc.response_hook && st.add_headers.empty() && st.del_headers.empty()) return in;
  HeaderList& out = st.scratch;
  out.clear();
  for (auto& h : in) {
    bool pulled = false;
    for (auto& c : rc.collect)
      if (strcasecmp(c.header.c_str(), h.first.c_str()) == 0) {
        route_set_var(head, c.var, h.second);
        pulled |= c.pull;
      }
    if (!pulled && !named_in(h.first, rc.del_headers) && !named_in(h.first, st.del_headers)) out.push_back(h);
  }
  out.insert(out.end(), rc.add_headers.begin(), rc.add_headers.end());
  out.insert(out.end(), st.add_headers.begin(), st.add_headers.end());
  if (!rc.response.rules.empty()) {
    RouteCall call(head, st);
    call.headers = &out;
    call.env.status = status;
    call.env.worker_id = worker_id;
    run_chain(rc.response, call);
  }
  return out;
}

void route_final(const RoutingConfig& rc, RequestHead& head, RouteState& st, int status, int worker_id) {
  RouteCall call(head, st);
  call.env.status = status;
  call.env.worker_id = worker_id;
  run_chain(rc.final, call);
}

void route_set_var(RequestHead& head, std::string_view name, std::string value) {
  std::string_view v = head.arena.emplace_front(std::move(value));
  for (auto& kv : head.vars)
    if (kv.first == name) {
      kv.second = v;
      return;
    }
  head.vars.emplace_back(head.arena.emplace_front(name), v);
}

void route_answer(Request& req, int status, const char* reason, HeaderList headers, std::string_view body) {
  headers.emplace_back("Content-Type", "text/plain");
  headers.emplace_back("Content-Length", std::to_string(body.size()));
  std::string line = std::to_string(status) + " " + reason;
  if (!req.start_response(line, headers)) {
    log_line("routing: cannot answer %s: %s", line.c_str(), req.error());
    return;
  }
  if (!body.empty()) req.write(body.data(), body.size());
}

const char* http_reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 418: return "I'm a teapot";
    case 429: return "Too Many Requests";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
  }
  return "Unknown";
}

}  // namespace uwsgi
