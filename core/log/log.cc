#include "log/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

namespace uwsgi {

static int g_log_fd = 2;

int log_fd() { return g_log_fd; }

bool log_to_file(const char* path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  dup2(fd, 2);  // Python's tracebacks and stray prints land in the same place
  close(fd);
  g_log_fd = 2;
  return true;
}

void log_vline(const char* fmt, va_list ap) {
  char buf[8192];
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
  if (n == 0 || buf[n - 1] != '\n') buf[n++] = '\n';
  ssize_t r = write(g_log_fd, buf, n);
  (void)r;
}

void log_line(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_vline(fmt, ap);
  va_end(ap);
}

}  // namespace uwsgi
