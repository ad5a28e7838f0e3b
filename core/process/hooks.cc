#include "process/hooks.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "log/log.h"
#include "process/supervised_process.h"

namespace uwsgi {

namespace {

struct Phase {
  const char* name;
  bool fatal;    // uWSGI: a failing hook destroys the instance
  bool has_exec;  // there is an --exec-PHASE option
};

// In the order they run (docs/operations.md "Hooks" says where each one is).
const Phase kPhases[] = {
    {"asap", true, true},         {"pre-jail", true, true},     {"post-jail", true, true},
    {"in-jail", true, true},      {"as-root", true, true},      {"as-user", true, true},
    {"pre-app", true, true},      {"post-app", true, true},     {"master-start", true, true},
    {"accepting", false, false},  {"accepting1", false, false}, {"accepting-once", false, false},
    {"accepting1-once", false, false}, {"as-user-atexit", false, true},
};

const Phase* find_phase(const char* name) {
  for (auto& p : kPhases)
    if (strcmp(p.name, name) == 0) return &p;
  return nullptr;
}

const char* const kActions[] = {"exec", "mkdir", "chdir", "cd", "putenv", "unlink", "write", "writefifo",
                                "print", "log", "chmod", "exit", "unix_signal"};

std::map<int, std::string> g_unix_signals;

// "N HANDLER": "" when valid (*sig, *handler set).
std::string parse_unix_signal(const std::string& args, int* sig, std::string* handler) {
  size_t sp = args.find(' ');
  char* end = nullptr;
  long n = strtol(args.c_str(), &end, 10);
  if (sp == std::string::npos || end != args.c_str() + sp || n < 1 || n > 64)
    return "wants SIGNAL HANDLER (a signal number 1..64)";
  *sig = (int)n;
  *handler = args.substr(sp + 1);
  for (const char* h : {"gracefully_kill_them_all", "kill_them_all", "reload", "brutally_reload"})
    if (*handler == h) return "";
  return "unknown handler \"" + *handler + "\" (gracefully_kill_them_all, kill_them_all, reload, brutally_reload)";
}

bool split_action(const std::string& hook, std::string* action, std::string* args) {
  size_t colon = hook.find(':');
  *action = hook.substr(0, colon);
  *args = colon == std::string::npos ? "" : hook.substr(colon + 1);
  for (const char* a : kActions)
    if (*action == a) return true;
  return false;
}

// /bin/sh -c CMD, waited for; "" on success, else why it failed.
std::string run_command(const std::string& cmd) {
  fflush(nullptr);
  ChildSetup setup;  // no handler of the caller's runs in the child; the command gets defaults
  setup.log_to_master = false;
  setup.ignore_sigpipe = false;
  pid_t pid = fork_supervised(setup);
  if (pid < 0) return std::string("fork: ") + strerror(errno);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), (char*)nullptr);
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return std::string("waitpid: ") + strerror(errno);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "exit status " + std::to_string(WEXITSTATUS(status));
}

// "FILE STRING": the first space separates them.
bool file_and_text(const std::string& args, std::string* file, std::string* text) {
  size_t sp = args.find(' ');
  if (sp == std::string::npos) return false;
  *file = args.substr(0, sp);
  *text = args.substr(sp + 1);
  return true;
}

std::string errno_text(const char* what) { return std::string(what) + ": " + strerror(errno); }

