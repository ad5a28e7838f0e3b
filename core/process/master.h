// Process model: a master that forks, watches and respawns workers, reloads and shuts down; or a
// single process that is its own worker.
#pragma once

#include <vector>

#include "host.h"
#include "net/listener.h"
#include "plugin_loader.h"
#include "process/worker.h"
#include "router/router.h"

namespace uwsgi {

struct ProcessSetup {
  HostImpl* host;
  PluginLoader* loader;
  std::vector<Listener>* listeners;
  ServeSettings settings;
  EngineChoice engines;
  int processes = 1;
  bool master = false;
  bool lazy_apps = false;
  bool die_on_term = false;
  int reload_mercy_s = 60;
  std::vector<std::string> argv;  // for re-exec on reload
  // --http: the router processes' settings and public sockets (null without --http).
  const RouterSettings* router = nullptr;
  std::vector<Listener>* router_listeners = nullptr;
  std::vector<Listener> router_kept;  // other router sockets a reload keeps (--http-stats)
};

// Exit status of a process that could not load its apps (uWSGI's UWSGI_FAILED_APP_CODE): the
// master's own start-up, or a --lazy-apps worker, which tells the master this way.
constexpr int kExitFailedApp = 22;

// Runs until shutdown; returns the exit code.
int run_processes(ProcessSetup& s);

// Loads apps through every plugin (master before fork, or the worker with --lazy-apps).
bool load_apps(HostImpl& host, PluginLoader& loader);

}  // namespace uwsgi
