#include "process/spooler.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "config/options.h"
#include "config/values.h"
#include "log/log.h"
#include "process/scoreboard.h"  // monotonic_ms()
#include "process/supervised_process.h"

namespace uwsgi {
namespace {

constexpr char kPrefix[] = "uwsgi_spoolfile_on_";
constexpr char kTmpPrefix[] = ".uwsgi_spooltmp_";  // hidden: never scanned as a task

bool all_digits(std::string_view s) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

struct Slot {
  size_t dir = 0;  // index into dirs
  SupervisedProcess proc;  // its process: pid, spawn time, respawns, back-off
};

bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += (size_t)n;
  }
  return true;
}

bool read_all(int fd, std::string* out) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    out->append(buf, (size_t)n);
  }
}

class SpoolerImpl final : public Spooler {
 public:
  std::vector<std::string> dirs;  // real paths
  std::vector<std::string> given;  // as configured
  std::vector<Slot> slots;
  // One wake-up pipe per dir, made before any fork: spool() writes a byte so a spooler sleeping
  // out --spooler-frequency runs a new task at once (other writers wait for the next scan).
  std::vector<std::pair<int, int>> wake;
  int frequency = 30, harakiri = 0;
  long long max_tasks = 0;
  bool ordered = false;
  int me = -1;  // slot index in a spooler process
  std::atomic<unsigned> counter{0};
  std::function<void()> init;
  std::function<int(const SpoolTask&)> run;

  int count() const override { return (int)dirs.size(); }
  bool in_spooler() const override { return me >= 0; }
  void set_runner(std::function<void()> i, std::function<int(const SpoolTask&)> r) override {
    init = std::move(i);
    run = std::move(r);
  }

  const std::string* find_var(const SpoolTask& t, std::string_view k) const {
    for (auto& kv : t.vars)
      if (kv.first == k) return &kv.second;
    return nullptr;
  }

  bool spool(const SpoolTask& task, std::string* path, std::string* err) override {
    if (dirs.empty()) {
      *err = "no spooler is configured (--spooler DIR)";
      return false;
    }
    std::string dir = dirs[0];
    if (const std::string* s = find_var(task, "spooler")) {
      char real[PATH_MAX];
      std::string want = realpath(s->c_str(), real) ? std::string(real) : *s;
      size_t i = 0;
      for (; i < dirs.size(); i++)
        if (dirs[i] == want || given[i] == *s) break;
      if (i == dirs.size()) {
        *err = "spooler \"" + *s + "\" is not a configured --spooler directory";
        return false;
      }
      dir = dirs[i];
    }
    if (const std::string* p = find_var(task, "priority")) {
      if (!all_digits(*p)) {
        *err = "priority must be a number (a subdirectory of the spooler), not \"" + *p + "\"";
        return false;
      }
      dir += "/" + *p;
      if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        *err = "cannot create " + dir + ": " + strerror(errno);
        return false;
      }
    }
    if (const std::string* a = find_var(task, "at"))
      if (!all_digits(*a)) {
        *err = "at must be a unix time in seconds, not \"" + *a + "\"";
        return false;
      }
    std::string data;
    if (!encode_spool_file(task, &data, err)) return false;
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    static thread_local std::mt19937_64 rng(std::random_device{}() ^ (uint64_t)getpid());
    std::string name = std::string(kPrefix) + host + "_" + std::to_string(getpid()) + "_" +
                       std::to_string(counter.fetch_add(1) + 1) + "_" + std::to_string(rng() % 1000000000ULL);
    std::string tmp = dir + "/" + kTmpPrefix + name, final_path = dir + "/" + name;
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      *err = "cannot create the spool file " + tmp + ": " + strerror(errno);
      return false;
    }
    // fsync before the rename: after a crash the task is either whole or absent.
    bool ok = write_all(fd, data) && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok || rename(tmp.c_str(), final_path.c_str()) != 0) {
      if (ok) e = errno;
      unlink(tmp.c_str());
      *err = "cannot write the spool file " + final_path + ": " + strerror(e);
      return false;
    }
    int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      fsync(dfd);
      close(dfd);
    }
    for (size_t i = 0; i < dirs.size() && i < wake.size(); i++)
      if (dir.compare(0, dirs[i].size(), dirs[i]) == 0 && (dir.size() == dirs[i].size() || dir[dirs[i].size()] == '/')) {
        char b = 1;
        (void)!::write(wake[i].second, &b, 1);  // non-blocking: a full pipe already wakes it
        break;
      }
    *path = final_path;
    return true;
  }
};

