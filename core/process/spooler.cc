#include "process/spooler.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
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
#include <new>
#include <random>
#include <vector>

#include "config/options.h"
#include "config/values.h"
#include "log/log.h"
#include "log/log_buffer.h"
#include "log/log_master.h"
#include "process/scoreboard.h"  // monotonic_ms()
#include "process/signal_framework.h"
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
  // uwsgi signals: the master sends numbers (one byte) for target "spooler" on sig_writer; the
  // spooler sends its requests (uwsgi.signal(), timers) on sig_reader.
  int sig_reader = -1, sig_writer = -1;
};

// What a spooler process counts for --stats, in memory shared with the master (mapped before any fork).
struct SlotCounters {
  std::atomic<uint64_t> tasks{0};    // done (SPOOL_OK)
  std::atomic<uint32_t> running{0};  // 1 while inside a task
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
  SlotCounters* counters = nullptr;  // one per slot
  // One wake-up pipe per dir, made before any fork: spool() writes a byte so a spooler sleeping
  // out --spooler-frequency runs a new task at once (other writers wait for the next scan).
  std::vector<std::pair<int, int>> wake;
  int frequency = 30, harakiri = 0;
  long long max_tasks = 0;
  bool ordered = false;
  bool quiet = false;     // --spooler-quiet: no line per task
  std::string chdir_to;   // --spooler-chdir
  size_t external_from = 0;  // dirs[external_from..]: --spooler-external (no process here)
  // --touch-spoolers-reload: files and their last mtime (ns).
  std::vector<std::pair<std::string, int64_t>> touch;
  uint64_t next_touch_ms = 0;
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
  if (!g_spooler.chdir_to.empty() && chdir(g_spooler.chdir_to.c_str()) != 0)
    log_line("[spooler] chdir(%s): %s", g_spooler.chdir_to.c_str(), strerror(errno));
  // The harakiri: SIGALRM's default action ends this process; the master respawns it and the
  // file, still there, runs again.
  if (g_spooler.harakiri > 0) alarm((unsigned)g_spooler.harakiri);
  uint64_t t0 = monotonic_ms();
  SlotCounters* c = g_spooler.counters ? &g_spooler.counters[g_spooler.me] : nullptr;
  if (c) c->running.store(1);
  int rc = g_spooler.run(t);
  alarm(0);
  if (c) c->running.store(0);
  if (rc == -2) {
    if (c) c->tasks.fetch_add(1);
    if (unlink(path.c_str()) != 0 && errno != ENOENT)
      log_line("[spooler] cannot remove %s: %s", path.c_str(), strerror(errno));
    if (!g_spooler.quiet)
      log_line("[spooler pid: %d] done with task %s after %llu ms", (int)getpid(), path.c_str(),
               (unsigned long long)(monotonic_ms() - t0));
  }
  close(fd);
  return true;
}

// --touch-spoolers-reload: the master sends SIGHUP; the spooler ends after the task it runs (the
// master forks a fresh one).
volatile sig_atomic_t g_reload = 0;
void on_reload(int) { g_reload = 1; }

[[noreturn]] void reload_exit(const std::string& dir) {
  log_line("[spooler %s pid: %d] reloading", dir.c_str(), (int)getpid());
  log_flush();  // _exit() runs no atexit handler
  _exit(0);
}

void spooler_wait(int idx) {
  Slot& sl = g_spooler.slots[idx];
  pollfd p[2] = {{g_spooler.wake[sl.dir].first, POLLIN, 0}, {sl.sig_reader, POLLIN, 0}};
  uint64_t deadline = monotonic_ms() + (uint64_t)g_spooler.frequency * 1000;
  for (;;) {
    uint64_t now = monotonic_ms();
    if (now >= deadline) return;
    int r = poll(p, sl.sig_reader >= 0 ? 2 : 1, (int)(deadline - now));
    if (g_reload) return;
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return;
    if (p[1].revents & POLLIN) {
      unsigned char num;
      while (recv(sl.sig_reader, &num, 1, MSG_DONTWAIT) == 1) SignalFramework::get().deliver_locally(num);
    }
    if (p[0].revents & POLLIN) {
      char buf[256];
      while (::read(p[0].fd, buf, sizeof buf) > 0) {
      }
      return;
    }
  }
}

