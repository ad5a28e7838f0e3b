// The compiled routing tables and the pieces the engine, the actions and the conditions share
// (internal to core/routing/; the connection sees only routing.h).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "routing/route_regex.h"
#include "routing/route_template.h"
#include "routing/routing.h"

namespace uwsgi {

enum RouteChainKind : unsigned { kChainRequest = 1, kChainResponse = 2, kChainFinal = 4, kChainError = 8 };

enum class RouteResult {
  kNext,      // the next rule
  kContinue,  // stop routing, run the app (continue:, last:, rewrite-last:)
  kBreak,     // stop routing: the request was answered (or is to be closed)
  kGoto,      // jump to RouteCall::jump
};

struct RouteCall {
  RequestHead& head;
  RouteState& state;
  Request* req = nullptr;          // request and error chains: where an action answers
  HeaderList* headers = nullptr;   // response chain: the headers being built
  Captures caps;
  RouteEnv env;
  int jump = -1;                   // kGoto: the rule index to go on at
  bool close = false;              // break: without a status
  size_t rule = 0;                 // the rule being run

  RouteCall(RequestHead& h, RouteState& s) : head(h), state(s) {
    env.head = &head;
    env.caps = &caps;
  }
};

struct RouteAction;

struct ActionDef {
  const char* name;
  unsigned chains;  // RouteChainKind bits where the action may be used
  // Parses the text after "name:" into *a (its template and fixed fields).
  bool (*parse)(std::string_view arg, RouteAction* a, std::string* err);
  RouteResult (*run)(const RouteAction& a, RouteCall& call);
};

struct RouteAction {
  const ActionDef* def = nullptr;
  RouteTemplate arg;
  int status = 0;
  std::string text;      // a fixed part: reason phrase, header name, realm, label
  std::string text2;     // a second one: credentials or htpasswd path
  int target = -1;       // goto: the rule index (resolved at start-up), -1 = look the label up
};

struct ConditionDef {
  const char* name;
  bool regex;  // the pattern is a regexp (compiled once when it has no variables)
  bool (*test)(std::string_view subject, std::string_view pattern, const RouteRegex* re, Captures* caps);
};

struct RouteRule {
  enum Kind { kRun, kRegex, kCondition, kLabel } kind = kRun;
  std::string origin;        // "--route-if equal:...", for messages
  std::string subject_var;   // kRegex: PATH_INFO, REQUEST_URI, HTTP_HOST, ...
  bool subject_status = false;  // kRegex on the response status (--response-route-status)
  RouteRegex regex;
  const ConditionDef* cond = nullptr;  // kCondition
  RouteTemplate cond_subject, cond_pattern;
  bool negate = false;
  std::string label;         // kLabel
  RouteAction action;
};

struct RouteChain {
  std::vector<RouteRule> rules;
  int find_label(std::string_view name, size_t from) const {
    for (size_t i = from; i < rules.size(); i++)
      if (rules[i].kind == RouteRule::kLabel && rules[i].label == name) return (int)i;
    return -1;
  }
};

struct RoutingConfig {
  RouteChain request, response, final, error;
  HeaderList add_headers;                // --add-header
  std::vector<std::string> del_headers;  // --del-header / --rem-header
  struct Collect {
    std::string header, var;
    bool pull;  // --pull-header: also removed from the response
  };
  std::vector<Collect> collect;          // --collect-header / --pull-header
  bool response_hook = false;            // anything for route_response() to do
};

const ActionDef* find_action(std::string_view name);
const ConditionDef* find_condition(std::string_view name);
// Runs chain from its first rule.
RouteResult run_chain(const RouteChain& chain, RouteCall& call);
const char* http_reason(int status);
// Answers with a status, optional extra headers and a body (Content-Length, text/plain).
void route_answer(Request& req, int status, const char* reason, HeaderList headers, std::string_view body);

// The `static:` action: the static-files subsystem serves the file (route_static.cc).
void route_serve_file(Request& req, const RequestHead& head, const std::string& path);
// basicauth: (route_basicauth.cc): does the Authorization header carry these credentials?
// creds "user:password", or a path to an htpasswd file (crypt(3) hashes). *user = the user name.
bool basicauth_check(std::string_view authorization, const std::string& creds, std::string* user);

// Sets a request variable (replacing the first of that name, else adding it); the value is
// owned by the head's arena.
void route_set_var(RequestHead& head, std::string_view name, std::string value);

}  // namespace uwsgi