SpoolerImpl g_spooler;

// The tasks of a spool dir: the numbered priority subdirs first (lowest number first), then
// the dir itself; names sorted within each.
std::vector<std::string> scan(const std::string& dir) {
  std::vector<std::string> files;
  std::vector<std::pair<long long, std::string>> prio;
  DIR* d = opendir(dir.c_str());
  if (!d) return files;
  std::vector<std::string> mine;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.compare(0, sizeof kPrefix - 1, kPrefix) == 0) {
      mine.push_back(dir + "/" + n);
    } else if (all_digits(n)) {
      struct stat st;
      if (stat((dir + "/" + n).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) prio.push_back({atoll(n.c_str()), n});
    }
  }
  closedir(d);
  std::sort(prio.begin(), prio.end());
  for (auto& p : prio) {
    std::vector<std::string> sub;
    if (DIR* pd = opendir((dir + "/" + p.second).c_str())) {
      while (struct dirent* e = readdir(pd))
        if (strncmp(e->d_name, kPrefix, sizeof kPrefix - 1) == 0) sub.push_back(dir + "/" + p.second + "/" + e->d_name);
      closedir(pd);
    }
    std::sort(sub.begin(), sub.end());
    files.insert(files.end(), sub.begin(), sub.end());
  }
  std::sort(mine.begin(), mine.end());
  files.insert(files.end(), mine.begin(), mine.end());
  return files;
}

// Run one task if it is due and no other spooler process holds it. True when it ran.
bool run_task(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;  // another spooler process finished it
  struct stat st;
  if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &st) != 0 || st.st_nlink == 0) {
    close(fd);
    return false;
  }
  std::string data, err;
  SpoolTask t;
  if (!read_all(fd, &data) || !decode_spool_file(data, &t, &err)) {
    log_line("[spooler] %s is not a valid spool file (%s): left alone", path.c_str(), err.empty() ? strerror(errno) : err.c_str());
    close(fd);
    return false;
  }
  t.path = path;
  for (auto& kv : t.vars)
    if (kv.first == "at" && atoll(kv.second.c_str()) > (long long)time(nullptr)) {
      close(fd);
      return false;  // not yet
    }
  // The harakiri: SIGALRM's default action ends this process; the master respawns it and the
  // file, still there, runs again.
  if (g_spooler.harakiri > 0) alarm((unsigned)g_spooler.harakiri);
  uint64_t t0 = monotonic_ms();
  int rc = g_spooler.run(t);
  alarm(0);
  if (rc == -2) {
    if (unlink(path.c_str()) != 0 && errno != ENOENT)
      log_line("[spooler] cannot remove %s: %s", path.c_str(), strerror(errno));
    log_line("[spooler pid: %d] done with task %s after %llu ms", (int)getpid(), path.c_str(),
             (unsigned long long)(monotonic_ms() - t0));
  }
  close(fd);
  return true;
}

[[noreturn]] void spooler_main(int idx) {
  const std::string& dir = g_spooler.dirs[g_spooler.slots[idx].dir];
  if (!g_spooler.run) {
    log_line("[spooler %s] no language plugin runs spooler tasks (load the python plugin)", dir.c_str());
    _exit(1);
  }
  if (g_spooler.init) g_spooler.init();
  long long done = 0;
  for (;;) {
    for (auto& f : scan(dir)) {
      if (!run_task(f)) continue;
      if (g_spooler.max_tasks > 0 && ++done >= g_spooler.max_tasks) {
        log_line("[spooler %s pid: %d] maximum number of tasks reached (%lld): recycling", dir.c_str(), (int)getpid(),
                 done);
        _exit(0);
      }
    }
    // Sleep out the frequency, or until a spool() in this server wakes us.
    pollfd p{g_spooler.wake[g_spooler.slots[idx].dir].first, POLLIN, 0};
    if (poll(&p, 1, g_spooler.frequency * 1000) > 0) {
      char buf[256];
      while (::read(p.fd, buf, sizeof buf) > 0) {
      }
    }
  }
}

