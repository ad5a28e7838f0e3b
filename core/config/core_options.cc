// The core's own options (uWSGI names), and --help, grouped by the plugin that owns each option.
#include "config/core_options.h"
#include "router/router.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include "log/loggers.h"
#include "log/log_master.h"
#include "log/log_reopen.h"
#include "log/request_log.h"
#include "net/connect_and_read.h"
#include "net/error_pages.h"
#include "net/request_options.h"
#include "net/websocket_options.h"
#include "process/cheaper.h"
#include "net/socket_options.h"
#include "process/limits.h"
#include "process/pidfile.h"
#include "process/process_opts.h"
#include "process/fs_watch.h"
#include "process/touch_reload.h"
#include "process/worker_tuning.h"
#include "static/static_config.h"

namespace uwsgi {

void register_core_options(HostImpl& host) {
  const OptArg R = OptArg::Required, N = OptArg::None;
  host.add_option(make_option("ini", 0, R,
                              "load options from an ini file (FILE or FILE:section; :section = this file)"));
  host.add_option(make_option("yaml", 'y', R, "load options from a yaml file (FILE or FILE:section)", {"yml"}));
  host.add_option(make_option("json", 'j', R, "load options from a json file (FILE or FILE:section)", {"js"}));
  host.add_option(make_option("xml", 'x', R, "load options from an xml file (FILE or FILE:id)"));
  host.add_option(make_option("inherit", 0, R, "load options from a config file of any kind (by its extension)"));
  host.add_option(make_option("set-placeholder", 0, R,
                              "define a config placeholder NAME=VALUE (not an option)", {"set-ph"}));
  host.add_option(make_option("plugins", 0, R, "load plugins (comma separated names or paths); one that cannot be loaded stops start-up",
                              {"plugin", "need-plugins", "need-plugin"}));
  host.add_option(make_option("plugin-dir", 0, R, "also look for plugins in this directory", {"plugins-dir"}));
  host.add_option(make_option("help", 'h', N, "show this help"));
  host.add_option(make_option("version", 0, N, "print the version"));
  host.add_option(make_option("socket", 's', R, "bind a uwsgi-protocol socket (host:port, :port or a unix path)",
                      {"uwsgi-socket"}));
  host.add_option(make_option("http-socket", 0, R,
                              "bind an HTTP/1.1 socket (host:port, :port or a unix path); keep-alive included",
                      {"http11-socket"}));
  host.add_option(make_option("protocol", 0, R,
                              "protocol of the --socket sockets: uwsgi (default) or http", {"socket-protocol"}));
  host.add_option(make_option("listen", 'l', R, "listen queue size (default 100)", {}, true));
  host.add_option(make_option("buffer-size", 'b', R,
                              "largest request head / uwsgi packet in bytes (default 4096)", {}, true));
  host.add_option(make_option("socket-timeout", 'z', R,
                              "seconds a socket read or write may wait, an idle keep-alive connection is kept, and a whole request head may take to arrive (default 30)", {}, true));
  host.add_option(make_option("limit-post", 0, R, "largest request body in bytes (413 above it)", {}, true));
  host.add_option(make_option("chmod-socket", 'C', OptArg::Optional, "mode for unix sockets (default 666)"));
  host.add_option(make_option("chown-socket", 0, R, "owner of unix sockets: USER or USER:GROUP (names or numbers)"));
  host.add_option(make_option("umask", 0, R, "process umask (octal, e.g. 022), set before sockets are bound"));
  host.add_option(make_option("reuse-port", 0, N, "set SO_REUSEPORT on TCP sockets"));
  // Always so here: accepted for the configs that ask (uWSGI makes both optional).
  host.add_option(make_option("tcp-nodelay", 0, N, "accepted: TCP_NODELAY is always set on TCP connections"));
  host.add_option(make_option("close-on-exec", 0, N,
                              "accepted: client connections are always close-on-exec (a program the app starts never inherits one)"));
  host.add_option(make_option("so-keepalive", 0, N,
                              "TCP keepalive probes on client connections (SO_KEEPALIVE), so dead peers are noticed"));
  host.add_option(make_option("no-defer-accept", 0, N,
                              "do not set TCP_DEFER_ACCEPT on TCP sockets (a connection is then accepted before its first bytes)"));
  host.add_option(make_option("chdir", 0, R, "chdir to this directory before loading apps"));
  host.add_option(make_option("vacuum", 0, N, "remove unix sockets and the pidfile at exit"));
  host.add_option(make_option("disable-logging", 'L', N, "no per-request log lines"));
  host.add_option(make_option("logto", 0, R, "log to this file"));
  host.add_option(make_option("logto2", 0, R, "log to this file, opened once privileges are dropped (--uid/--gid)"));
  host.add_option(make_option("env", 0, R, "set an environment variable (NAME=VALUE); NAME alone unsets it"));
  host.add_option(make_option("master", 'M', N, "run a master process that supervises the workers"));
  host.add_option(make_option("processes", 'p', R, "number of worker processes", {"workers"}, true));
  host.add_option(make_option("threads", 0, R,
                              "threads per worker, each serving one request at a time (sync mode)", {}, true));
  host.add_option(make_option("die-on-term", 0, N, "SIGTERM shuts down instead of reloading"));
  host.add_option(make_option("reload-mercy", 0, R, "seconds workers get to finish on reload/shutdown (default 60)",
                      {"worker-reload-mercy"}, true));
  host.add_option(make_option("lazy-apps", 0, N, "load apps in each worker instead of the master"));
  host.add_option(make_option("lazy", 0, N, "same as --lazy-apps"));
  host.add_option(make_option("max-requests", 'R', R, "recycle a worker after this many requests", {}, true));
  host.add_option(make_option("async", 0, R, "async cores per worker (needs a suspend engine)", {}, true));
  host.add_option(make_option("suspend-engine", 0, R,
                              "suspend/resume engine for async cores (ugreen, fcontext, greenlet)"));
  host.add_option(make_option("io-engine", 0, R, "I/O engine for async cores (epoll, libev, libuv)"));
  host.add_option(make_option("loop-engine", 0, R, "loop engine running each worker (sync, async, gevent)"));
  host.add_option(make_option("strict", 0, N,
                              "config keys that are no option, and unknown %(placeholders), are errors instead of warnings"));
  host.add_option(make_option("help-markdown", 0, N, "print this option reference as markdown (docs/options.md)"));
  host.add_option(make_option("build-plugin", 0, R,
                              "build the plugin in DIR against this server (NAME_plugin.so in the cwd) and exit"));
  // Operations (docs/operations.md).
  host.add_option(make_option("harakiri", 't', R,
                              "kill (and respawn) a worker stuck on one request for this many seconds",
                      {}, true));
  host.add_option(make_option("stats", 0, R,
                              "serve stats JSON on this address (host:port or unix path)", {"stats-server"}));
  host.add_option(make_option("stats-http", 0, N, "prefix the stats JSON with an HTTP response head"));
  host.add_option(make_option("stats-minified", 0, N, "stats JSON on one line (default: tab-indented, as uWSGI)",
                              {"stats-min"}));
  host.add_option(make_option("stats-no-cores", 0, N, "no \"cores\" list in each worker of the stats JSON"));
  host.add_option(make_option("stats-no-metrics", 0, N,
                              "accepted: the stats JSON never has uWSGI's \"metrics\" (no --enable-metrics here)"));
  host.add_option(make_option("thunder-lock", 0, N,
                      "accepted for compatibility: accepts are already serialized (EPOLLEXCLUSIVE)"));
  host.add_option(make_option("uid", 0, R, "setuid to this user (name or number) after binding the sockets"));
  host.add_option(make_option("gid", 0, R, "setgid to this group (name or number) after binding the sockets"));
  host.add_option(make_option("no-initgroups", 0, N,
                              "with --uid and --gid, do not add the user's supplementary groups (/etc/group)"));
  host.add_option(make_option("daemonize", 'd', R, "run in the background, logging to this file"));
  host.add_option(make_option("honour-stdin", 0, N, "keep the inherited stdin instead of /dev/null"));
  // Supervision (docs/operations.md): reload triggers, recycling, limits.
  host.add_option(make_option("touch-reload", 0, R,
                              "gracefully reload the whole server when this file's mtime changes (repeatable)"));
  host.add_option(make_option("touch-workers-reload", 0, R,
                              "gracefully reload all workers when this file's mtime changes"));
  host.add_option(make_option("touch-chain-reload", 0, R,
                      "replace the workers one at a time (each once the previous one's replacement is ready) when this file's mtime changes"));
  host.add_option(make_option("reload-on-rss", 0, R,
                              "recycle a worker whose resident memory is over this many MB after a request", {}, true));
  host.add_option(make_option("reload-on-as", 0, R,
                              "recycle a worker whose address space is over this many MB after a request", {}, true));
  host.add_option(make_option("evil-reload-on-rss", 0, R,
                              "the master kills (SIGKILL) a worker whose resident memory is over this many MB", {}, true));
  host.add_option(make_option("evil-reload-on-as", 0, R,
                              "the master kills (SIGKILL) a worker whose address space is over this many MB", {}, true));
  host.add_option(make_option("max-worker-lifetime", 0, R,
                              "gracefully recycle a worker after this many seconds", {}, true));
  host.add_option(make_option("max-worker-lifetime-delta", 0, R,
                      "worker N's --max-worker-lifetime is (N-1) x this many seconds longer, so they do not all go at once", {}, true));
  host.add_option(make_option("min-worker-lifetime", 0, R,
                      "a worker younger than this many seconds is not recycled by --max-requests, --reload-on-rss or "
                      "--reload-on-as yet (default 0; uWSGI's is 60)", {}, true));
  host.add_option(make_option("harakiri-verbose", 0, N,
                              "harakiri also logs the stuck worker's system call and wait channel"));
  host.add_option(make_option("max-fd", 0, R, "set the open files limit (RLIMIT_NOFILE)", {}, true));
  host.add_option(make_option("limit-as", 0, R,
                              "limit each process's address space to this many MB (RLIMIT_AS)", {}, true));
  host.add_option(make_option("auto-procname", 0, N,
                              "name the processes \"uWSGI master\", \"uWSGI worker N\" (shown by ps)"));
  host.add_option(make_option("procname", 0, R, "name every process so (then --procname-prefix/-append apply)"));
  host.add_option(make_option("procname-master", 0, R, "name the master so"));
  host.add_option(make_option("procname-prefix", 0, R, "prefix for the process names"));
  host.add_option(make_option("procname-prefix-spaced", 0, R, "prefix for the process names, followed by a space"));
  host.add_option(make_option("procname-append", 0, R, "append this to the process names"));
  host.add_option(make_option("no-orphans", 0, N,
                              "workers leave when the master dies (always so: PR_SET_PDEATHSIG, docs/operations.md)"));
  host.add_option(make_option("reaper", 'r', N, "workers reap the exited child processes of the app after each request"));
  register_pidfile_options(host);
  register_process_options(host);
  register_limit_options(host);
  register_worker_tuning_options(host);
  register_socket_tuning_options(host);
  register_touch_options(host);
  register_fs_watch_options(host);
  register_cheaper_options(host);
  register_log_options(host);
  register_router_options(host);
  register_websocket_options(host);
  register_request_options(host);
  register_connect_and_read_option(host);
  register_logger_options(host);
  register_log_output_options(host);
  register_log_file_options(host);
  register_static_options(host);
  register_error_page_options(host);
}

static std::string help_names(const OptionDef& d) {
  std::string names = "--" + d.name;
  if (d.short_name) names = "-" + std::string(1, d.short_name) + "|" + names;
  for (auto& a : d.aliases) names += "|--" + a;
  return names;
}

void print_help(HostImpl& host, PluginLoader& loader, const std::vector<PluginManifest>& others) {
  (void)loader;
  printf("Usage: uwsgi [options...]\n");
  std::string group;
  for (auto& o : host.registry().all()) {
    if (o.group != group) {
      group = o.group;
      printf("\n%s options:\n", group.c_str());
    }
    printf("    %-38s %s\n", help_names(o.def).c_str(), o.def.help.c_str());
  }
  for (auto& m : others) {
    if (m.options.empty()) continue;
    printf("\n%s options (plugin %s, loaded when one of them is used):\n", m.plugin.c_str(), m.so_path.c_str());
    for (auto& d : m.options) printf("    %-38s %s\n", help_names(d).c_str(), d.help.c_str());
  }
}

static void markdown_row(const OptionDef& d) {
  std::string names = "`--" + d.name + "`";
  if (d.short_name) names += ", `-" + std::string(1, d.short_name) + "`";
  for (auto& a : d.aliases) names += ", `--" + a + "`";
  const char* value = d.arg == OptArg::None ? "flag" : d.arg == OptArg::Optional ? "[VALUE]" : d.numeric ? "N" : "VALUE";
  std::string help;
  for (char c : d.help) help += c == '|' ? std::string("\\|") : std::string(1, c);
  printf("| %s | %s | %s |\n", names.c_str(), value, help.c_str());
}

// Same registry as --help, so docs/options.md (generated by `make docs`) cannot drift from it.
// Shared plugins come from their manifests, which their own registration wrote at build time.
void print_help_markdown(HostImpl& host, PluginLoader& loader, const std::vector<PluginManifest>& others) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<const RegisteredOption*>> groups;
  for (auto& o : host.registry().all()) {
    if (!groups.count(o.group)) order.push_back(o.group);
    groups[o.group].push_back(&o);
  }
  std::string plugins;
  for (auto& p : loader.plugins()) plugins += (plugins.empty() ? "" : ", ") + p.name;
  for (auto& m : others) plugins += (plugins.empty() ? "" : ", ") + m.plugin;
  printf("# Options\n\n<!-- generated by `make docs` (uwsgi --help-markdown): do not edit -->\n\n");
  printf("Every option also works in an ini file (`name = value`) and as `UWSGI_NAME` in the environment.\n");
  printf("An option of a shared plugin loads that plugin when used (or name it with `--plugins NAME`). "
         "Plugins listed here: %s.\n",
         plugins.c_str());
  auto heading = [](const std::string& g) { printf("\n## %s\n\n| option | value | description |\n|---|---|---|\n", g.c_str()); };
  for (auto& g : order) {
    heading(g);
    for (const RegisteredOption* o : groups[g]) markdown_row(o->def);
  }
  for (auto& m : others) {
    if (m.options.empty()) continue;
    heading(m.plugin);
    for (auto& d : m.options) markdown_row(d);
  }
}

