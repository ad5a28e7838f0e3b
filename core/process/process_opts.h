// Process-level options applied by main(): --daemonize and --honour-stdin (right after the options are read) and
// --uid/--gid (after the sockets are bound, so privileged ports work, before apps load).
#pragma once

#include <string>

#include "host.h"

namespace uwsgi {

// Fork into the background (the parent exits 0), setsid, log to the file. Not again when a
// reloading master re-executes itself (it is already a daemon).
bool daemonize_if_asked(const Config& cfg, std::string* err);
bool drop_privileges_if_asked(const Config& cfg, std::string* err);
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
