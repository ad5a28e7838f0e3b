#include "log/request_log.h"

#include "config/values.h"
#include "log/log.h"

namespace uwsgi {

void register_log_options(HostImpl& host) {
  const OptArg R = OptArg::Required, N = OptArg::None;
  host.add_option(make_option("log-format", 0, R, "request log line format with %(var) variables (docs/logging.md)",
                          {"logformat"}));
  host.add_option(make_option("logformat-strftime", 0, N,
                              "%(ftime) in the log format follows --log-date's strftime format",
                          {"log-format-strftime"}));
  host.add_option(make_option("log-date", 0, OptArg::Optional,
                          "prefix the server's log lines with the date (optionally a strftime format)",
                          {"logdate"}));
  host.add_option(make_option("log-prefix", 0, R,
                              "prefix the server's log lines with this text and \" - \" (instead of --log-date's date)"));
  host.add_option(make_option("log-x-forwarded-for", 0, N,
                              "%(addr) and the default line show the X-Forwarded-For value"));
  host.add_option(make_option("memory-report", 'm', N, "RSS and address space size in each request log line"));
  host.add_option(make_option("log-micros", 0, N,
                              "request log lines give the response time in microseconds (\"in N micros\")"));
  host.add_option(make_option("log-4xx", 0, N, "log requests answered 4xx even with --disable-logging"));
  host.add_option(make_option("log-5xx", 0, N, "log requests answered 5xx even with --disable-logging"));
  host.add_option(make_option("log-slow", 0, R,
                              "log requests slower than this many milliseconds even with --disable-logging",
                          {}, true));
  host.add_option(make_option("log-big", 0, R, "log responses bigger than this many bytes even with --disable-logging",
                          {}, true));
  host.add_option(make_option("log-maxsize", 0, R,
                              "rotate the --logto file when it reaches this many bytes", {}, true));
  host.add_option(make_option("log-backupname", 0, R,
                              "name the rotated log file gets (default: its name plus the unix time)"));
  host.add_option(make_option("log-reopen", 0, N,
                              "accepted for compatibility: a reload always reopens the --logto file"));
  host.add_option(make_option("log-zero", 0, N, "log responses with an empty body even with --disable-logging"));
}

// The flag spellings of an optional-argument option: anything else is a value.
static bool is_flag_value(const std::string& v) {
  return v.empty() || v == "1" || v == "true" || v == "yes" || v == "on" || v == "True";
}

static std::string log_date_format(const Config& cfg) {
  std::string v = cfg.get("log-date");
  return is_flag_value(v) ? "%a %b %e %H:%M:%S %Y" : v;  // uWSGI's default: ctime's shape
}

bool apply_log_date(const Config& cfg, std::string* err) {
  (void)err;
  if (cfg.has("log-date")) set_log_date_format(log_date_format(cfg));
  set_log_prefix(cfg.get("log-prefix"));
  return true;
}

// The names that logvar:NAME=VALUE routing actions set (in any --*route* option): the log
// format may use them as %(NAME).
static std::vector<std::string> routed_logvars(const Config& cfg) {
  std::vector<std::string> names;
  for (auto& [name, value] : cfg.items()) {
    if (name.find("route") == std::string::npos) continue;
    for (size_t at = value.find("logvar:"); at != std::string::npos; at = value.find("logvar:", at + 7)) {
      size_t start = at + 7, eq = value.find('=', start);
      if (eq != std::string::npos && eq > start) names.push_back(value.substr(start, eq - start));
    }
  }
  return names;
}

bool read_request_log_config(const Config& cfg, RequestLogConfig* out, std::string* err) {
  out->all = !cfg.get_bool("disable-logging");
  out->log_4xx = cfg.get_bool("log-4xx");
  out->log_5xx = cfg.get_bool("log-5xx");
  out->log_zero = cfg.get_bool("log-zero");
  if (!get_bounded(cfg, "log-slow", 0, 0, 86400LL * 1000, &out->slow_ms, err) ||
      !get_bounded(cfg, "log-big", 0, 0, 1LL << 50, &out->big_bytes, err))
    return false;
  out->x_forwarded_for = cfg.get_bool("log-x-forwarded-for");
  out->memory_report = cfg.get_bool("memory-report");
  out->micros = cfg.get_bool("log-micros");
  if (cfg.has("log-format")) {
    auto f = std::make_shared<LogFormat>();
    if (!f->compile(cfg.get("log-format"), err, routed_logvars(cfg))) {
      *err = "--log-format: " + *err;
      return false;
    }
    if (cfg.get_bool("logformat-strftime")) f->set_ftime_format(log_date_format(cfg));
    out->format = std::move(f);
  }
  return true;
}

}  // namespace uwsgi
