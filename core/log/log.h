// Logging: whole lines, so lines from many processes never interleave (see log_buffer.h for how
// they are written).
#pragma once
#include <cstdarg>
#include <cstddef>
#include <string>

namespace uwsgi {

void log_line(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void log_vline(const char* fmt, va_list ap);
// Redirect the log to a file (--logto / --daemonize); returns false with errno set.
bool log_to_file(const char* path);
int log_fd();
// --log-date: the server's own lines start with "DATE - " (strftime format).
void set_log_date_format(const std::string& fmt);
// --log-prefix: "TEXT - " before each server line instead of the date (as uWSGI); "" = none.
void set_log_prefix(const std::string& text);
// This process's pid, for the request lines (getpid() is a system call in this libc; the copy is
// renewed after a fork).
int log_pid();
// A reload's dry run: the server's lines are held (its start-up would repeat what the reloaded
// server then logs); log_release_held() writes them (a failed check shows why), log_drop_held()
// forgets them (the check passed).
void log_hold();
void log_release_held();
void log_drop_held();
// A request log line, written as is (one write, a newline added): uWSGI puts no date on these.
void log_request_line(std::string& line);

// The hook of --logger & co (loggers.cc sets it once at start-up): takes each line, its newline
// included, and returns true when it handled it (else the line goes to the default log).
enum class LogKind { kServer, kRequest };
extern bool (*g_line_hook)(LogKind kind, const char* data, size_t len);
// The default log: stderr or the --logto file (with --log-maxsize's check), one write().
void log_write(const char* data, size_t len);

}  // namespace uwsgi