// "" on success.
std::string run_action(const std::string& action, const std::string& args) {
  if (action == "exec") return run_command(args);
  if (action == "print" || action == "log") {
    log_line("%s", args.c_str());
    return "";
  }
  if (action == "mkdir") {
    struct stat st;
    // A reload runs the hooks again: a directory that is already there is what was asked for.
    if (mkdir(args.c_str(), 0777) != 0 && !(errno == EEXIST && stat(args.c_str(), &st) == 0 && S_ISDIR(st.st_mode)))
      return errno_text("mkdir");
    return "";
  }
  if (action == "chdir" || action == "cd") return chdir(args.c_str()) == 0 ? "" : errno_text("chdir");
  if (action == "putenv") {
    size_t eq = args.find('=');
    if (eq == std::string::npos) return "wants NAME=VALUE";
    return setenv(args.substr(0, eq).c_str(), args.substr(eq + 1).c_str(), 1) == 0 ? "" : errno_text("setenv");
  }
  if (action == "unlink") return unlink(args.c_str()) == 0 || errno == ENOENT ? "" : errno_text("unlink");
  if (action == "unix_signal") {
    int sig;
    std::string handler, why = parse_unix_signal(args, &sig, &handler);
    if (why.empty()) g_unix_signals[sig] = handler;
    return why;
  }
  if (action == "exit") {
    log_line("hook: exit(%d)", atoi(args.c_str()));
    exit(args.empty() ? 0 : atoi(args.c_str()));
  }
  std::string file, text;
  if (!file_and_text(args, &file, &text)) return "wants FILE " + std::string(action == "chmod" ? "MODE" : "TEXT");
  if (action == "chmod") {
    char* end = nullptr;
    long mode = strtol(text.c_str(), &end, 8);
    if (text.empty() || *end || mode < 0 || mode > 07777) return "mode must be octal, e.g. 644";
    return chmod(file.c_str(), (mode_t)mode) == 0 ? "" : errno_text("chmod");
  }
  // write / writefifo: the text as given (uWSGI: no newline added); a fifo without a reader fails.
  int flags = action == "writefifo" ? O_WRONLY | O_NONBLOCK : O_WRONLY | O_CREAT | O_TRUNC;
  int fd = open(file.c_str(), flags | O_CLOEXEC, 0666);
  if (fd < 0) return errno_text("open");
  ssize_t n = write(fd, text.data(), text.size());
  std::string r = n == (ssize_t)text.size() ? "" : errno_text("write");
  close(fd);
  return r;
}

}  // namespace

void register_hook_options(HostImpl& host) {
  for (auto& p : kPhases) {
    OptionDef d;
    d.name = std::string("hook-") + p.name;
    d.arg = OptArg::Required;
    d.help = std::string("run ACTION:ARGS (exec, mkdir, chdir, putenv, unlink, write, writefifo, print, chmod, ") +
             "exit, unix_signal) in the " + p.name + " phase (repeatable)";
    host.add_option(d);
    if (!p.has_exec) continue;
    OptionDef e;
    e.name = std::string("exec-") + p.name;
    e.arg = OptArg::Required;
    e.help = std::string("run this shell command in the ") + p.name + " phase (as --hook-" + p.name + " exec:CMD)";
    host.add_option(e);
  }
}

bool check_hooks(const Config& cfg, std::string* err) {
  for (auto& p : kPhases)
    for (auto& h : cfg.all(std::string("hook-") + p.name)) {
      std::string action, args;
      if (!split_action(h, &action, &args)) {
        *err = std::string("--hook-") + p.name + " " + h + ": unknown hook action \"" + action +
               "\" (known: exec, mkdir, chdir, putenv, unlink, write, writefifo, print, log, chmod, exit, unix_signal)";
        return false;
      }
      int sig;
      std::string handler, why;
      if (action == "unix_signal" && !(why = parse_unix_signal(args, &sig, &handler)).empty()) {
        *err = std::string("--hook-") + p.name + " " + h + ": " + why;
        return false;
      }
    }
  return true;
}

const std::map<int, std::string>& unix_signal_actions() { return g_unix_signals; }

bool run_hooks(const Config& cfg, const char* phase, std::string* err) {
  const Phase* p = find_phase(phase);
  if (!p) return true;
  auto one = [&](const std::string& opt, const std::string& action, const std::string& args,
                 const std::string& shown) -> bool {
    log_line("running \"%s\" (%s)", shown.c_str(), opt.c_str());
    std::string why = run_action(action, args);
    if (why.empty()) return true;
    std::string msg = "--" + opt + " \"" + shown + "\" failed (" + why + ")";
    if (!p->fatal) {
      log_line("%s", msg.c_str());
      return true;
    }
    *err = msg + ": stopping (a " + phase + " hook must succeed)";
    return false;
  };
  std::string hook_opt = std::string("hook-") + phase;
  for (auto& h : cfg.all(hook_opt)) {
    std::string action, args;
    split_action(h, &action, &args);  // checked at start-up
    if (!one(hook_opt, action, args, h)) return false;
  }
  if (p->has_exec) {
    std::string exec_opt = std::string("exec-") + phase;
    for (auto& cmd : cfg.all(exec_opt))
      if (!one(exec_opt, "exec", cmd, cmd)) return false;
  }
  return true;
}

}  // namespace uwsgi
