// Which requests get a log line, and in which shape: --disable-logging and its exceptions
// (--log-4xx, --log-5xx, --log-slow, --log-big, --log-zero), --log-format, --memory-report,
// --log-x-forwarded-for, --log-micros. Read once at start-up; the connection asks it after each request.
#pragma once

#include <memory>
#include <string>

#include "host.h"
#include "log/log_format.h"

namespace uwsgi {

struct RequestLogConfig {
  bool all = true;               // off with --disable-logging
  bool log_4xx = false, log_5xx = false, log_zero = false;
  long long slow_ms = 0;         // --log-slow: 0 = off
  long long big_bytes = 0;       // --log-big: 0 = off
  bool x_forwarded_for = false;  // --log-x-forwarded-for
  bool memory_report = false;    // --memory-report
  bool micros = false;           // --log-micros: the default line's time in microseconds
  std::shared_ptr<const LogFormat> format;  // null: the default line

  // Some request may be logged (false only under --disable-logging without exceptions).
  bool any() const { return all || log_4xx || log_5xx || log_zero || slow_ms > 0 || big_bytes > 0; }
  bool wants(int status, uint64_t msecs, long long body_bytes) const {
    return all || (log_4xx && status >= 400 && status < 500) || (log_5xx && status >= 500 && status < 600) ||
           (slow_ms > 0 && (long long)msecs > slow_ms) || (big_bytes > 0 && body_bytes > big_bytes) ||
           (log_zero && body_bytes == 0);
  }
};

void register_log_options(HostImpl& host);
// false with *err naming the bad option.
bool read_request_log_config(const Config& cfg, RequestLogConfig* out, std::string* err);
// --log-date: prefix the server's own log lines (not request lines, as uWSGI) with the date.
bool apply_log_date(const Config& cfg, std::string* err);

}  // namespace uwsgi
