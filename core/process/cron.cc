#include "process/cron.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <sstream>

#include "config/options.h"
#include "log/log.h"
#include "process/supervised_process.h"

namespace uwsgi {
namespace {

struct CronJob {
  CronFields when;
  int signal = -1;        // >= 0: raise this uwsgi signal
  std::string command;    // else run this
  bool unique = false;
  int harakiri_s = 0;
  pid_t pid = 0;          // the running command
  time_t started = 0;
  std::string origin;     // the option, for log lines
};

std::vector<CronJob> g_jobs;
long long g_last_minute = -1;
int g_default_harakiri = 0;

// Tests drive the clock: UWSGI_CRON_CLOCK_SCALE=N makes cron's minutes pass N times faster
// (counted from the first tick), so a test sees several minutes in a few seconds.
time_t cron_now() {
  static double scale = [] {
    const char* s = getenv("UWSGI_CRON_CLOCK_SCALE");
    double v = s ? atof(s) : 1.0;
    return v > 0 ? v : 1.0;
  }();
  static time_t origin = time(nullptr);
  time_t now = time(nullptr);
  return scale == 1.0 ? now : origin + (time_t)((double)(now - origin) * scale);
}

bool field_matches(int f, int v) {
  if (f == -1) return true;
  if (f < -1) return v % (-f) == 0;
  return f == v;
}

bool parse_int(const std::string& s, int* out) {
  if (s.empty()) return false;
  char* end;
  long v = strtol(s.c_str(), &end, 10);
  if (*end || v < -1000 || v > 1000) return false;
  *out = (int)v;
  return true;
}

bool check_ranges(const CronFields& f, std::string* err) {
  struct R {
    const char* name;
    int v, lo, hi;
  } rs[] = {{"minute", f.minute, 0, 59}, {"hour", f.hour, 0, 23}, {"day", f.day, 1, 31},
            {"month", f.month, 1, 12}, {"weekday", f.weekday, 0, 6}};
  for (auto& r : rs)
    if (r.v >= 0 && (r.v < r.lo || r.v > r.hi)) {
      *err = std::string(r.name) + " " + std::to_string(r.v) + " is out of range (" + std::to_string(r.lo) + "-" +
             std::to_string(r.hi) + ", -1 any, -N every N)";
      return false;
    }
  return true;
}

void start_command(CronJob& j) {
  if (j.unique && j.pid > 0) {
    log_line("[uwsgi-cron] %s: still running (pid %d), not started again", j.command.c_str(), (int)j.pid);
    return;
  }
  ChildSetup setup;  // the command gets default dispositions and its own session
  setup.new_session = true;
  setup.log_to_master = false;
  setup.ignore_sigpipe = false;
  pid_t pid = fork_supervised(setup);
  if (pid < 0) {
    log_line("[uwsgi-cron] cannot fork for %s: %s", j.command.c_str(), strerror(errno));
    return;
  }
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", j.command.c_str(), (char*)nullptr);
    _exit(127);
  }
  if (j.unique || j.harakiri_s > 0 || j.pid == 0) {
    j.pid = pid;
    j.started = time(nullptr);
  }
  log_line("[uwsgi-cron] running \"%s\" (pid %d)", j.command.c_str(), (int)pid);
}

}  // namespace

bool cron_matches(const CronFields& f, const struct tm& t) {
  if (!field_matches(f.minute, t.tm_min) || !field_matches(f.hour, t.tm_hour) || !field_matches(f.month, t.tm_mon + 1))
    return false;
  bool day = field_matches(f.day, t.tm_mday), wday = field_matches(f.weekday, t.tm_wday);
  if (f.day != -1 && f.weekday != -1) return day || wday;
  return day && wday;
}

bool parse_cron_line(const std::string& v, CronFields* f, std::string* command, std::string* err) {
  std::istringstream in(v);
  std::string w[5];
  int* dst[5] = {&f->minute, &f->hour, &f->day, &f->month, &f->weekday};
  for (int i = 0; i < 5; i++)
    if (!(in >> w[i]) || !parse_int(w[i], dst[i])) {
      *err = "wants \"MIN HOUR DAY MONTH WEEKDAY COMMAND\" (numbers, -1 any, -N every N), not \"" + v + "\"";
      return false;
    }
  command->clear();
  std::getline(in, *command);
  size_t b = command->find_first_not_of(" \t");
  *command = b == std::string::npos ? "" : command->substr(b);
  if (command->empty()) {
    *err = "has no command: \"" + v + "\"";
    return false;
  }
  return check_ranges(*f, err);
}

