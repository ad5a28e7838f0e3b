#include "log/log.h"

#include "log/log_buffer.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

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

static int g_pid = 0;

int log_pid() {
  if (g_pid == 0) {
    g_pid = (int)getpid();
    pthread_atfork(nullptr, nullptr, [] { g_pid = (int)getpid(); });
  }
  return g_pid;
}

static std::string g_date_format;  // empty: no --log-date

void set_log_date_format(const std::string& fmt) { g_date_format = fmt; }

static std::string g_prefix;  // "TEXT - ", or empty: no --log-prefix

void set_log_prefix(const std::string& text) { g_prefix = text.empty() ? text : text + " - "; }

// "DATE - " into buf (at most cap bytes); returns its length.
static int date_prefix(char* buf, size_t cap) {
  time_t now = time(nullptr);
  struct tm tm;
  localtime_r(&now, &tm);
  size_t n = strftime(buf, cap - 3, g_date_format.c_str(), &tm);
  memcpy(buf + n, " - ", 3);
  return (int)n + 3;
}

bool (*g_line_hook)(LogKind kind, const char* data, size_t len) = nullptr;

// The default log, through this process's log writer (log_buffer.h): never blocks.
void log_write(const char* data, size_t len) { log_write_now(data, len); }

void log_request_line(std::string& line) {
  line.push_back('\n');
  if (g_line_hook && g_line_hook(LogKind::kRequest, line.data(), line.size())) return;
  log_enqueue(line.data(), line.size());  // batched by this process's log writer (log_buffer.h)
}

static bool g_holding = false;
static std::vector<std::string> g_held;

void log_hold() { g_holding = true; }

void log_drop_held() {
  g_held.clear();
  g_holding = false;
}

static void emit_server_line(const char* data, size_t n) {
  if (g_line_hook && g_line_hook(LogKind::kServer, data, n)) return;
  log_write_now(data, n);
}

void log_release_held() {
  g_holding = false;
  for (auto& l : g_held) emit_server_line(l.data(), l.size());
  g_held.clear();
}

void log_vline(const char* fmt, va_list ap) {
  char buf[8192];
  int p = 0;
  if (!g_prefix.empty()) {
    p = (int)std::min(g_prefix.size(), (size_t)1024);
    memcpy(buf, g_prefix.data(), p);
  } else if (!g_date_format.empty()) {
    p = date_prefix(buf, 256);
  }
  int n = vsnprintf(buf + p, sizeof buf - 1 - p, fmt, ap);
  if (n < 0) return;
  n += p;
  if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
  if (n == 0 || buf[n - 1] != '\n') buf[n++] = '\n';
  if (g_holding) g_held.emplace_back(buf, (size_t)n);
  else emit_server_line(buf, n);
}

void log_line(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_vline(fmt, ap);
  va_end(ap);
}

}  // namespace uwsgi
