#include "process/master.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "log/log.h"
#include "log/log_buffer.h"
#include "log/log_master.h"
#include "process/process_opts.h"
#include "process/scoreboard.h"
#include "process/cron.h"
#include "process/mules.h"
#include "process/spooler.h"
#include "process/signal_framework.h"
#include "process/stats.h"
#include "process/supervised_process.h"
#include "process/status_report.h"
#include "process/cheaper.h"
#include "process/daemons.h"
#include "process/emperor_link.h"
#include "process/hooks.h"
#include "process/master_fifo.h"
#include "process/procname.h"
#include "process/recycle.h"
#include "process/fs_watch.h"
#include "process/sd_notify.h"
#include "process/touch_reload.h"
#include "process/worker_tuning.h"

namespace uwsgi {

bool load_apps(HostImpl& host, PluginLoader& loader) {
  for (auto& p : loader.plugins()) {
    std::string err;
    host.set_registering_group(p.name);
    if (!p.plugin->on_load_apps(host, &err)) {
      log_line("%s: %s", p.name.c_str(), err.c_str());
      return false;
    }
  }
  return true;
}

// --touch-exec: the command runs beside the master, which does not wait for it (reap() collects
// it), so a slow command never stalls supervision (uWSGI's master waits for it).
static void run_touch_command(const std::string& cmd) {
  ChildSetup setup;
  setup.new_session = true;
  setup.log_to_master = false;
  setup.ignore_sigpipe = false;
  pid_t pid = fork_supervised(setup);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), (char*)nullptr);
    _exit(127);
  }
  if (pid < 0) log_line("--touch-exec: cannot fork for \"%s\": %s", cmd.c_str(), strerror(errno));
  else log_line("--touch-exec: running \"%s\" (pid %d)", cmd.c_str(), (int)pid);
}

// first: this worker's first spawn (not a respawn), for the accepting*-once hooks.
static int run_worker(ProcessSetup& s, int id, bool forked, bool first) {
  s.host->set_worker(id, s.processes);
  set_procname(s.host->config(), id);
  apply_cpu_affinity(s.host->config(), id);
  if (forked)
    for (auto& p : s.loader->plugins()) p.plugin->on_post_fork(*s.host, id);
  const Config& cfg = s.host->config();
  std::string err;
  if (s.lazy_apps) {
    if (!run_hooks(cfg, "pre-app", &err)) {
      log_line("%s", err.c_str());
      return kExitFailedApp;
    }
    if (!load_apps(*s.host, *s.loader)) return kExitFailedApp;
    if (!run_hooks(cfg, "post-app", &err)) {
      log_line("%s", err.c_str());
      return kExitFailedApp;
    }
  }
  if (scoreboard().ready()) scoreboard().worker(id).apps_loaded.store(1);
  // Not fatal phases: a failure is logged and the worker serves.
  run_hooks(cfg, "accepting", &err);
  if (id == 1) run_hooks(cfg, "accepting1", &err);
  if (first) {
    run_hooks(cfg, "accepting-once", &err);
    if (id == 1) run_hooks(cfg, "accepting1-once", &err);
  }
  WorkerImpl w(*s.host, id, *s.listeners, s.settings, s.engines);
  if (!forked) {
    // No master: this process is the server. Its stop handlers first, so a stop right after
    // READY=1 is still a graceful one (and says STOPPING=1).
    worker_install_signals();
    sd_notify("READY=1\nSTATUS=uWSGI is ready");
  }
  int rc = w.run();
  if (!forked) sd_notify("STOPPING=1\nSTATUS=stopping");
  if (!cfg.get_bool("skip-atexit"))  // uwsgi.atexit and Python's atexit (--skip-atexit-teardown: the first only)
    for (auto& p : s.loader->plugins()) p.plugin->on_worker_exit(*s.host);
  return rc;
}

// Per-core scoreboard slots: --async N, a loop engine's own core count (--gevent N), --threads N.
static int scoreboard_cores(const ProcessSetup& s) {
  return std::max({1, s.engines.cores, (int)s.host->config().get_int("gevent", 0)});
}

// --stats ADDR (alias --stats-server); false when it is asked for and cannot be bound.
static bool open_stats(const Config& cfg, StatsServer* stats) {
  std::string addr = cfg.get("stats");
  if (addr.empty()) return true;
  std::string err;
  if (!stats->open(addr, cfg.get_bool("stats-http"), &err)) {
    log_line("cannot bind the stats server on %s: %s", addr.c_str(), err.c_str());
    return false;
  }
  StatsFormat fmt;
  fmt.minified = cfg.get_bool("stats-minified");
  fmt.cores = !cfg.get_bool("stats-no-cores");
  stats->set_format(fmt);
  log_line("stats server enabled on %s fd %d%s", addr.c_str(), stats->fd(), cfg.get_bool("stats-http") ? " (HTTP)" : "");
  return true;
}