bool parse_cron2(const std::string& v, CronFields* f, std::string* command, bool* unique, int* harakiri_s,
                 std::string* err) {
  size_t sp = v.find_first_of(" \t");
  if (sp == std::string::npos) {
    *err = "wants \"key=value,... COMMAND\", not \"" + v + "\"";
    return false;
  }
  std::string keys = v.substr(0, sp);
  size_t b = v.find_first_not_of(" \t", sp);
  *command = b == std::string::npos ? "" : v.substr(b);
  if (command->empty()) {
    *err = "has no command: \"" + v + "\"";
    return false;
  }
  std::stringstream ks(keys);
  std::string kv;
  while (std::getline(ks, kv, ',')) {
    if (kv.empty()) continue;
    size_t eq = kv.find('=');
    std::string k = kv.substr(0, eq), val = eq == std::string::npos ? "1" : kv.substr(eq + 1);
    int n;
    bool ok = parse_int(val, &n);
    if (k == "minute") f->minute = n;
    else if (k == "hour") f->hour = n;
    else if (k == "day") f->day = n;
    else if (k == "month") f->month = n;
    else if (k == "week" || k == "weekday") f->weekday = n;
    else if (k == "unique") *unique = n != 0;
    else if (k == "harakiri") *harakiri_s = n;
    else {
      *err = "unknown key \"" + k + "\" in \"" + v + "\" (minute, hour, day, month, week, unique, harakiri)";
      return false;
    }
    if (!ok) {
      *err = k + " wants a number, not \"" + val + "\"";
      return false;
    }
  }
  return check_ranges(*f, err);
}

void register_cron_options(HostImpl& host) {
  host.add_option(make_option("cron", 0, OptArg::Required,
                              "run COMMAND in the master's cron: \"MIN HOUR DAY MONTH WEEKDAY COMMAND\" (-1 any, -N every N)"));
  host.add_option(make_option("unique-cron", 0, OptArg::Required,
                              "as --cron, but not started again while the previous run is still going"));
  host.add_option(make_option("cron2", 0, OptArg::Required,
                              "cron with keys: \"minute=M,hour=H,day=D,month=MO,week=W,unique=1,harakiri=SECS COMMAND\""));
  host.add_option(make_option("cron-harakiri", 0, OptArg::Required,
                              "kill a cron command that runs longer than this many seconds", {}, true));
}

bool configure_cron(const Config& cfg, std::string* err) {
  g_jobs.clear();
  g_default_harakiri = (int)cfg.get_int("cron-harakiri", 0);
  auto add = [&](const char* opt, const std::string& v, bool unique, bool v2) {
    CronJob j;
    j.unique = unique;
    j.harakiri_s = g_default_harakiri;
    std::string why;
    bool ok = v2 ? parse_cron2(v, &j.when, &j.command, &j.unique, &j.harakiri_s, &why)
                 : parse_cron_line(v, &j.when, &j.command, &why);
    if (!ok) {
      *err = std::string("--") + opt + ": " + why;
      return false;
    }
    j.origin = opt;
    g_jobs.push_back(std::move(j));
    return true;
  };
  for (auto& v : cfg.all("cron"))
    if (!add("cron", v, false, false)) return false;
  for (auto& v : cfg.all("unique-cron"))
    if (!add("unique-cron", v, true, false)) return false;
  for (auto& v : cfg.all("cron2"))
    if (!add("cron2", v, false, true)) return false;
  if (!g_jobs.empty() && !cfg.get_bool("master")) {
    *err = "--" + g_jobs.front().origin + " needs --master (the master runs cron)";
    return false;
  }
  return true;
}

void cron_add_signal(int num, const CronFields& f) {
  for (auto& j : g_jobs)
    if (j.signal == num && j.when.minute == f.minute && j.when.hour == f.hour && j.when.day == f.day &&
        j.when.month == f.month && j.when.weekday == f.weekday)
      return;  // with --lazy-apps every worker registers it
  CronJob j;
  j.when = f;
  j.signal = num;
  g_jobs.push_back(j);
  log_line("[uwsgi-cron] signal %d registered (%d %d %d %d %d)", num, f.minute, f.hour, f.day, f.month, f.weekday);
}

void cron_tick(const std::function<void(int)>& route) {
  if (g_jobs.empty()) return;
  time_t now = cron_now();
  for (auto& j : g_jobs)
    if (j.pid > 0 && j.harakiri_s > 0 && time(nullptr) - j.started >= j.harakiri_s) {
      log_line("[uwsgi-cron] %s (pid %d) ran over %d s: killing it", j.command.c_str(), (int)j.pid, j.harakiri_s);
      kill(-j.pid, SIGKILL);
      kill(j.pid, SIGKILL);
      j.started = time(nullptr) + 3600;  // once
    }
  long long minute = (long long)now / 60;
  if (minute == g_last_minute) return;
  bool first = g_last_minute < 0;
  g_last_minute = minute;
  if (first) return;  // the minute the master started in is not a fresh one: as cron, wait for the next
  struct tm t;
  localtime_r(&now, &t);
  for (auto& j : g_jobs) {
    if (!cron_matches(j.when, t)) continue;
    if (j.signal >= 0)
      route(j.signal);
    else
      start_command(j);
  }
}

bool cron_reaped(pid_t pid, int status) {
  for (auto& j : g_jobs)
    if (j.pid == pid) {
      if (WIFSIGNALED(status))
        log_line("[uwsgi-cron] \"%s\" (pid %d) killed by signal %d", j.command.c_str(), (int)pid, WTERMSIG(status));
      else if (WEXITSTATUS(status) != 0)
        log_line("[uwsgi-cron] \"%s\" (pid %d) exited with status %d", j.command.c_str(), (int)pid, WEXITSTATUS(status));
      j.pid = 0;
      return true;
    }
  return false;
}

void cron_stop_all() {
  for (auto& j : g_jobs)
    if (j.pid > 0) kill(-j.pid, SIGTERM);
}

}  // namespace uwsgi
