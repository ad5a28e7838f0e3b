// Logging: one write() per line, so lines from many processes never interleave.
#pragma once
#include <cstdarg>

namespace uwsgi {

void log_line(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void log_vline(const char* fmt, va_list ap);
// Redirect the log to a file (--logto / --daemonize); returns false with errno set.
bool log_to_file(const char* path);
int log_fd();

}  // namespace uwsgi
