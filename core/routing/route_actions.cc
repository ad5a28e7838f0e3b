// The routing actions: a table of {name, chains, parse, run}. Parsing happens once at start-up;
// run() expands the argument with the request's variables and the last regexp's groups.
#include <strings.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "log/log.h"
#include "routing/route_table.h"

namespace uwsgi {

static const unsigned kAll = kChainRequest | kChainResponse | kChainFinal | kChainError;

static bool parse_template(std::string_view arg, RouteAction* a, std::string* err) {
  return a->arg.compile(arg, err);
}
static bool parse_none(std::string_view arg, RouteAction* a, std::string* err) {
  (void)a;
  (void)err;
  return true;  // uWSGI ignores what follows continue:, last:, donotlog: ...
}

// "404", "404 Not Found", "403 Go away": the status and its reason (default: the standard one).
static bool parse_status(std::string_view arg, int* status, std::string* reason, std::string* err) {
  size_t sp = arg.find(' ');
  std::string code(arg.substr(0, sp));
  char* end = nullptr;
  long v = strtol(code.c_str(), &end, 10);
  if (code.size() != 3 || *end || v < 100 || v > 599) {
    *err = "bad HTTP status \"" + std::string(arg) + "\" (want a number from 100 to 599, optionally with a reason)";
    return false;
  }
  *status = (int)v;
  *reason = sp == std::string_view::npos ? std::string() : std::string(arg.substr(sp + 1));
  if (reason->find_first_of("\r\n") != std::string::npos) {
    *err = "bad HTTP reason phrase in \"" + std::string(arg) + "\"";
    return false;
  }
  return true;
}

static RouteResult run_continue(const RouteAction&, RouteCall&) { return RouteResult::kContinue; }

// break: without a status closes the connection unanswered (as uWSGI); with one, answers it
// with an empty body.
static bool parse_break(std::string_view arg, RouteAction* a, std::string* err) {
  if (arg.empty()) return true;
  return parse_status(arg, &a->status, &a->text, err);
}
static RouteResult run_break(const RouteAction& a, RouteCall& call) {
  if (a.status == 0) {
    call.close = true;
    return RouteResult::kBreak;
  }
  route_answer(*call.req, a.status, a.text.empty() ? http_reason(a.status) : a.text.c_str(), {}, "");
  return RouteResult::kBreak;
}

// return:404 answers the status with its reason phrase as a text/plain body.
static bool parse_return(std::string_view arg, RouteAction* a, std::string* err) {
  return parse_status(arg, &a->status, &a->text, err);
}
static RouteResult run_return(const RouteAction& a, RouteCall& call) {
  const char* reason = a.text.empty() ? http_reason(a.status) : a.text.c_str();
  route_answer(*call.req, a.status, reason, {}, reason);
  return RouteResult::kBreak;
}

static bool parse_goto(std::string_view arg, RouteAction* a, std::string* err) {
  if (arg.empty()) {
    *err = "goto: needs a label";
    return false;
  }
  return a->arg.compile(arg, err);  // a constant label is resolved once the table is complete
}
static RouteResult run_goto(const RouteAction& a, RouteCall& call) {
  if (a.target >= 0) {
    call.jump = a.target;
    return RouteResult::kGoto;
  }
  call.jump = -1;  // resolved by the engine (it knows the chain)
  return RouteResult::kGoto;
}

static RouteResult run_log(const RouteAction& a, RouteCall& call) {
  std::string msg = a.arg.expand(call.env);
  log_line("%s", msg.c_str());
  return RouteResult::kNext;
}

static RouteResult run_donotlog(const RouteAction&, RouteCall& call) {
  call.state.donotlog = true;
  return RouteResult::kNext;
}

// KEY=VALUE
static bool parse_keyvalue(std::string_view arg, RouteAction* a, std::string* err) {
  size_t eq = arg.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    *err = "want KEY=VALUE, not \"" + std::string(arg) + "\"";
    return false;
  }
  a->text = std::string(arg.substr(0, eq));
  return a->arg.compile(arg.substr(eq + 1), err);
}
// logvar:NAME=VALUE: the request log format's %(NAME) for this request.
static RouteResult run_logvar(const RouteAction& a, RouteCall& call) {
  std::string v = a.arg.expand(call.env);
  for (auto& kv : call.state.logvars)
    if (kv.first == a.text) {
      kv.second = std::move(v);
      return RouteResult::kNext;
    }
  call.state.logvars.emplace_back(a.text, std::move(v));
  return RouteResult::kNext;
}

