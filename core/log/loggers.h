// Pluggable loggers as uWSGI's: --logger / --req-logger `[NAME ]KIND[:ARGS]` with the kinds
// file:PATH, stdio, syslog[:IDENT[,FACILITY]], rsyslog:HOST:PORT[,IDENT[,FACILITY]] and
// socket:ADDR (UDP host:port or a unix datagram path); --log-route / --log-req-route send the
// lines matching a regular expression to a named logger, and --log-encoder / --log-req-encoder
// transform lines on their way. log.cc hands each line here (g_line_hook) once they are set.
//
// Where a line goes (uWSGI's rules): a line matching some route goes to the routes' loggers only;
// any other line goes to every unnamed logger, or to the default log (stderr / --logto) when all
// loggers are named. Request lines use the --req-logger set when there is one, else they are
// server lines.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "host.h"
#include "log/log_encoder.h"

namespace uwsgi {

class Logger {
 public:
  virtual ~Logger() = default;
  // One line, encoded; never blocks for long (files are the exception: a disk write).
  virtual void write(std::string_view data) = 0;
  // Stream destinations (file, stdio, the default log) get a newline after each line an encoder
  // left without one; datagram ones send each line as one message.
  virtual bool stream() const { return true; }

  std::string name;  // "" for an unnamed logger
  std::string spec;  // as configured, for messages
  std::vector<const LogEncoder*> chain;  // the encoders that apply to this logger, in order
  std::atomic<unsigned long long> drops{0};
  std::atomic<bool> warned{false};

  // A line was lost (full socket buffer, no receiver): counted, and said once per process.
  void dropped(int err);
};

// KIND[:ARGS] -> a logger, opened; nullptr with *err naming what is wrong.
std::unique_ptr<Logger> make_file_logger(const std::string& path, std::string* err);
std::unique_ptr<Logger> make_stdio_logger();
std::unique_ptr<Logger> make_socket_logger(const std::string& addr, std::string* err);
std::unique_ptr<Logger> make_syslog_logger(const std::string& args, std::string* err);
std::unique_ptr<Logger> make_rsyslog_logger(const std::string& args, std::string* err);

// RFC 3164's frame: "<PRI>Mmm dd hh:mm:ss [HOST ]IDENT[PID]: MSG" (no newline; host only for a
// remote receiver).
std::string syslog_frame(int pri, const std::string& host, const std::string& ident, std::string_view msg,
                         time_t now);
// "daemon", "local0", ... or a number 0..23 -> the facility code; -1 if unknown.
int syslog_facility(const std::string& name);

void register_logger_options(HostImpl& host);
// Reads --logger & co, opens the loggers and hooks them into log.cc; false with *err naming the
// option and the bad value.
bool setup_loggers(const Config& cfg, std::string* err);

// --log-master. In a worker: its server lines (and what the app prints) go raw to the master,
// which passes them through the --logger set; request lines with a --req-logger set stay here.
void loggers_leave_server_lines_to_master();
// In the master's log thread: whole lines received from a worker through the --logger set; false
// when no --logger is set (they go to the default log).
bool loggers_take_server_lines(const char* data, size_t len);

}  // namespace uwsgi
