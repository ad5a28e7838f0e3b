#include "log/loggers.h"

#include <cerrno>
#include <cstring>

#include "config/options.h"
#include "log/log.h"
#include "log/log_route.h"

namespace uwsgi {

void Logger::dropped(int err) {
  drops.fetch_add(1, std::memory_order_relaxed);
  if (warned.exchange(true)) return;
  // Straight to the default log: through the loggers it could loop back here.
  std::string msg = "uwsgi: logger " + (name.empty() ? spec : name + " (" + spec + ")") + " lost a line (" +
                    strerror(err) + "); lines it cannot take are dropped and counted, this is said once\n";
  log_write(msg.data(), msg.size());
}

namespace {

// Where lines go when only encoders are set: the default log, encoded.
class DefaultLogger : public Logger {
 public:
  void write(std::string_view data) override { log_write(data.data(), data.size()); }
};

// One family: the server's lines (--logger, --log-route, --log-encoder) or the requests'.
struct LoggerSet {
  std::vector<std::unique_ptr<Logger>> loggers;
  std::vector<LogEncoder> encoders;
  std::vector<std::pair<LogRoute, Logger*>> routes;
  bool active = false;

  void send(Logger& l, std::string_view line) {
    if (l.chain.empty()) return l.write(line);
    std::string out;
    encode_line(l.chain, line, &out);
    if (l.stream() && (out.empty() || out.back() != '\n')) out.push_back('\n');
    l.write(out);
  }

  void emit(std::string_view line) {
    Logger* sent[8];
    size_t nsent = 0;
    bool routed = false;
    for (auto& [route, logger] : routes) {
      if (!route.regex.matches(line)) continue;
      routed = true;
      bool dup = false;  // two routes to one logger: one copy
      for (size_t i = 0; i < nsent; i++) dup = dup || sent[i] == logger;
      if (dup) continue;
      if (nsent < 8) sent[nsent++] = logger;
      send(*logger, line);
    }
    if (routed) return;
    bool any = false;
    for (auto& l : loggers)
      if (l->name.empty()) {
        send(*l, line);
        any = true;
      }
    if (!any) log_write(line.data(), line.size());  // every logger is named: as uWSGI, the default log
  }
};

LoggerSet g_server, g_request;
bool g_server_lines_to_master = false;  // a --log-master worker: the master routes its server lines

bool line_hook(LogKind kind, const char* data, size_t len) {
  LoggerSet& s = kind == LogKind::kRequest && g_request.active ? g_request : g_server;
  if (!s.active || (&s == &g_server && g_server_lines_to_master)) return false;
  s.emit(std::string_view(data, len));
  return true;
}

std::unique_ptr<Logger> make_logger(const std::string& spec, std::string* err) {
  // "[NAME ]KIND[:ARGS]": a space before the first colon ends a name.
  size_t colon = spec.find(':'), sp = spec.find(' ');
  std::string name, rest = spec;
  if (sp != std::string::npos && sp < colon) {
    name = spec.substr(0, sp);
    rest = spec.substr(sp + 1);
    colon = rest.find(':');
  }
  std::string kind = rest.substr(0, colon), args = colon == std::string::npos ? "" : rest.substr(colon + 1);
  std::unique_ptr<Logger> l;
  if (kind == "file") l = make_file_logger(args, err);
  else if (kind == "stdio") l = make_stdio_logger();
  else if (kind == "socket") l = make_socket_logger(args, err);
  else if (kind == "syslog") l = make_syslog_logger(args, err);
  else if (kind == "rsyslog") l = make_rsyslog_logger(args, err);
  else *err = "unknown logger kind \"" + kind + "\" (known: file, stdio, syslog, rsyslog, socket)";
  if (!l) return nullptr;
  l->name = name;
  l->spec = rest;
  return l;
}

// One family from its three options; false with *err naming the option and value.
bool read_set(const Config& cfg, const char* logger_opt, const char* route_opt, const char* encoder_opt,
              LoggerSet* s, std::string* err) {
  auto fail = [&](const char* opt, const std::string& value, const std::string& why) {
    *err = std::string("--") + opt + " " + value + ": " + why;
    return false;
  };
  for (auto& spec : cfg.all(logger_opt)) {
    std::string e;
    auto l = make_logger(spec, &e);
    if (!l) return fail(logger_opt, spec, e);
    for (auto& other : s->loggers)
      if (!l->name.empty() && other->name == l->name) return fail(logger_opt, spec, "a logger is already named " + l->name);
    s->loggers.push_back(std::move(l));
  }
  for (auto& spec : cfg.all(encoder_opt)) {
    LogEncoder enc;
    std::string e;
    if (!enc.parse(spec, &e)) return fail(encoder_opt, spec, e);
    s->encoders.push_back(std::move(enc));
  }
  // Encoders without loggers encode the default log (uWSGI does so through its log master).
  if (s->loggers.empty() && !s->encoders.empty()) s->loggers.push_back(std::make_unique<DefaultLogger>());
  auto find = [&](const std::string& name) -> Logger* {
    for (auto& l : s->loggers)
      if (!name.empty() && l->name == name) return l.get();
    return nullptr;
  };
  for (auto& enc : s->encoders) {
    if (!enc.logger().empty() && !find(enc.logger()))
      return fail(encoder_opt, enc.kind() + ":" + enc.logger(), std::string("no --") + logger_opt + " is named " +
                                                                   enc.logger());
  }
  for (auto& l : s->loggers)
    for (auto& enc : s->encoders)
      if (enc.logger().empty() || enc.logger() == l->name) l->chain.push_back(&enc);
  for (auto& spec : cfg.all(route_opt)) {
    LogRoute r;
    std::string e;
    if (!r.parse(spec, &e)) return fail(route_opt, spec, e);
    Logger* l = find(r.logger);
    if (!l) return fail(route_opt, spec, std::string("no --") + logger_opt + " is named " + r.logger);
    s->routes.emplace_back(std::move(r), l);
  }
  s->active = !s->loggers.empty();
  return true;
}

}  // namespace

void loggers_leave_server_lines_to_master() { g_server_lines_to_master = true; }

bool loggers_take_server_lines(const char* data, size_t len) {
  if (!g_server.active) return false;
  std::string_view rest(data, len);
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    size_t n = nl == std::string_view::npos ? rest.size() : nl + 1;
    g_server.emit(rest.substr(0, n));
    rest.remove_prefix(n);
  }
  return true;
}