namespace {

volatile sig_atomic_t g_got_int = 0, g_got_hup = 0, g_got_term = 0, g_got_usr1 = 0, g_got_usr2 = 0, g_got_tstp = 0;
int g_master_pipe[2] = {-1, -1};
// unix_signal hooks: signals whose master action a hook replaced, and those that came.
volatile sig_atomic_t g_hooked[65] = {}, g_hooked_got[65] = {};

void master_signal(int sig) {
  int saved = errno;
  if (sig > 0 && sig < 65 && g_hooked[sig]) g_hooked_got[sig] = 1;
  else if (sig == SIGINT || sig == SIGQUIT) g_got_int = 1;
  else if (sig == SIGHUP) g_got_hup = 1;
  else if (sig == SIGTERM) g_got_term = 1;
  else if (sig == SIGUSR1) g_got_usr1 = 1;
  else if (sig == SIGUSR2) g_got_usr2 = 1;
  else if (sig == SIGTSTP) g_got_tstp = 1;
  char c = 1;
  ssize_t r = ::write(g_master_pipe[1], &c, 1);
  (void)r;
  errno = saved;
}

uint64_t now_ms() { return monotonic_ms(); }

struct WorkerSlot {
  pid_t pid = 0;
  uint64_t started_ms = 0;
  uint64_t respawn_at_ms = 0;  // throttled respawn after a quick death
  bool harakiri_sent = false;
  bool spawned_once = false;
  bool failed_app = false;  // its last worker exited with kExitFailedApp (--lazy-apps)
  const char* recycle_reason = nullptr;  // set when the master asked this worker to go
  uint64_t recycle_ms = 0;               // when it was asked
  bool mercy_killed = false;             // ... and it outlived --reload-mercy
  Backoff backoff;                       // respawn delay while it keeps dying young
};

class Master {
 public:
  explicit Master(ProcessSetup& s) : s_(s), slots_(s.processes + 1) {}

