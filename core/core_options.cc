// The core's own options (uWSGI names), and --help, grouped by the plugin that owns each option.
#include "core_options.h"

#include <cstdio>

namespace uwsgi {

static OptionDef opt(const char* name, char short_name, OptArg arg, const char* help,
                     std::vector<std::string> aliases = {}, bool numeric = false) {
  OptionDef d;
  d.name = name;
  d.short_name = short_name;
  d.arg = arg;
  d.help = help;
  d.aliases = std::move(aliases);
  d.numeric = numeric;
  return d;
}

void register_core_options(HostImpl& host) {
  const OptArg R = OptArg::Required, N = OptArg::None;
  host.add_option(opt("ini", 0, R, "load options from an ini file (FILE or FILE:section)"));
  host.add_option(opt("plugins", 0, R, "load plugins (comma separated names or paths)", {"plugin"}));
  host.add_option(opt("plugin-dir", 0, R, "also look for plugins in this directory", {"plugins-dir"}));
  host.add_option(opt("help", 'h', N, "show this help"));
  host.add_option(opt("version", 0, N, "print the version"));
  host.add_option(opt("socket", 's', R, "bind a uwsgi-protocol socket (host:port, :port or a unix path)",
                      {"uwsgi-socket"}));
  host.add_option(opt("http-socket", 0, R, "bind an HTTP/1.1 socket (host:port, :port or a unix path)"));
  host.add_option(opt("listen", 'l', R, "listen queue size (default 100)", {}, true));
  host.add_option(opt("buffer-size", 'b', R, "largest request head / uwsgi packet in bytes (default 4096)", {}, true));
  host.add_option(opt("socket-timeout", 'z', R, "seconds a socket read or write may wait (default 30)", {}, true));
  host.add_option(opt("limit-post", 0, R, "largest request body in bytes (413 above it)", {}, true));
  host.add_option(opt("chmod-socket", 0, OptArg::Optional, "mode for unix sockets (default 666)"));
  host.add_option(opt("reuse-port", 0, N, "set SO_REUSEPORT on TCP sockets"));
  host.add_option(opt("chdir", 0, R, "chdir to this directory before loading apps"));
  host.add_option(opt("pidfile", 0, R, "write the master's pid to this file"));
  host.add_option(opt("vacuum", 0, N, "remove unix sockets and the pidfile at exit"));
  host.add_option(opt("disable-logging", 'L', N, "no per-request log lines"));
  host.add_option(opt("logto", 0, R, "log to this file"));
  host.add_option(opt("env", 0, R, "set an environment variable (NAME=VALUE)"));
  host.add_option(opt("master", 'M', N, "run a master process that supervises the workers"));
  host.add_option(opt("processes", 'p', R, "number of worker processes", {"workers"}, true));
  host.add_option(opt("threads", 0, R, "threads per worker (not supported yet: warns)", {}, true));
  host.add_option(opt("die-on-term", 0, N, "SIGTERM shuts down instead of reloading"));
  host.add_option(opt("reload-mercy", 0, R, "seconds workers get to finish on reload/shutdown (default 60)",
                      {"worker-reload-mercy"}, true));
  host.add_option(opt("lazy-apps", 0, N, "load apps in each worker instead of the master"));
  host.add_option(opt("lazy", 0, N, "same as --lazy-apps"));
  host.add_option(opt("max-requests", 'R', R, "recycle a worker after this many requests", {}, true));
  host.add_option(opt("async", 0, R, "async cores per worker (needs a suspend engine)", {}, true));
  host.add_option(opt("suspend-engine", 0, R, "suspend/resume engine for async cores (ugreen, fcontext, greenlet)"));
  host.add_option(opt("io-engine", 0, R, "I/O engine for async cores (epoll, libev, libuv)"));
  host.add_option(opt("loop-engine", 0, R, "loop engine running each worker (sync, async, gevent)"));
  host.add_option(opt("http-keepalive", 0, OptArg::Optional, "accepted for compatibility: keep-alive is always on"));
  host.add_option(opt("strict", 0, N, "accepted for compatibility: unknown options are always errors"));
}

void print_help(HostImpl& host, PluginLoader& loader) {
  (void)loader;
  printf("Usage: uwsgi [options...]\n");
  std::string group;
  for (auto& o : host.registry().all()) {
    if (o.group != group) {
      group = o.group;
      printf("\n%s options:\n", group.c_str());
    }
    std::string names = "--" + o.def.name;
    if (o.def.short_name) names = "-" + std::string(1, o.def.short_name) + "|" + names;
    for (auto& a : o.def.aliases) names += "|--" + a;
    printf("    %-38s %s\n", names.c_str(), o.def.help.c_str());
  }
}

}  // namespace uwsgi