void register_logger_options(HostImpl& host) {
  const OptArg R = OptArg::Required;
  host.add_option(make_option("logger", 0, R,
                              "send the server's lines to this logger: [NAME ]file:PATH, stdio, syslog[:IDENT[,FACILITY]], "
                              "rsyslog:HOST:PORT[,IDENT[,FACILITY]], socket:ADDR (repeatable; docs/logging.md)"));
  host.add_option(make_option("req-logger", 0, R, "send request lines to this logger (same kinds as --logger)",
                              {"logger-req"}));
  host.add_option(make_option("log-route", 0, R, "NAME REGEXP: lines matching REGEXP go to the logger NAME only"));
  host.add_option(make_option("log-req-route", 0, R, "NAME REGEXP: request lines matching REGEXP go to the req-logger NAME only"));
  host.add_option(make_option("log-encoder", 0, R,
                              "encode the server's lines: ENCODER[:LOGGER] [ARGS] with prefix, suffix, nl, format, json"));
  host.add_option(make_option("log-req-encoder", 0, R, "encode request lines (same encoders as --log-encoder)"));
}

bool setup_loggers(const Config& cfg, std::string* err) {
  if (!read_set(cfg, "logger", "log-route", "log-encoder", &g_server, err) ||
      !read_set(cfg, "req-logger", "log-req-route", "log-req-encoder", &g_request, err))
    return false;
  if (g_server.active || g_request.active) g_line_hook = line_hook;
  return true;
}

}  // namespace uwsgi