// --build-plugin DIR: run the uwsgiconfig.py that came with this binary (installed in
// PREFIX/share/uwsgi, or beside the binary in a source tree).
int run_build_plugin(const std::string& dir) {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  std::string exe_dir = n > 0 ? std::string(buf, n) : std::string("./uwsgi");
  exe_dir.resize(exe_dir.rfind('/'));
  for (const char* rel : {"/../share/uwsgi/uwsgiconfig.py", "/uwsgiconfig.py", "/../../../uwsgiconfig.py"}) {
    std::string script = exe_dir + rel;
    if (access(script.c_str(), R_OK) != 0) continue;
    // The build asks this very binary for the new plugin's manifest (option autoload).
    if (n > 0) setenv("UWSGI_BINARY", std::string(buf, n).c_str(), 1);
    execl("/usr/bin/python3", "python3", script.c_str(), "--plugin", dir.c_str(), (char*)nullptr);
    fprintf(stderr, "uwsgi: cannot run /usr/bin/python3 %s: %s\n", script.c_str(), strerror(errno));
    return 1;
  }
  fprintf(stderr, "uwsgi: --build-plugin: no uwsgiconfig.py found (looked in %s/../share/uwsgi and %s)\n",
          exe_dir.c_str(), exe_dir.c_str());
  return 1;
}

}  // namespace uwsgi
