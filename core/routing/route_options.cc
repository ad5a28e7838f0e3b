// The routing options (uWSGI names) and their compilation into RoutingConfig at start-up. The
// order of rules is the order the options were written in, across every --route* option of a
// chain (ConfigStore::items() keeps it).
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

#include "routing/route_table.h"

namespace uwsgi {

namespace {

struct ChainDef {
  const char* prefix;  // "route", "response-route", "final-route"
  unsigned chain;
  const char* what;    // for help texts and messages
};
const ChainDef kChains[] = {
    {"route", kChainRequest, "request"},
    {"response-route", kChainResponse, "response"},
    {"final-route", kChainFinal, "final"},
    {"error-route", kChainError, "error"},
};

struct SubjectDef {
  const char* suffix;  // appended to the chain's prefix
  RouteRule::Kind kind;
  const char* var;     // kRegex: the request variable matched
  const char* help;
  bool negate = false;
  bool status = false;  // the response status (not in the request chain)
};
const SubjectDef kSubjects[] = {
    {"", RouteRule::kRegex, "PATH_INFO", "REGEXP ACTION: run ACTION when PATH_INFO matches REGEXP"},
    {"-host", RouteRule::kRegex, "HTTP_HOST", "REGEXP ACTION on the Host header"},
    {"-uri", RouteRule::kRegex, "REQUEST_URI", "REGEXP ACTION on REQUEST_URI"},
    {"-qs", RouteRule::kRegex, "QUERY_STRING", "REGEXP ACTION on QUERY_STRING"},
    {"-remote-addr", RouteRule::kRegex, "REMOTE_ADDR", "REGEXP ACTION on REMOTE_ADDR"},
    {"-user-agent", RouteRule::kRegex, "HTTP_USER_AGENT", "REGEXP ACTION on the User-Agent header"},
    {"-remote-user", RouteRule::kRegex, "REMOTE_USER", "REGEXP ACTION on REMOTE_USER"},
    {"-referer", RouteRule::kRegex, "HTTP_REFERER", "REGEXP ACTION on the Referer header"},
    {"-label", RouteRule::kLabel, nullptr, "NAME: a label for goto:"},
    {"-if", RouteRule::kCondition, nullptr, "COND:SUBJECT;PATTERN ACTION: run ACTION when the condition holds"},
    {"-if-not", RouteRule::kCondition, nullptr, "COND:SUBJECT;PATTERN ACTION: run ACTION when it does not hold",
     true},
    {"-run", RouteRule::kRun, nullptr, "ACTION: always run ACTION"},
    {"-status", RouteRule::kRegex, nullptr, "REGEXP ACTION on the response status", false, true},
};

std::string option_name(const ChainDef& c, const SubjectDef& s) { return std::string(c.prefix) + s.suffix; }

bool find_option(const std::string& name, const ChainDef** chain, const SubjectDef** subject) {
  for (auto& c : kChains)
    for (auto& s : kSubjects) {
      if (s.status && c.chain == kChainRequest) continue;
      if (name == option_name(c, s)) {
        *chain = &c;
        *subject = &s;
        return true;
      }
    }
  return false;
}

// "REGEXP ACTION" -> the two (split at the first space, as uWSGI).
bool split_rule(const std::string& v, std::string* first, std::string* rest) {
  size_t sp = v.find_first_of(" \t");
  if (sp == std::string::npos) return false;
  *first = v.substr(0, sp);
  size_t a = v.find_first_not_of(" \t", sp);
  if (a == std::string::npos) return false;
  *rest = v.substr(a);
  return true;
}

bool parse_action(const std::string& text, const ChainDef& chain, RouteAction* a, std::string* err) {
  size_t colon = text.find(':');
  std::string name = text.substr(0, colon);
  std::string_view arg = colon == std::string::npos ? std::string_view() : std::string_view(text).substr(colon + 1);
  const ActionDef* d = find_action(name);
  if (!d) {
    *err = "unknown routing action \"" + name +
           "\" (this server has: continue, last, break, return, goto, log, donotlog, addvar, setpathinfo, "
           "setscriptname, setmethod, seturi, setremoteaddr, setdocroot, addheader, delheader, remheader, "
           "redirect, redirect-302, redirect-301, redirect-permanent, rewrite, rewrite-last, static, basicauth, "
           "basicauth-next, chdir, logvar)";
    return false;
  }
  if (!(d->chains & chain.chain)) {
    *err = "routing action \"" + name + "\" cannot be used in the " + chain.what + " chain";
    return false;
  }
  a->def = d;
  if (!d->parse(arg, a, err)) {
    *err = name + ": " + *err;
    return false;
  }
  return true;
}

bool parse_condition(const std::string& text, RouteRule* r, std::string* err) {
  size_t colon = text.find(':');
  std::string name = text.substr(0, colon);
  r->cond = find_condition(name);
  if (!r->cond) {
    *err = "unknown routing condition \"" + name +
           "\" (known: exists, isfile, isdir, islink, isexec, equal, isequal, eq, ==, startswith, endswith, "
           "contains, empty, regexp, re, ishigher, >, ishigherequal, >=, islower, <, islowerequal, <=, ipv4in, "
           "ipv6in)";
    return false;
  }
  std::string args = colon == std::string::npos ? std::string() : text.substr(colon + 1);
  size_t semi = args.find(';');
  std::string subject = args.substr(0, semi);
  std::string pattern = semi == std::string::npos ? std::string() : args.substr(semi + 1);
  if (!r->cond_subject.compile(subject, err) || !r->cond_pattern.compile(pattern, err)) return false;
  // A fixed regexp is compiled once, and a bad one stops start-up.
  if (r->cond->regex && r->cond_pattern.constant() && !r->regex.compile(pattern, err)) return false;
  return true;
}

bool parse_rule(const ChainDef& chain, const SubjectDef& s, const std::string& value, RouteRule* r, std::string* err) {
  r->kind = s.kind;
  r->negate = s.negate;
  std::string match, action = value;
  switch (s.kind) {
    case RouteRule::kLabel:
      if (value.empty() || value.find_first_of(" \t") != std::string::npos) {
        *err = "a label is one word";
        return false;
      }
      r->label = value;
      return true;
    case RouteRule::kRun:
      break;
    case RouteRule::kRegex:
    case RouteRule::kCondition:
      if (!split_rule(value, &match, &action)) {
        *err = s.kind == RouteRule::kRegex ? "want REGEXP ACTION" : "want COND:SUBJECT;PATTERN ACTION";
        return false;
      }
      if (s.kind == RouteRule::kRegex) {
        r->subject_status = s.status;
        if (s.var) r->subject_var = s.var;
        if (!r->regex.compile(match, err)) return false;
      } else if (!parse_condition(match, r, err)) {
        return false;
      }
      break;
  }
  return parse_action(action, chain, &r->action, err);
}

// goto: with a fixed label: resolved now, forward only (a backward jump could loop forever).
bool resolve_gotos(RouteChain& c, std::string* err) {
  for (size_t i = 0; i < c.rules.size(); i++) {
    RouteAction& a = c.rules[i].action;
    if (c.rules[i].kind == RouteRule::kLabel || strcmp(a.def->name, "goto") != 0 || !a.arg.constant()) continue;
    const std::string& label = a.arg.text();
    int to = c.find_label(label, i + 1);
    if (to < 0 && !label.empty() && std::all_of(label.begin(), label.end(), ::isdigit)) {
      long n = atol(label.c_str());  // uWSGI also takes a rule number
      if (n > (long)i && n < (long)c.rules.size()) to = (int)n;
    }
    if (to < 0) {
      *err = c.rules[i].origin + ": goto: no label \"" + label + "\" after this rule (jumps go forward only)";
      return false;
    }
    a.target = to;
  }
  return true;
}

bool parse_header_line(const std::string& v, std::pair<std::string, std::string>* h) {
  size_t colon = v.find(':');
  if (colon == std::string::npos || colon == 0 || v.find_first_of("\r\n") != std::string::npos) return false;
  h->first = v.substr(0, colon);
  if (h->first.find_first_of(" \t") != std::string::npos) return false;
  size_t start = v.find_first_not_of(" \t", colon + 1);
  h->second = start == std::string::npos ? std::string() : v.substr(start);
  return true;
}

}  // namespace

void register_routing_options(HostImpl& host) {
  for (auto& c : kChains)
    for (auto& s : kSubjects) {
      if (s.status && c.chain == kChainRequest) continue;
      std::string help = std::string(c.what) + " chain: " + s.help + " (docs/routing.md)";
      OptionDef d = make_option("", 0, OptArg::Required, "");
      d.name = option_name(c, s);
      d.help = help;
      host.add_option(std::move(d));
    }
  host.add_option(make_option("add-header", 0, OptArg::Required, "add \"Name: value\" to every response"));
  host.add_option(make_option("del-header", 0, OptArg::Required,
                              "remove this header (by name) from every response", {"rem-header"}));
  host.add_option(make_option("collect-header", 0, OptArg::Required,
                              "HEADER VAR: store the response header HEADER in the request variable VAR "
                              "(for the response and final routes)",
                              {"response-header-collect"}));
  host.add_option(make_option("pull-header", 0, OptArg::Required,
                              "HEADER VAR: as --collect-header, and remove HEADER from the response"));
}

bool read_routing_config(const Config& cfg, std::shared_ptr<const RoutingConfig>* out, std::string* err) {
  auto rc = std::make_shared<RoutingConfig>();
  bool any = false;
  for (auto& [name, value] : cfg.items()) {
    if (name == "add-header") {
      std::pair<std::string, std::string> h;
      if (!parse_header_line(value, &h)) {
        *err = "--add-header \"" + value + "\": want \"Name: value\"";
        return false;
      }
      rc->add_headers.push_back(std::move(h));
      any = true;
      continue;
    }
    if (name == "del-header") {
      if (value.empty() || value.find_first_of(" :\t") != std::string::npos) {
        *err = "--del-header \"" + value + "\": want a header name";
        return false;
      }
      rc->del_headers.push_back(value);
      any = true;
      continue;
    }
    if (name == "collect-header" || name == "pull-header") {
      RoutingConfig::Collect c;
      std::string h, var;
      if (!split_rule(value, &h, &var) || var.find_first_of(" \t") != std::string::npos || h.find(':') != std::string::npos) {
        *err = "--" + name + " \"" + value + "\": want HEADER VAR";
        return false;
      }
      rc->collect.push_back({h, var, name == "pull-header"});
      any = true;
      continue;
    }
    const ChainDef* chain;
    const SubjectDef* subject;
    if (!find_option(name, &chain, &subject)) continue;
    RouteChain& c = chain->chain == kChainRequest    ? rc->request
                    : chain->chain == kChainResponse ? rc->response
                    : chain->chain == kChainError    ? rc->error
                                                     : rc->final;
    RouteRule r;
    r.origin = "--" + name + " \"" + value + "\"";
    if (!parse_rule(*chain, *subject, value, &r, err)) {
      *err = r.origin + ": " + *err;
      return false;
    }
    c.rules.push_back(std::move(r));
    any = true;
  }
  for (RouteChain* c : {&rc->request, &rc->response, &rc->final, &rc->error})
    if (!resolve_gotos(*c, err)) return false;
  rc->response_hook = !rc->add_headers.empty() || !rc->del_headers.empty() || !rc->response.rules.empty() ||
                      !rc->collect.empty();
  if (any) *out = std::move(rc);
  else out->reset();
  return true;
}

}  // namespace uwsgi