static RouteResult run_addvar(const RouteAction& a, RouteCall& call) {
  route_set_var(call.head, a.text, a.arg.expand(call.env));
  return RouteResult::kNext;
}

// setpathinfo:, setscriptname:, ...: the variable is the action's own (def->name -> var).
static const char* var_of(const ActionDef* d) {
  if (!strcmp(d->name, "setpathinfo")) return "PATH_INFO";
  if (!strcmp(d->name, "setscriptname")) return "SCRIPT_NAME";
  if (!strcmp(d->name, "setmethod")) return "REQUEST_METHOD";
  if (!strcmp(d->name, "seturi")) return "REQUEST_URI";
  if (!strcmp(d->name, "setremoteaddr")) return "REMOTE_ADDR";
  if (!strcmp(d->name, "setdocroot")) return "DOCUMENT_ROOT";
  return "";
}
static RouteResult run_setvar(const RouteAction& a, RouteCall& call) {
  route_set_var(call.head, var_of(a.def), a.arg.expand(call.env));
  return RouteResult::kNext;
}

static bool bad_header_text(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

// "Name: value"
static bool parse_addheader(std::string_view arg, RouteAction* a, std::string* err) {
  size_t colon = arg.find(':');
  if (colon == std::string_view::npos || colon == 0 || arg.substr(0, colon).find(' ') != std::string_view::npos) {
    *err = "want \"Name: value\", not \"" + std::string(arg) + "\"";
    return false;
  }
  a->text = std::string(arg.substr(0, colon));
  std::string_view v = arg.substr(colon + 1);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  return a->arg.compile(v, err);
}
static RouteResult run_addheader(const RouteAction& a, RouteCall& call) {
  std::string v = a.arg.expand(call.env);
  if (bad_header_text(v)) {
    log_line("routing: addheader:%s: the value has a line break: not added", a.text.c_str());
    return RouteResult::kNext;
  }
  if (call.headers) call.headers->emplace_back(a.text, std::move(v));
  else call.state.add_headers.emplace_back(a.text, std::move(v));
  return RouteResult::kNext;
}

static bool parse_delheader(std::string_view arg, RouteAction* a, std::string* err) {
  if (arg.empty() || arg.find_first_of(" :") != std::string_view::npos) {
    *err = "want a header name, not \"" + std::string(arg) + "\"";
    return false;
  }
  a->text = std::string(arg);
  return true;
}
static RouteResult run_delheader(const RouteAction& a, RouteCall& call) {
  if (call.headers) {
    auto& h = *call.headers;
    for (size_t i = 0; i < h.size();)
      if (strcasecmp(h[i].first.c_str(), a.text.c_str()) == 0) h.erase(h.begin() + i);
      else i++;
  } else {
    call.state.del_headers.push_back(a.text);
  }
  return RouteResult::kNext;
}

static RouteResult redirect(const RouteAction& a, RouteCall& call, int status) {
  std::string to = a.arg.expand(call.env);
  if (bad_header_text(to)) {
    log_line("routing: redirect target has a line break: answered 500");
    route_answer(*call.req, 500, http_reason(500), {}, http_reason(500));
    return RouteResult::kBreak;
  }
  route_answer(*call.req, status, http_reason(status), {{"Location", std::move(to)}}, http_reason(status));
  return RouteResult::kBreak;
}
static RouteResult run_redirect302(const RouteAction& a, RouteCall& call) { return redirect(a, call, 302); }
static RouteResult run_redirect301(const RouteAction& a, RouteCall& call) { return redirect(a, call, 301); }

// rewrite:/new/path?query: PATH_INFO (and QUERY_STRING when the target has a '?'); the rules
// after it see the new values. REQUEST_URI stays what the client sent (as uWSGI).
static RouteResult do_rewrite(const RouteAction& a, RouteCall& call) {
  std::string to = a.arg.expand(call.env);
  size_t q = to.find('?');
  if (q != std::string::npos) {
    route_set_var(call.head, "QUERY_STRING", to.substr(q + 1));
    to.resize(q);
  }
  route_set_var(call.head, "PATH_INFO", std::move(to));
  return RouteResult::kNext;
}
static RouteResult run_rewrite_last(const RouteAction& a, RouteCall& call) {
  do_rewrite(a, call);
  return RouteResult::kContinue;
}

static RouteResult run_static(const RouteAction& a, RouteCall& call) {
  route_serve_file(*call.req, call.head, a.arg.expand(call.env));
  return RouteResult::kBreak;
}

// basicauth:REALM,user:password | basicauth:REALM,/path/to/htpasswd | basicauth:REALM,
static bool parse_basicauth(std::string_view arg, RouteAction* a, std::string* err) {
  size_t comma = arg.find(',');
  if (comma == std::string_view::npos) {
    *err = "want REALM,USER:PASSWORD or REALM,HTPASSWD_FILE, not \"" + std::string(arg) + "\"";
    return false;
  }
  a->text = std::string(arg.substr(0, comma));
  a->text2 = std::string(arg.substr(comma + 1));
  if (a->text.find_first_of("\"\r\n") != std::string::npos) {
    *err = "the realm may not contain '\"' or a line break";
    return false;
  }
  if (!a->text2.empty() && a->text2.find(':') == std::string::npos && access(a->text2.c_str(), R_OK) != 0) {
    *err = "cannot read the htpasswd file " + a->text2 + ": " + strerror(errno);
    return false;
  }
  return true;
}
static RouteResult basicauth(const RouteAction& a, RouteCall& call, bool next_on_failure) {
  std::string user;
  std::string_view auth = call.head.find("HTTP_AUTHORIZATION");
  if (!a.text2.empty() && !auth.empty() && basicauth_check(auth, a.text2, &user)) {
    route_set_var(call.head, "REMOTE_USER", std::move(user));
    return RouteResult::kNext;
  }
  if (next_on_failure) return RouteResult::kNext;
  route_answer(*call.req, 401, "Authorization Required", {{"WWW-Authenticate", "Basic realm=\"" + a.text + "\""}},
               "Unauthorized");
  return RouteResult::kBreak;
}
static RouteResult run_basicauth(const RouteAction& a, RouteCall& call) { return basicauth(a, call, false); }
static RouteResult run_basicauth_next(const RouteAction& a, RouteCall& call) { return basicauth(a, call, true); }

static RouteResult run_chdir(const RouteAction& a, RouteCall& call) {
  std::string dir = a.arg.expand(call.env);
  if (chdir(dir.c_str()) != 0) log_line("routing: chdir:%s failed: %s", dir.c_str(), strerror(errno));
  return RouteResult::kNext;
}

static const unsigned kReq = kChainRequest;
// The error chain runs before the error response's head is built: it may answer instead, or add
// and remove headers of the response that goes out.
static const unsigned kReqErr = kChainRequest | kChainError;
static const unsigned kReqResp = kChainRequest | kChainResponse | kChainError;

static const ActionDef kActions[] = {
    {"continue", kAll, parse_none, run_continue},
    {"last", kAll, parse_none, run_continue},
    {"break", kReqErr, parse_break, run_break},
    {"return", kReqErr, parse_return, run_return},
    {"break-with-status", kReqErr, parse_return, run_return},
    {"goto", kAll, parse_goto, run_goto},
    {"log", kAll, parse_template, run_log},
    {"donotlog", kAll, parse_none, run_donotlog},
    {"addvar", kAll, parse_keyvalue, run_addvar},
    {"logvar", kAll, parse_keyvalue, run_logvar},
    {"setpathinfo", kAll, parse_template, run_setvar},
    {"setscriptname", kAll, parse_template, run_setvar},
    {"setmethod", kAll, parse_template, run_setvar},
    {"seturi", kAll, parse_template, run_setvar},
    {"setremoteaddr", kAll, parse_template, run_setvar},
    {"setdocroot", kAll, parse_template, run_setvar},
    {"addheader", kReqResp, parse_addheader, run_addheader},
    {"delheader", kReqResp, parse_delheader, run_delheader},
    {"remheader", kReqResp, parse_delheader, run_delheader},
    {"redirect", kReqErr, parse_template, run_redirect302},
    {"redirect-302", kReqErr, parse_template, run_redirect302},
    {"redirect-permanent", kReqErr, parse_template, run_redirect301},
    {"redirect-301", kReqErr, parse_template, run_redirect301},
    {"rewrite", kReq, parse_template, do_rewrite},
    {"rewrite-last", kReq, parse_template, run_rewrite_last},
    {"static", kReqErr, parse_template, run_static},
    {"basicauth", kReq, parse_basicauth, run_basicauth},
    {"basicauth-next", kReq, parse_basicauth, run_basicauth_next},
    {"chdir", kReq, parse_template, run_chdir},
};

const ActionDef* find_action(std::string_view name) {
  for (auto& a : kActions)
    if (name == a.name) return &a;
  return nullptr;
}

}  // namespace uwsgi