[[noreturn]] void spooler_main(int idx) {
  SignalFramework::get().set_upstream(g_spooler.slots[idx].sig_reader);  // uwsgi.signal() goes to the master
  const std::string& dir = g_spooler.dirs[g_spooler.slots[idx].dir];
  if (!g_spooler.run) {
    log_line("[spooler %s] no language plugin runs spooler tasks (load the python plugin)", dir.c_str());
    _exit(1);
  }
  struct sigaction sa {};
  sa.sa_handler = on_reload;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGHUP, &sa, nullptr);  // no SA_RESTART: a task's sleep goes on (Python retries EINTR)
  if (g_spooler.init) g_spooler.init();
  long long done = 0;
  for (;;) {
    if (g_reload) reload_exit(dir);
    for (auto& f : scan(dir)) {
      if (g_reload) reload_exit(dir);
      if (!run_task(f)) continue;
      if (g_spooler.max_tasks > 0 && ++done >= g_spooler.max_tasks) {
        log_line("[spooler %s pid: %d] maximum number of tasks reached (%lld): recycling", dir.c_str(), (int)getpid(),
                 done);
        log_flush();
        _exit(0);
      }
    }
    // Sleep out the frequency, or until a spool() in this server wakes us, running the uwsgi
    // signals sent to the spooler meanwhile.
    spooler_wait(idx);
  }
}