  int run() {
    if (pipe2(g_master_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
      log_line("master: pipe: %s", strerror(errno));
      return 1;
    }
    add_master_only_fd(g_master_pipe[0]);
    add_master_only_fd(g_master_pipe[1]);
    const Config& cfg = s_.host->config();
    harakiri_ms_ = (uint64_t)cfg.get_int("harakiri", 0) * 1000;
    harakiri_verbose_ = cfg.get_bool("harakiri-verbose");
    recycle_ = read_recycle_settings(cfg);
    touch_.configure(cfg);
    fs_.configure(cfg);
    int ncores = scoreboard_cores(s_);
    if (!scoreboard().create(s_.processes, ncores) || !scoreboard().ensure_signal_table()) {
      log_line("master: cannot map the shared scoreboard: %s", strerror(errno));
      return 1;
    }
    SignalFramework& sf = SignalFramework::get();
    sf.set_has_master(true);
    sf.set_worker_view(
        s_.processes, [this](int id) { return id >= 1 && id <= s_.processes && slots_[id].pid > 0 && mode_ == kRunning; },
        [](int id) { return !scoreboard().worker(id).busy(); });
    if (!open_stats(cfg, &stats_)) return 1;
    cheaper_.configure(cfg, s_.processes, s_.listeners);
    facts_.listeners = s_.listeners;
    facts_.nworkers = s_.processes;
    facts_.ncores = ncores;
    struct sigaction sa {};
    sa.sa_handler = master_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (int sig : {SIGINT, SIGQUIT, SIGHUP, SIGTERM, SIGCHLD, SIGUSR1, SIGUSR2, SIGTSTP})
      sigaction(sig, &sa, nullptr);
    if (early_reload_requested()) {
      log_line("SIGHUP received during start-up: reloading now");
      g_got_hup = 1;
    }
    signal(SIGPIPE, SIG_IGN);
    set_procname(cfg, 0);
    std::string err;
    if (!run_hooks(cfg, "master-start", &err)) {
      log_line("%s", err.c_str());
      return 1;
    }
    for (auto& [sig, handler] : unix_signal_actions()) {
      g_hooked[sig] = 1;
      sigaction(sig, &sa, nullptr);
      log_line("signal %d (%s) will %s (unix_signal hook)", sig, strsignal(sig), handler.c_str());
    }
    if (!log_master_start(&err)) {
      log_line("%s", err.c_str());
      return 1;
    }
    if (!fifo_.open(cfg.all("master-fifo"), &err)) {
      log_line("%s", err.c_str());
      return 1;
    }
    std::vector<DaemonSpec> specs;
    if (!read_daemon_specs(cfg, &specs, &err)) {
      log_line("%s", err.c_str());
      return 1;
    }
    daemons_.configure(std::move(specs), s_.reload_mercy_s);
    log_line("master process (pid %d) spawning %d worker(s), %s loop engine", (int)getpid(),
             cheaper_.enabled() ? cheaper_.kept() : s_.processes, s_.engines.loop.c_str());
    if (emperor_.open()) emperor_.send(emperor_msg::kSpawned);
    daemons_.start_all(now_ms());
    for (int i = 1; i <= s_.processes; i++)
      if (!cheaper_.is_cheap(i)) spawn(i);
    mules_spawn_all();
    spoolers_spawn_all();
    start_routers();
    for (;;) {
      // The wake-up pipe, each worker's signal channel, inotify, the stats socket.
      std::vector<pollfd> pfds;
      pfds.push_back({g_master_pipe[0], POLLIN, 0});
      for (int i = 1; i <= s_.processes; i++)
        if (sf.master_fd(i) >= 0) pfds.push_back({sf.master_fd(i), POLLIN, 0});
      if (sf.inotify_fd() >= 0) pfds.push_back({sf.inotify_fd(), POLLIN, 0});
      if (stats_.fd() >= 0) pfds.push_back({stats_.fd(), POLLIN, 0});
      if (fifo_.fd() >= 0) pfds.push_back({fifo_.fd(), POLLIN, 0});
      if (emperor_.fd() >= 0) pfds.push_back({emperor_.fd(), POLLIN, 0});
      if (fs_.fd() >= 0) pfds.push_back({fs_.fd(), POLLIN, 0});
      poll(pfds.data(), pfds.size(), mode_ == kRunning ? sf.run_timers(200) : 200);
      char buf[64];
      while (::read(g_master_pipe[0], buf, sizeof buf) > 0) {
      }
      for (int i = 1; i <= s_.processes; i++) sf.read_worker_messages(i);
      sf.read_inotify();
      for (auto& c : fs_.read_changes()) {  // --fs-reload and co: as the master fifo's r, R
        if (c.action == FsAction::kSignal) sf.route(c.signal);
        else fifo_command(c.action == FsAction::kBrutalReload ? 'R' : 'r');
      }
      if (stats_.fd() >= 0) {
        facts_.running = mode_ == kRunning;
        facts_.daemons = daemons_.stats();
        facts_.supervised.clear();
        for (auto& r : routers_) facts_.supervised.push_back(supervised_stat(r));
        mules_stats(&facts_.supervised);
        spoolers_stats(&facts_.supervised);
        stats_.serve(facts_);
      }
      if (harakiri_ms_ > 0 && !paused_) check_harakiri();  // a paused worker is not stuck
      if (g_got_usr1) {
        g_got_usr1 = 0;
        report_stats(0);
      }
      if (g_got_usr2) {
        g_got_usr2 = 0;
        report_cores(0);
      }
      for (char c : fifo_.read_commands()) fifo_command(c);
      emperor_command(emperor_.read());
      if (g_got_tstp) {
        g_got_tstp = 0;
        toggle_pause();  // uWSGI: SIGTSTP pauses the workers
      }
      if (g_got_term) {
        g_got_term = 0;
        if (s_.die_on_term) g_got_int = 1;
        else g_got_hup = 1;  // uWSGI: SIGTERM reloads unless --die-on-term
      }
      for (auto& [sig, handler] : unix_signal_actions()) {
        if (!g_hooked_got[sig]) continue;
        g_hooked_got[sig] = 0;
        if (handler == "reload" || handler == "brutally_reload") {
          g_got_hup = 1;
        } else if (mode_ != kShutdown) {
          begin(kShutdown, SIGINT);  // gracefully: the workers finish their requests (--reload-mercy)
          if (handler == "kill_them_all") {
            for (auto& w : slots_)
              if (w.pid > 0) kill(w.pid, SIGKILL);
            killed_ = true;
          }
        }
      }
      if (g_got_int && mode_ != kShutdown) begin(kShutdown, SIGINT);
      if (daemons_.control_died() && mode_ != kShutdown) {
        exit_code_ = 1;
        begin(kShutdown, SIGINT);
      }
      if (g_got_hup && mode_ == kRunning) {
        g_got_hup = 0;
        if (check_pid_ == 0) start_config_check();  // the reload begins once the new config passes
      }
      reap();
      uint64_t now = now_ms();
      daemons_.tick(now, mode_ == kRunning);
      if (check_pid_ > 0 && now - check_started_ms_ > kConfigCheckMaxMs) {
        log_line("reload check: no answer after %d s: stopping it", (int)(kConfigCheckMaxMs / 1000));
        kill(check_pid_, SIGKILL);  // reaped (as a failed check) by reap()
        check_started_ms_ = now;    // said once
      }
      if (mode_ == kRunning) {
        std::vector<TouchEvent> touched;
        switch (touch_.poll(now, &touched)) {
          case TouchAction::kReload:
            if (check_pid_ == 0) start_config_check();  // as SIGHUP: a broken config cancels it
            break;
          case TouchAction::kWorkersReload: reload_workers(); break;
          case TouchAction::kChainReload: start_chain_reload(); break;
          default: break;
        }
        for (auto& e : touched) {
          if (e.action == TouchAction::kSignal) sf.route(e.signal);
          else if (e.action == TouchAction::kExec) run_touch_command(e.command);
          else if (e.action == TouchAction::kMulesReload) mules_signal_all(SIGTERM);  // each is respawned
        }
        step_chain_reload();
        announce_ready();
        check_recycling(now);
        cron_tick([&sf](int num) { sf.route(num); });
        mules_tick(now);
        spoolers_tick(now);
        cheaper_tick(now);
      }
      if (mode_ == kRunning) {
        for (int i = 1; i <= s_.processes; i++)
          if (slots_[i].pid == 0 && now >= slots_[i].respawn_at_ms && !cheaper_.is_cheap(i)) spawn(i);
        for (auto& r : routers_)
          if (r.due(now)) spawn_router(r);
      } else {
        if (alive() == 0 && mules_alive() == 0 && spoolers_alive() == 0 && daemons_.stopped() && (mode_ != kShutdown || routers_alive() == 0)) {
          if (mode_ == kShutdown) {
            if (check_pid_ > 0) kill(check_pid_, SIGKILL);
            cron_stop_all();
            log_master_drain();  // the workers' last lines before the goodbye
            log_line("goodbye to uWSGI (all workers stopped)");
            return exit_code_;
          }
          reexec();  // returns only on failure: serve on as before (new workers, same config)
          mode_ = kRunning;
          daemons_.start_all(now);
          continue;
        }
        if (now >= deadline_ms_ && !killed_) {
          log_line("workers still running after the %d s mercy: killing them", s_.reload_mercy_s);
          report_in_flight(0, "killing ");
          for (auto& w : slots_)
            if (w.pid > 0) kill(w.pid, SIGKILL);
          mules_signal_all(SIGKILL);
          spoolers_signal_all(SIGKILL);
          if (mode_ == kShutdown)
            for (auto& r : routers_)
              r.signal(SIGKILL);
          killed_ = true;
        }
      }
    }
  }

 private:
  enum Mode { kRunning, kShutdown, kReload };

  void begin(Mode m, int sig) {
    if (paused_) toggle_pause();  // stopped workers could not finish
    mode_ = m;
    sd_notify(m == kShutdown ? "STOPPING=1\nSTATUS=stopping" : "RELOADING=1\nSTATUS=reloading");
    killed_ = false;
    deadline_ms_ = now_ms() + (uint64_t)s_.reload_mercy_s * 1000;
    log_line(m == kShutdown ? "shutting down: stopping %d worker(s)" : "graceful reload: stopping %d worker(s)",
             alive());
    // What the stop waits for, so a slow shutdown explains itself.
    if (report_in_flight(0, "waiting for ") > 0)
      log_line("(in-flight requests get up to %d s: --reload-mercy)", s_.reload_mercy_s);
    for (auto& w : slots_)
      if (w.pid > 0) kill(w.pid, sig);
    mules_signal_all(SIGTERM);  // a mule has no requests to finish: SIGTERM ends it
    spoolers_signal_all(SIGTERM);  // a task cut short stays on disk and runs again
    if (sig == SIGKILL) killed_ = true;
    if (m == kShutdown) daemons_.begin_shutdown(now_ms());
    else daemons_.begin_reload(now_ms());
    // A reload keeps the router and its sockets (requests wait in the workers' listen queue);
    // a shutdown stops it gracefully too.
    if (m == kShutdown)
      for (auto& r : routers_)
        r.signal(r.stop_signal);
  }

  // Once every worker (but those --cheaper keeps stopped) has its app: systemd's READY=1 and the
  // Emperor's "accepting"; after the first request, the Emperor's "loyal". A reload's re-exec is a
  // new Master: it says both again.
  void announce_ready() {
    if (!ready_sent_) {
      for (int i = 1; i <= s_.processes; i++)
        if (!cheaper_.is_cheap(i) && (slots_[i].pid <= 0 || !scoreboard().worker(i).apps_loaded.load())) return;
      ready_sent_ = true;
      sd_notify("READY=1\nSTATUS=uWSGI is ready");
      emperor_.send(emperor_msg::kAccepting);
    }
    if (!loyal_sent_ && emperor_.fd() >= 0) {
      for (int i = 1; i <= s_.processes; i++)
        if (scoreboard().worker(i).requests.load() > 0) {
          loyal_sent_ = true;
          emperor_.send(emperor_msg::kLoyal);
          return;
        }
    }
  }

  // A vassal's master: what its Emperor asks (emperor_link.h).
  void emperor_command(EmperorLink::Command c) {
    switch (c) {
      case EmperorLink::Command::kNone: break;
      case EmperorLink::Command::kStop:
        log_line("the Emperor asks this vassal to stop");
        if (mode_ != kShutdown) begin(kShutdown, SIGINT);
        break;
      case EmperorLink::Command::kReload:
        log_line("the Emperor asks this vassal to reload");
        if (mode_ == kRunning && check_pid_ == 0) start_config_check();  // as SIGHUP
        break;
      case EmperorLink::Command::kLost:
        log_line("the Emperor is gone: shutting down");
        if (mode_ != kShutdown) begin(kShutdown, SIGINT);
        break;
    }
  }

  int routers_alive() const {
    int n = 0;
    for (auto& r : routers_)
      if (r.pid > 0) n++;
    return n;
  }

  // The routers a reloading master left running are taken over (UWSGI_ROUTER_PIDS); missing
  // ones are started.
  void start_routers() {
    if (!s_.router) return;
    routers_.resize(s_.router->processes);
    for (size_t r = 0; r < routers_.size(); r++) {
      SupervisedProcess& p = routers_[r];
      p.kind = ProcessKind::kRouter;
      p.id = (int)r + 1;
      p.name = "HTTP router " + std::to_string(r + 1);
      p.stop_signal = SIGINT;
      p.reload = OnReload::kKeep;
      p.backoff.set_policy({2000, 1000, 30000});  // 0, then 1, 2, 4 ... up to 30 s while it keeps dying at once
      p.setup.title = "uWSGI http " + std::to_string(r + 1);
      p.setup.runs_app_code = true;
      p.setup.log_to_master = false;  // it outlives a reload's re-exec, and the master's log pair with it
      p.setup.unblock_signals = false;  // run_router unblocks them once its handlers are set
      p.setup.prepare = [this] {
        // The workers' sockets are theirs: the router only connects to them.
        for (auto& l : *s_.listeners) close(l.fd);
      };
      p.start = [this, r] { return run_router(*s_.router, *s_.router_listeners, (int)r + 1); };
    }
    if (const char* env = getenv("UWSGI_ROUTER_PIDS")) {
      size_t r = 0;
      for (const char* p = env; *p && r < routers_.size();) {
        pid_t pid = (pid_t)strtol(p, const_cast<char**>(&p), 10);
        if (pid > 0 && kill(pid, 0) == 0) {
          routers_[r].pid = pid;
          routers_[r].started_ms = now_ms();
          routers_[r].spawned_once = true;
          log_line("HTTP router %zu (pid %d) kept across the reload", r + 1, (int)pid);
          r++;
        }
        if (*p == ',') p++;
        else if (*p) break;
      }
      unsetenv("UWSGI_ROUTER_PIDS");
    }
    for (auto& r : routers_)
      if (r.pid == 0) spawn_router(r);
  }

  void spawn_router(SupervisedProcess& r) {
    if (r.spawn(now_ms())) log_line("spawned HTTP router %d (pid %d)", r.id, (int)r.pid);
  }

  bool reap_router(pid_t pid, int status) {
    for (auto& r : routers_) {
      if (r.pid != pid) continue;
      if (mode_ == kShutdown) {
        r.pid = 0;
        return true;
      }
      uint64_t delay = r.exited(now_ms());
      if (WIFSIGNALED(status))
        log_line("HTTP router %d (pid %d) killed by signal %d (%s): respawning%s", r.id, (int)pid, WTERMSIG(status),
                 strsignal(WTERMSIG(status)), delay ? " after a back-off" : "");
      else
        log_line("HTTP router %d (pid %d) exited with status %d: respawning%s", r.id, (int)pid, WEXITSTATUS(status),
                 delay ? " after a back-off" : "");
      return true;
    }
    return false;
  }

  // --master-fifo: one command letter (uWSGI's table; docs/operations.md).
  void fifo_command(char c) {
    switch (c) {
      case 'r':
      case 'R':
        if (mode_ != kRunning) break;
        brutal_reload_ = c == 'R';
        if (check_pid_ == 0) start_config_check();  // as SIGHUP: a broken config cancels it
        break;
      case 'q': if (mode_ != kShutdown) begin(kShutdown, SIGINT); break;
      case 'Q':
        if (mode_ != kShutdown) begin(kShutdown, SIGKILL);
        break;
      case 'c': if (mode_ == kRunning) start_chain_reload(); break;
      case 'w': if (mode_ == kRunning) reload_workers(); break;
      case 'W':
        if (mode_ != kRunning) break;
        log_line("reloading the workers brutally");
        for (int i = 1; i <= s_.processes; i++) recycle(i, "brutal workers reload", SIGKILL);
        break;
      case 's': report_stats(0); break;
      case 'p': toggle_pause(); break;
      case 'P': write_pidfiles(); break;
      case 'l': reopen_log(false); break;
      case 'L': reopen_log(true); break;
      case '+':
      case '-':
        if (!cheaper_.enabled()) {
          log_line("master fifo '%c': the number of workers changes only in cheaper mode (--cheaper)", c);
          break;
        }
        if (mode_ != kRunning) break;
        for (int id : cheaper_.adjust(c == '+' ? 1 : -1, worker_life())) recycle(id, "cheaper");
        break;
      case 'f': log_line("master fifo 'f' (re-fork the master) is not supported: use 'r' to reload"); break;
      case 'B': case 'C': case 'E':
        log_line("master fifo '%c' is not supported (no Emperor / broodlord mode)", c);
        break;
      default: log_line("master fifo: unknown command '%c' (0x%02x): ignored", c, (unsigned char)c);
    }
  }

  // 'p' / SIGTSTP: the workers stop (SIGSTOP) until the next one (SIGCONT); nothing is lost,
  // connections wait in the listen queue.
  void toggle_pause() {
    paused_ = !paused_;
    log_line(paused_ ? "pausing %d worker(s)" : "resuming %d worker(s)", alive());
    for (auto& w : slots_)
      if (w.pid > 0) kill(w.pid, paused_ ? SIGSTOP : SIGCONT);
  }

  void write_pidfiles() {
    for (const char* opt : {"pidfile", "pidfile2", "safe-pidfile"}) {
      std::string path = s_.host->config().get(opt);
      if (path.empty()) continue;
      FILE* f = fopen(path.c_str(), "w");
      if (!f) {
        log_line("cannot write --%s %s: %s", opt, path.c_str(), strerror(errno));
        continue;
      }
      fprintf(f, "%d\n", (int)getpid());
      fclose(f);
      log_line("wrote the pid to %s", path.c_str());
    }
  }

  // 'l': reopen --logto (after an outside rotation moved it); 'L': rotate it now (renamed to
  // FILE.TIMESTAMP, or --log-backupname) and reopen. The workers reopen theirs on their next line
  // when --log-maxsize is set; otherwise they keep the old file until a reload.
  void reopen_log(bool rotate) {
    std::string path = s_.host->config().get("logto");
    if (path.empty()) path = s_.host->config().get("daemonize");
    if (path.empty() || path == "true") {
      log_line("master fifo '%c': no --logto / --daemonize log file to %s", rotate ? 'L' : 'l',
               rotate ? "rotate" : "reopen");
      return;
    }
    if (rotate) {
      std::string backup = s_.host->config().get("log-backupname");
      if (backup.empty()) backup = path + "." + std::to_string((long long)time(nullptr));
      if (rename(path.c_str(), backup.c_str()) != 0) {
        log_line("cannot rotate %s: %s", path.c_str(), strerror(errno));
        return;
      }
    }
    if (!log_to_file(path.c_str())) log_line("cannot reopen %s: %s", path.c_str(), strerror(errno));
    else log_line("log file %s %s", path.c_str(), rotate ? "rotated" : "reopened");
  }

  int alive() const {
    int n = 0;
    for (auto& w : slots_)
      if (w.pid > 0) n++;
    return n;
  }

  // --harakiri: a worker with a request in progress and no request start or end on any of its
  // cores for that long is stuck: kill it (the reaper respawns it).
  void check_harakiri() {
    uint64_t now = now_ms();
    for (int i = 1; i <= s_.processes; i++) {
      WorkerBoard& w = scoreboard().worker(i);
      if (slots_[i].pid <= 0 || slots_[i].harakiri_sent || w.busy_cores.load() <= 0) continue;
      uint64_t last = w.last_progress_ms.load();
      if (last == 0 || now < last || now - last < harakiri_ms_) continue;
      char uri[kUriMax];
      scoreboard().read_uri(i, uri, sizeof uri);
      log_line("HARAKIRI! worker %d (pid %d) stuck for %llu s on request %s: killing it (SIGKILL)", i,
               (int)slots_[i].pid, (unsigned long long)((now - last) / 1000), uri[0] ? uri : "(unknown)");
      if (harakiri_verbose_) log_stuck_process(slots_[i].pid);
      w.harakiri_count.fetch_add(1);
      slots_[i].harakiri_sent = true;
      kill(slots_[i].pid, SIGKILL);
    }
  }

  // Ask one worker to finish its requests and go (the reaper respawns it at once).
  void recycle(int id, const char* why, int sig = SIGHUP) {
    if (slots_[id].pid <= 0 || slots_[id].recycle_reason) return;
    slots_[id].recycle_reason = why;
    slots_[id].recycle_ms = now_ms();
    kill(slots_[id].pid, sig);
  }

  // --touch-workers-reload: every worker at once, gracefully; the master and its config stay.
  void reload_workers() {
    log_line("reloading the workers gracefully");
    for (int i = 1; i <= s_.processes; i++) recycle(i, "workers reload");
  }

  // --touch-chain-reload: one worker at a time; the next goes only once its replacement has
  // loaded its app (so with --lazy-apps the others serve on while each one reloads).
  void start_chain_reload() {
    if (chain_next_ > 0) return;  // one chain at a time
    log_line("chain reload: replacing %d worker(s) one at a time", s_.processes);
    chain_next_ = 1;
    chain_old_pid_ = 0;
  }

  void step_chain_reload() {
    if (chain_next_ == 0) return;
    if (chain_old_pid_ > 0) {
      const WorkerSlot& w = slots_[chain_next_];
      // A worker --cheaper stopped meanwhile has no replacement to wait for.
      if (!cheaper_.is_cheap(chain_next_)) {
        if (w.pid == chain_old_pid_ || w.pid == 0) return;  // still draining / not respawned yet
        if (!scoreboard().worker(chain_next_).apps_loaded.load()) return;  // replacement not ready
      }
      chain_old_pid_ = 0;
      chain_next_++;
    }
    while (chain_next_ <= s_.processes && (slots_[chain_next_].pid <= 0 || cheaper_.is_cheap(chain_next_)))
      chain_next_++;
    if (chain_next_ > s_.processes) {
      log_line("chain reload done");
      chain_next_ = 0;
      return;
    }
    chain_old_pid_ = slots_[chain_next_].pid;
    log_line("chain reload: worker %d (pid %d)", chain_next_, (int)chain_old_pid_);
    recycle(chain_next_, "chain reload");
  }

  // --max-worker-lifetime (graceful) and --evil-reload-on-rss/-as (SIGKILL), checked once a second.
  void check_recycling(uint64_t now) {
    if (now < next_recycle_check_ms_) return;
    next_recycle_check_ms_ = now + 1000;
    for (int i = 1; i <= s_.processes; i++) {
      WorkerSlot& w = slots_[i];
      if (w.pid <= 0) continue;
      if (w.recycle_reason) {
        // As on reload: a recycled worker gets --reload-mercy to finish its requests.
        if (now >= w.recycle_ms && now - w.recycle_ms >= (uint64_t)s_.reload_mercy_s * 1000 && !w.mercy_killed) {
          log_line("worker %d (pid %d) still running %d s after it was asked to go (%s): killing it", i, (int)w.pid,
                   s_.reload_mercy_s, w.recycle_reason);
          report_in_flight(i, "killing ");
          w.mercy_killed = true;
          kill(w.pid, SIGKILL);
        }
        continue;
      }
      if (recycle_.max_lifetime_ms > 0 &&
          now - w.started_ms >= recycle_.max_lifetime_ms + (uint64_t)(i - 1) * recycle_.lifetime_delta_ms) {
        log_line("worker %d (pid %d) reached --max-worker-lifetime: recycling", i, (int)w.pid);
        recycle(i, "max-worker-lifetime");
        continue;
      }
      uint64_t seen, limit;
      if (const char* evil = evil_recycle_reason(recycle_, w.pid, &seen, &limit)) {
        const char* what = strcmp(evil, "evil-reload-on-rss") == 0 ? "rss" : "address space";
        log_line("worker %d (pid %d) %s %llu MB over --%s %llu MB: killing it", i, (int)w.pid, what,
                 (unsigned long long)(seen >> 20), evil, (unsigned long long)(limit >> 20));
        recycle(i, evil, SIGKILL);
      }
    }
  }

  // --cheaper: the algorithm's verdict of this second; its spawns happen in the respawn loop.
  void cheaper_tick(uint64_t now) {
    if (!cheaper_.enabled()) return;
    for (int id : cheaper_.tick(now, worker_life())) recycle(id, "cheaper");
  }

  std::function<WorkerLife(int)> worker_life() const {
    return [this](int id) { return WorkerLife{slots_[id].pid, slots_[id].recycle_reason != nullptr}; };
  }

  void spawn(int id) {
    SignalFramework& sf = SignalFramework::get();
    sf.open_channel(id);
    WorkerBoard& wb = scoreboard().worker(id);
    // The new process starts with no request in progress.
    wb.busy_cores.store(0);
    wb.apps_loaded.store(0);
    wb.last_progress_ms.store(0);
    for (int c = 0; c < scoreboard().cores(); c++) scoreboard().core(id, c).busy.store(0);
    bool first = !slots_[id].spawned_once;
    // A worker never outlives its master (also while it loads a --lazy-apps app).
    ChildSetup setup;
    setup.pdeath_signal = SIGINT;
    setup.runs_app_code = true;
    setup.prepare = [&sf, id] {
      sf.child_after_fork(id);
      ignore_report_signals();  // until the worker reports on them itself (worker_install_signals)
    };
    pid_t pid = fork_supervised(setup);
    if (pid < 0) {
      log_line("fork() for worker %d failed: %s", id, strerror(errno));
      sf.close_channel(id);
      slots_[id].respawn_at_ms = now_ms() + 1000;
      return;
    }
    if (pid == 0) {
      int rc = run_worker(s_, id, true, first);
      log_flush();  // _exit() runs no atexit handler
      _exit(rc);
    }
    sf.parent_after_fork(id);
    if (slots_[id].spawned_once) wb.respawn_count.fetch_add(1);
    slots_[id].spawned_once = true;
    slots_[id].pid = pid;
    slots_[id].harakiri_sent = false;
    slots_[id].recycle_reason = nullptr;
    slots_[id].mercy_killed = false;
    slots_[id].started_ms = now_ms();
    wb.pid.store(pid);
    wb.last_spawn.store((uint64_t)time(nullptr));
    log_line("spawned worker %d (pid %d)", id, (int)pid);
  }

  void reap() {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      if (reap_router(pid, status)) continue;
      if (daemons_.reaped(pid, status, now_ms())) continue;
      if (pid == check_pid_) {
        check_pid_ = 0;
        config_check_done(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        continue;
      }
      if (cron_reaped(pid, status)) continue;
      if (mules_reaped(pid, status, mode_ == kRunning)) continue;
      if (spoolers_reaped(pid, status, mode_ == kRunning)) continue;
      for (int i = 1; i <= s_.processes; i++) {
        if (slots_[i].pid != pid) continue;
        slots_[i].pid = 0;
        scoreboard().worker(i).pid.store(0);
        SignalFramework::get().close_channel(i);
        if (mode_ == kRunning) {
          if (cheaper_.is_cheap(i))
            log_line("worker %d (pid %d) stopped by cheaper, %d kept", i, (int)pid, cheaper_.kept());
          else if (slots_[i].harakiri_sent)
            log_line("worker %d (pid %d) killed by harakiri: respawning", i, (int)pid);
          else if (slots_[i].recycle_reason)
            log_line("worker %d (pid %d) recycled (%s): respawning", i, (int)pid, slots_[i].recycle_reason);
          else if (WIFSIGNALED(status))
            log_line("worker %d (pid %d) died, killed by signal %d (%s): respawning", i, (int)pid,
                     WTERMSIG(status), strsignal(WTERMSIG(status)));
          else if (WIFEXITED(status) && WEXITSTATUS(status) == kExitFailedApp)
            log_line("worker %d (pid %d) could not load the app (status %d)", i, (int)pid, kExitFailedApp);
          else
            log_line("worker %d (pid %d) exited with status %d: respawning", i, (int)pid, WEXITSTATUS(status));
          slots_[i].failed_app = WIFEXITED(status) && WEXITSTATUS(status) == kExitFailedApp;
          uint64_t now = now_ms();
          // A worker that keeps dying right after starting would otherwise fork in a tight loop
          // (but a harakiri or a --max-requests recycle is not a crash loop).
          bool counts = !slots_[i].harakiri_sent && !slots_[i].recycle_reason &&
                        !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
          uint64_t lived = now - slots_[i].started_ms;
          uint64_t delay = slots_[i].backoff.on_exit(lived, counts);
          slots_[i].respawn_at_ms = now + delay;
          if (delay)
            log_line("worker %d lived %llu ms: respawning it in %llu s (back-off)", i, (unsigned long long)lived,
                     (unsigned long long)(delay / 1000));
        }
      }
    }
    if (mode_ == kRunning && every_worker_failed_app()) {
      // Respawning would fail the same way forever while clients wait: stop, as uWSGI does.
      log_line("no worker could load the app (need-app): stopping with status %d", kExitFailedApp);
      exit_code_ = kExitFailedApp;
      begin(kShutdown, SIGINT);
    }
  }

  // --lazy-apps: every worker's last attempt to load the app failed and none has it loaded.
  bool every_worker_failed_app() const {
    for (int i = 1; i <= s_.processes; i++) {
      if (cheaper_.is_cheap(i)) continue;  // never started: it did not fail
      if (!slots_[i].failed_app) return false;
      if (slots_[i].pid > 0 && scoreboard().worker(i).apps_loaded.load()) return false;
    }
    return true;
  }

  // A reload starts only once the new configuration is known to start: a dry run of this binary
  // with the same argv and environment (so the same ini files, options and UWSGI_* variables) in
  // check-only mode (kConfigCheckEnv). Until it answers, and if it fails, the workers serve on.
  void start_config_check() {
    log_line("reload requested: checking the configuration first");
    ChildSetup setup;  // exec keeps the mask and ignored signals: both back to defaults first
    setup.log_to_master = false;
    pid_t pid = fork_supervised(setup);
    if (pid < 0) {
      log_line("reload check: fork() failed: %s; reload cancelled", strerror(errno));
      return;
    }
    if (pid == 0) {
      setenv(kConfigCheckEnv, "1", 1);
      exec_self();
      _exit(127);
    }
    check_pid_ = pid;
    check_started_ms_ = now_ms();
  }

  void config_check_done(bool ok) {
    if (mode_ != kRunning) return;  // a shutdown came first
    if (!ok) {
      log_line("reload cancelled: the new configuration does not start (see above); "
               "still serving with the running one");
      return;
    }
    begin(kReload, brutal_reload_ ? SIGKILL : SIGHUP);
    brutal_reload_ = false;
  }

  void exec_self() {
    std::vector<char*> av;
    for (auto& a : s_.argv) av.push_back(const_cast<char*>(a.c_str()));
    av.push_back(nullptr);
    execv("/proc/self/exe", av.data());  // the name "exe" is undone by keep_process_name()
    log_line("execv(/proc/self/exe): %s", strerror(errno));
  }

  void reexec() {
    log_master_drain();
    log_line("reloading: re-executing %s", s_.argv[0].c_str());
    log_flush();  // exec keeps no thread
    daemons_.export_kept();
    std::vector<Listener> keep = *s_.listeners;
    if (s_.router_listeners) keep.insert(keep.end(), s_.router_listeners->begin(), s_.router_listeners->end());
    keep.insert(keep.end(), s_.router_kept.begin(), s_.router_kept.end());
    std::string inherit = encode_inherited(keep);
    setenv("UWSGI_INHERITED_SOCKETS", inherit.c_str(), 1);
    std::string pids;
    for (auto& r : routers_)
      if (r.pid > 0) pids += (pids.empty() ? "" : ",") + std::to_string(r.pid);
    if (!pids.empty()) setenv("UWSGI_ROUTER_PIDS", pids.c_str(), 1);
    for (auto& l : keep) fcntl(l.fd, F_SETFD, 0);  // keep them across exec
    exec_self();
    log_line("reload failed: serving on with the running configuration");
    for (auto& l : keep) fcntl(l.fd, F_SETFD, FD_CLOEXEC);
    unsetenv("UWSGI_INHERITED_SOCKETS");
    unsetenv("UWSGI_ROUTER_PIDS");
  }

  ProcessSetup& s_;
  std::vector<WorkerSlot> slots_;
  std::vector<SupervisedProcess> routers_;  // --http: the HTTP router processes
  uint64_t harakiri_ms_ = 0;
  bool harakiri_verbose_ = false;
  RecycleSettings recycle_;
  TouchWatcher touch_;
  FsWatcher fs_;
  Cheaper cheaper_;
  uint64_t next_recycle_check_ms_ = 0;
  int chain_next_ = 0;      // the worker a chain reload is at (0: none running)
  pid_t chain_old_pid_ = 0;  // that worker's pid when it was asked to go
  StatsServer stats_;
  StatsFacts facts_;
  Mode mode_ = kRunning;
  uint64_t deadline_ms_ = 0;
  bool killed_ = false;
  static constexpr uint64_t kConfigCheckMaxMs = 30000;
  pid_t check_pid_ = 0;  // the reload's configuration check, while it runs
  uint64_t check_started_ms_ = 0;
  int exit_code_ = 0;
  Daemons daemons_;
  MasterFifo fifo_;
  bool brutal_reload_ = false;  // the reload the running config check leads to kills the workers
  bool paused_ = false;
  EmperorLink emperor_;  // this master is a vassal's (UWSGI_EMPEROR_FD)
  bool ready_sent_ = false, loyal_sent_ = false;
};

}  // namespace

// Without a master, --stats is served by a thread of the worker's process: its loop may be inside
// a request for as long as the request takes. The thread blocks every signal (the worker's
// handlers run on its other threads) and lives as long as the process.
static bool start_stats_thread(ProcessSetup& s) {
  auto* stats = new StatsServer;
  if (!open_stats(s.host->config(), stats)) return false;
  if (stats->fd() < 0) {
    delete stats;
    return true;
  }
  StatsFacts facts;
  facts.listeners = s.listeners;
  facts.nworkers = 1;
  facts.ncores = scoreboard_cores(s);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  std::thread([stats, facts] {
    for (;;) {
      pollfd p{stats->fd(), POLLIN, 0};
      if (poll(&p, 1, -1) > 0) stats->serve(facts);
    }
  }).detach();
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return true;
}

int run_processes(ProcessSetup& s) {
  if (!s.master && s.processes <= 1 && !s.router) {
    if (SignalFramework::get().has_timers_or_monitors())
      log_line("warning: uwsgi timers and file monitors need a master process (--master): they will not fire");
    // A scoreboard of one: SIGUSR1/SIGUSR2 reports and --stats read it, as with a master.
    if (scoreboard().create(1, scoreboard_cores(s))) scoreboard().worker(1).pid.store(getpid());
    if (!start_stats_thread(s)) return 1;
    worker_set_own_mercy(s.reload_mercy_s);
    return run_worker(s, 1, false, true);
  }
  return Master(s).run();
}

}  // namespace uwsgi