void spawn(size_t idx) {
  SupervisedProcess& p = g_spooler.slots[idx].proc;
  if (p.name.empty()) {
    p.kind = ProcessKind::kSpooler;
    p.id = (int)idx + 1;
    p.name = "the spooler on " + g_spooler.dirs[g_spooler.slots[idx].dir];
    p.setup.title = "uWSGI spooler";
    // Never outlive the master (a task cut short stays on disk for the next start).
    p.setup.pdeath_signal = SIGTERM;
    p.start = [idx] {
      g_spooler.me = (int)idx;
      spooler_main((int)idx);
      return 0;
    };
  }
  if (p.spawn(monotonic_ms()))
    log_line("spawned the uWSGI spooler on %s (pid: %d)", g_spooler.dirs[g_spooler.slots[idx].dir].c_str(), (int)p.pid);
}

void put16(std::string* o, size_t v) {
  o->push_back((char)(v & 0xff));
  o->push_back((char)((v >> 8) & 0xff));
}

}  // namespace

bool encode_spool_file(const SpoolTask& t, std::string* out, std::string* err) {
  std::string vars;
  for (auto& kv : t.vars) {
    if (kv.first.size() > 0xffff || kv.second.size() > 0xffff) {
      *err = "spool keys and values are at most 65535 bytes (use body for more)";
      return false;
    }
    put16(&vars, kv.first.size());
    vars += kv.first;
    put16(&vars, kv.second.size());
    vars += kv.second;
  }
  if (vars.size() > 0xffff) {
    *err = "a task's vars are at most 65535 bytes together (use body for more)";
    return false;
  }
  out->clear();
  out->push_back((char)17);  // modifier1 17: the spooler
  put16(out, vars.size());
  out->push_back((char)0);
  *out += vars;
  *out += t.body;
  return true;
}

bool decode_spool_file(std::string_view d, SpoolTask* t, std::string* err) {
  auto u16 = [&](size_t at) { return (size_t)(unsigned char)d[at] | ((size_t)(unsigned char)d[at + 1] << 8); };
  if (d.size() < 4 || (unsigned char)d[0] != 17) {
    *err = "no spooler packet header";
    return false;
  }
  size_t size = u16(1);
  if (4 + size > d.size()) {
    *err = "truncated vars";
    return false;
  }
  size_t i = 4, end = 4 + size;
  t->vars.clear();
  while (i < end) {
    if (i + 2 > end) break;
    size_t kl = u16(i);
    i += 2;
    if (i + kl + 2 > end) break;
    std::string k(d.substr(i, kl));
    i += kl;
    size_t vl = u16(i);
    i += 2;
    if (i + vl > end) break;
    t->vars.emplace_back(std::move(k), std::string(d.substr(i, vl)));
    i += vl;
  }
  if (i != end) {
    *err = "malformed vars";
    return false;
  }
  t->body = std::string(d.substr(end));
  return true;
}

void register_spooler_options(HostImpl& host) {
  host.add_option(make_option("spooler", 0, OptArg::Required,
                              "run a spooler on DIR (created if missing; several allowed): tasks from uwsgi.spool() "
                              "run there one by one"));
  host.add_option(make_option("spooler-processes", 0, OptArg::Required, "spooler processes per --spooler dir (default 1)",
                              {}, true));
  host.add_option(make_option("spooler-frequency", 0, OptArg::Required,
                              "seconds between two scans of a spooler dir (default 30)", {"spooler-freq"}, true));
  host.add_option(make_option("spooler-max-tasks", 0, OptArg::Required,
                              "recycle a spooler process after this many tasks (0: never)", {}, true));
  host.add_option(make_option("spooler-ordered", 0, OptArg::None,
                              "run tasks in name order, priority subdirs lowest number first (always done here)"));
  host.add_option(make_option("spooler-harakiri", 0, OptArg::Required,
                              "kill a spooler process whose task runs longer than this many seconds (the task stays "
                              "and runs again)",
                              {}, true));
}

