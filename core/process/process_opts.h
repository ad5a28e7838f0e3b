// Process-level options applied by main(): --daemonize and --honour-stdin (right after the options are read) and
// --uid/--gid (after the sockets are bound, so privileged ports work, before apps load).
#pragma once

#include <string>

#include "host.h"
#include "config/options.h"

namespace uwsgi {

// Fork into the background (the parent exits 0), setsid, log to the file. Not again when a
// reloading master re-executes itself (it is already a daemon).
bool daemonize_if_asked(const Config& cfg, std::string* err);
// --master-as-root, --add-gid, --unenv, --print, --iprint, --skip-atexit, --skip-atexit-teardown.
void register_process_options(HostImpl& host);

// --uid/--gid (and --add-gid) for this process; with --master-as-root and a master, nothing here:
// the master stays root and each process that runs app code drops them after its fork
// (drop_privileges_in_child).
bool drop_privileges_if_asked(const Config& cfg, bool master, std::string* err);
// In a worker, mule, spooler or router right after its fork (fork_supervised with runs_app_code):
// with --master-as-root, drops to --uid/--gid; with --never-swap, locks its memory again (memory
// locks are not inherited across fork). false + *err: the process must not run.
bool drop_privileges_in_child(std::string* err);

// --env NAME=VALUE / NAME and --unenv NAME, in the order the configuration gives them.
bool apply_env_options(const Config& cfg, std::string* err);
// --print TEXT: each to stdout once the configuration is read (--iprint prints while it is read).
void print_config_messages(const Config& cfg);
// A user (user=true) or group given by name or number; false with "unknown user ..." in *err.
bool parse_id(const std::string& v, bool user, unsigned* out, std::string* err);

// A reload re-executes through /proc/self/exe, and the kernel names a process after the file it
// executes: "exe". Named so, `pgrep uwsgi` and top lose the master and its workers. Called first
// in main(): when the name is "exe", take it from argv[0] again (prctl PR_SET_NAME).
void keep_process_name(const char* argv0);

// SIGUSR1/SIGUSR2 until a process reports on them itself: caught and dropped (not SIG_IGN, which
// programs the app starts meanwhile would inherit across exec).
void ignore_report_signals();

// SIGHUP (a graceful reload) from the start of main() until the master handles it: noted, not
// fatal (its default action), since the pidfile names the process before the apps have loaded
// (`uwsgi --reload PIDFILE`, a logrotate or systemd reload right after a start). The master
// reloads once it runs when early_reload_requested().
void defer_reload_signal();
bool early_reload_requested();

// Set in the environment of a reload's dry run: main() reads and checks the whole configuration
// (ini files, argv, environment) as a start would, loads the apps, and exits 0 before binding.
inline constexpr const char* kConfigCheckEnv = "UWSGI_RELOAD_CONFIG_CHECK";

// stdin becomes /dev/null (as in uWSGI: a worker must not read the terminal or a pipe meant for
// the master) unless --honour-stdin.
void remap_stdin_unless_honoured(const Config& cfg);

}  // namespace uwsgi
