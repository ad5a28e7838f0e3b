#include "process/recycle.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "config/values.h"
#include "log/log.h"

namespace uwsgi {

static const long long kMaxMb = 1ll << 30;  // 1 PB: past any machine, and no overflow in bytes

bool check_recycle_options(const Config& cfg, std::string* err) {
  long long v;
  for (const char* mb : {"reload-on-rss", "reload-on-as", "evil-reload-on-rss", "evil-reload-on-as", "limit-as"})
    if (!get_bounded(cfg, mb, 0, 0, kMaxMb, &v, err)) return false;
  for (const char* s : {"max-worker-lifetime", "max-worker-lifetime-delta", "min-worker-lifetime"})
    if (!get_bounded(cfg, s, 0, 0, 86400ll * 365, &v, err)) return false;
  return get_bounded(cfg, "max-fd", 0, 0, 1 << 30, &v, err);
}

RecycleSettings read_recycle_settings(const Config& cfg) {
  RecycleSettings r;
  r.rss_bytes = (uint64_t)cfg.get_int("reload-on-rss", 0) << 20;
  r.as_bytes = (uint64_t)cfg.get_int("reload-on-as", 0) << 20;
  r.evil_rss_bytes = (uint64_t)cfg.get_int("evil-reload-on-rss", 0) << 20;
  r.evil_as_bytes = (uint64_t)cfg.get_int("evil-reload-on-as", 0) << 20;
  r.max_lifetime_ms = (uint64_t)cfg.get_int("max-worker-lifetime", 0) * 1000;
  r.lifetime_delta_ms = (uint64_t)cfg.get_int("max-worker-lifetime-delta", 0) * 1000;
  // uWSGI's default is 60 s; ours is 0 (docs/configuration.md, differences).
  r.min_lifetime_ms = (uint64_t)cfg.get_int("min-worker-lifetime", 0) * 1000;
  return r;
}

bool read_process_memory(pid_t pid, ProcessMemory* out) {
  std::string path = pid ? "/proc/" + std::to_string(pid) + "/statm" : "/proc/self/statm";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[128];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  unsigned long long size = 0, resident = 0;
  if (sscanf(buf, "%llu %llu", &size, &resident) != 2) return false;
  uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
  out->as_bytes = size * page;
  out->rss_bytes = resident * page;
  return true;
}

const char* memory_recycle_reason(const RecycleSettings& r, ProcessMemory* seen) {
  if (!r.rss_bytes && !r.as_bytes) return nullptr;
  if (!read_process_memory(0, seen)) return nullptr;
  if (r.rss_bytes && seen->rss_bytes > r.rss_bytes) return "reload-on-rss";
  if (r.as_bytes && seen->as_bytes > r.as_bytes) return "reload-on-as";
  return nullptr;
}

const char* evil_recycle_reason(const RecycleSettings& r, pid_t pid, uint64_t* seen, uint64_t* limit) {
  ProcessMemory m;
  if ((!r.evil_rss_bytes && !r.evil_as_bytes) || !read_process_memory(pid, &m)) return nullptr;
  if (r.evil_rss_bytes && m.rss_bytes > r.evil_rss_bytes) {
    *seen = m.rss_bytes;
    *limit = r.evil_rss_bytes;
    return "evil-reload-on-rss";
  }
  if (r.evil_as_bytes && m.as_bytes > r.evil_as_bytes) {
    *seen = m.as_bytes;
    *limit = r.evil_as_bytes;
    return "evil-reload-on-as";
  }
  return nullptr;
}

static std::string read_small(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "?";
  char buf[256];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return "?";
  std::string s(buf, (size_t)n);
  while (!s.empty() && (s.back() == '\n' || s.back() == 0)) s.pop_back();
  return s;
}

void log_stuck_process(pid_t pid) {
  std::string base = "/proc/" + std::to_string(pid);
  // syscall: "NR args... sp pc" (or "running"); wchan: the kernel function it sleeps in.
  log_line("HARAKIRI: pid %d syscall: %s, wchan: %s", (int)pid, read_small(base + "/syscall").c_str(),
           read_small(base + "/wchan").c_str());
}

}  // namespace uwsgi