void spawn(size_t idx) {
  SupervisedProcess& p = g_spooler.slots[idx].proc;
  if (p.name.empty()) {
    p.kind = ProcessKind::kSpooler;
    p.id = (int)idx + 1;
    p.name = "the spooler on " + g_spooler.dirs[g_spooler.slots[idx].dir];
    p.setup.title = "uWSGI spooler";
    p.setup.runs_app_code = true;
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
  host.add_option(make_option("spooler", 'Q', OptArg::Required,
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
  host.add_option(make_option("spooler-external", 0, OptArg::Required,
                              "a spool DIR that uwsgi.spool() may write to (\"spooler\" key) while another instance runs "
                              "its spooler: no spooler process here (several allowed)"));
  host.add_option(make_option("spooler-chdir", 0, OptArg::Required, "chdir() to DIR before each spooler task"));
  host.add_option(make_option("spooler-quiet", 0, OptArg::None, "do not log a line per spooler task"));
  host.add_option(make_option("touch-spoolers-reload", 0, OptArg::Required,
                              "reload the spooler processes (each after its current task) when FILE is touched "
                              "(several allowed)"));
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
  std::vector<std::string> dirs = cfg.all("spooler"), externals = cfg.all("spooler-external");
  std::string chdir_to = cfg.get("spooler-chdir");
  if (!chdir_to.empty()) {
    struct stat st;
    if (stat(chdir_to.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      *err = "--spooler-chdir " + chdir_to + " is not a directory";
      return false;
    }
  }
  if (dirs.empty() && externals.empty()) return true;
  if (!dirs.empty() && !cfg.get_bool("master")) {
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
  s.external_from = s.dirs.size();
  for (auto& d : externals) {
    // Another instance's dir: it must exist already (that instance made it).
    char real[PATH_MAX];
    struct stat st;
    if (check_only) continue;
    if (!realpath(d.c_str(), real) || stat(real, &st) != 0 || !S_ISDIR(st.st_mode) || access(real, W_OK | X_OK) != 0) {
      *err = "--spooler-external " + d + " is not a directory this process can write to";
      return false;
    }
    s.dirs.push_back(real);
    s.given.push_back(d);
  }
  if (check_only) return true;
  s.quiet = cfg.get_bool("spooler-quiet");
  s.chdir_to = chdir_to;
  for (auto& f : cfg.all("touch-spoolers-reload")) {
    struct stat st;
    int64_t m = stat(f.c_str(), &st) == 0 ? (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec : 0;
    s.touch.push_back({f, m});
  }
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
  for (size_t i = 0; i < s.external_from; i++)
    for (long long p = 0; p < procs; p++) {
      Slot sl;
      sl.dir = i;
      s.slots.push_back(sl);
    }
  if (s.slots.empty()) return true;  // only --spooler-external dirs
  void* c = mmap(nullptr, sizeof(SlotCounters) * s.slots.size(), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                 -1, 0);
  if (c == MAP_FAILED) {
    *err = std::string("spooler: mmap: ") + strerror(errno);
    return false;
  }
  s.counters = new (c) SlotCounters[s.slots.size()];
  for (auto& sl : s.slots) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) != 0) {
      *err = std::string("spooler: socketpair: ") + strerror(errno);
      return false;
    }
    sl.sig_reader = sv[0];
    sl.sig_writer = sv[1];
  }
  return true;
}

Spooler& shared_spooler() { return g_spooler; }

void spoolers_spawn_all() {
  for (size_t i = 0; i < g_spooler.slots.size(); i++)
    if (g_spooler.slots[i].proc.pid == 0) spawn(i);
}

// --touch-spoolers-reload: at most once a second, SIGHUP to every spooler process when a file's
// mtime changed (a missing file counts as never touched, as --touch-reload).
static void check_touch(uint64_t now) {
  if (g_spooler.touch.empty() || now < g_spooler.next_touch_ms) return;
  g_spooler.next_touch_ms = now + 1000;
  bool hit = false;
  for (auto& [path, mtime] : g_spooler.touch) {
    struct stat st;
    int64_t m = stat(path.c_str(), &st) == 0 ? (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec : 0;
    if (m == mtime) continue;
    mtime = m;
    if (m == 0) continue;
    log_line("%s touched (--touch-spoolers-reload): reloading the spoolers", path.c_str());
    hit = true;
  }
  if (hit) spoolers_signal_all(SIGHUP);
}

void spoolers_tick(uint64_t now) {
  check_touch(now);
  for (auto& s : g_spooler.slots)  // what spooler processes asked (uwsgi.signal(), timers, ...)
    SignalFramework::get().read_messages(s.sig_writer, "spooler");
  for (size_t i = 0; i < g_spooler.slots.size(); i++) {
    if (g_spooler.slots[i].proc.due(now)) spawn(i);
  }
}

bool spoolers_reaped(pid_t pid, int status, bool respawn) {
  for (auto& sl : g_spooler.slots) {
    SupervisedProcess& s = sl.proc;
    if (s.pid != pid) continue;
    s.pid = 0;
    if (g_spooler.counters) g_spooler.counters[&sl - g_spooler.slots.data()].running.store(0);  // died in a task
    if (respawn) {
      uint64_t delay = s.exited(monotonic_ms());  // never a tight fork loop (counts the respawn)
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

std::vector<SpoolerStat> spoolers_stats() {
  std::vector<SpoolerStat> out;
  for (size_t d = 0; d < g_spooler.dirs.size(); d++) {
    SpoolerStat st;
    st.dir = g_spooler.dirs[d];
    for (size_t i = 0; i < g_spooler.slots.size(); i++) {
      Slot& s = g_spooler.slots[i];
      if (s.dir != d) continue;
      if (s.proc.pid > 0) st.pids.push_back((int)s.proc.pid);
      st.respawns += s.proc.respawns;
      if (g_spooler.counters) {
        st.tasks += g_spooler.counters[i].tasks.load();
        st.running += (int)g_spooler.counters[i].running.load();
      }
    }
    st.queued = scan(st.dir).size();
    out.push_back(std::move(st));
  }
  return out;
}

bool spoolers_route_signal(int num, std::string* err) {
  if (g_spooler.slots.empty()) {
    *err = "no spooler is configured";
    return false;
  }
  unsigned char b = (unsigned char)num;
  bool ok = true;
  for (auto& s : g_spooler.slots)
    if (::send(s.sig_writer, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) {
      *err = std::string("a spooler's signal queue is full (") + strerror(errno) + ")";
      ok = false;
    }
  return ok;
}

}  // namespace uwsgi