bool configure_spoolers(const Config& cfg, bool check_only, std::string* err) {
  SpoolerImpl& s = g_spooler;
  long long procs, freq, maxt, hara;
  if (!get_bounded(cfg, "spooler-processes", 1, 1, 1024, &procs, err) ||
      !get_bounded(cfg, "spooler-frequency", 30, 1, 86400, &freq, err) ||
      !get_bounded(cfg, "spooler-max-tasks", 0, 0, LLONG_MAX, &maxt, err) ||
      !get_bounded(cfg, "spooler-harakiri", 0, 0, 86400 * 365, &hara, err))
    return false;
  std::vector<std::string> dirs = cfg.all("spooler");
  if (dirs.empty()) return true;
  if (!cfg.get_bool("master")) {
    *err = "the spooler needs --master (the master spawns and watches the spooler processes)";
    return false;
  }
  for (auto& d : dirs) {
    if (d.empty() || d == "1" || d == "true") {
      *err = "--spooler wants a directory";
      return false;
    }
    if (check_only) continue;
    struct stat st;
    if (stat(d.c_str(), &st) != 0 && mkdir(d.c_str(), 0700) != 0) {
      *err = "--spooler " + d + ": cannot create it: " + strerror(errno);
      return false;
    }
    char real[PATH_MAX];
    if (!realpath(d.c_str(), real) || stat(real, &st) != 0 || !S_ISDIR(st.st_mode) ||
        access(real, R_OK | W_OK | X_OK) != 0) {
      *err = "--spooler " + d + " is not a directory this process can read and write";
      return false;
    }
    s.dirs.push_back(real);
    s.given.push_back(d);
  }
  if (check_only) return true;
  s.frequency = (int)freq;
  s.max_tasks = maxt;
  s.harakiri = (int)hara;
  s.ordered = cfg.get_bool("spooler-ordered");
  for (size_t i = 0; i < s.dirs.size(); i++) {
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
      *err = std::string("spooler: pipe: ") + strerror(errno);
      return false;
    }
    s.wake.push_back({p[0], p[1]});
  }
  for (size_t i = 0; i < s.dirs.size(); i++)
    for (long long p = 0; p < procs; p++) {
      Slot sl;
      sl.dir = i;
      s.slots.push_back(sl);
    }
  return true;
}

Spooler& shared_spooler() { return g_spooler; }

void spoolers_spawn_all() {
  for (size_t i = 0; i < g_spooler.slots.size(); i++)
    if (g_spooler.slots[i].proc.pid == 0) spawn(i);
}

void spoolers_tick(uint64_t now) {
  for (size_t i = 0; i < g_spooler.slots.size(); i++) {
    if (g_spooler.slots[i].proc.due(now)) spawn(i);
  }
}

bool spoolers_reaped(pid_t pid, int status, bool respawn) {
  for (auto& sl : g_spooler.slots) {
    SupervisedProcess& s = sl.proc;
    if (s.pid != pid) continue;
    s.pid = 0;
    if (respawn) {
      uint64_t delay = s.exited(monotonic_ms());  // never a tight fork loop
      if (WIFSIGNALED(status))
        log_line("spooler (pid %d) killed by signal %d: respawning%s", (int)pid, WTERMSIG(status),
                 delay ? " after a back-off" : "");
      else
        log_line("spooler (pid %d) exited with status %d: respawning%s", (int)pid, WEXITSTATUS(status),
                 delay ? " after a back-off" : "");
    }
    return true;
  }
  return false;
}

void spoolers_signal_all(int sig) {
  for (auto& s : g_spooler.slots) s.proc.signal(sig);
}

int spoolers_alive() {
  int n = 0;
  for (auto& s : g_spooler.slots)
    if (s.proc.pid > 0) n++;
  return n;
}

void spoolers_stats(std::vector<SupervisedStat>* out) {
  for (auto& s : g_spooler.slots) out->push_back(supervised_stat(s.proc));
}

}  // namespace uwsgi
