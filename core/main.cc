// Start-up: load plugins, parse options, bind sockets, load apps, run the process model.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <openssl/ssl.h>

#include "config/core_options.h"
#include "config/values.h"
#include "host.h"
#include "loop/io_epoll.h"
#include "net/error_pages.h"
#include "net/listener.h"
#include "net/connect_and_read.h"
#include "net/request_options.h"
#include "net/socket_options.h"
#include "net/websocket_options.h"
#include "log/log.h"
#include "process/cheaper.h"
#include "process/daemons.h"
#include "process/emperor.h"
#include "process/emperor_link.h"
#include "process/hooks.h"
#include "process/master_fifo.h"
#include "process/limits.h"
#include "process/fs_watch.h"
#include "process/touch_reload.h"
#include "process/worker_tuning.h"
#include "log/log_reopen.h"
#include "log/log_master.h"
#include "log/log_rotation.h"
#include "log/loggers.h"
#include "log/request_log.h"
#include "process/master.h"
#include "process/pidfile.h"
#include "process/procname.h"
#include "process/recycle.h"
#include "router/router.h"
#include "router/tls.h"
#include "static/static_config.h"
#include "routing/routing.h"
#include "config/options.h"
#include "plugin_autoload.h"
#include "plugin_loader.h"
#include "process/cron.h"
#include "process/mules.h"
#include "process/spooler.h"
#include "process/process_opts.h"
#include "shared/shared_state.h"
#include "version.h"

using namespace uwsgi;

static int fail(const std::string& msg) {
  log_line("uwsgi: %s", msg.c_str());
  return 1;
}

int main(int argc, char** argv) {
  keep_process_name(argv[0]);
  // SIGUSR1/SIGUSR2 only ever report (master.cc, worker.cc): one that comes while the server is
  // still starting (loading apps) must not kill it.
  ignore_report_signals();
  defer_reload_signal();
  // A reload's dry run (Master::start_config_check): parse and check everything, start nothing.
  const bool check_only = getenv(kConfigCheckEnv) != nullptr;
  // Its lines are shown only if it fails: the reloaded server logs its start-up itself.
  struct HeldLines {
    ~HeldLines() { log_release_held(); }
  } held_lines;
  if (check_only) log_hold();
  HostImpl host;
  register_core_options(host);
  register_hook_options(host);
  register_shared_options(host);
  register_cron_options(host);
  register_mule_options(host);
  register_spooler_options(host);
  register_daemon_options(host);
  register_master_fifo_options(host);
  register_emperor_options(host);
  register_routing_options(host);
  host.add_io_engine("epoll", [](Host&) { return make_epoll_io_engine(); });

  EarlyConfig early;
  std::string err;
  if (!scan_early(argc, argv, &early, &err, &host.registry())) return fail(err);
  bool help_markdown = false;
  const char* manifest_of = nullptr;  // hidden: the build asks a fresh plugin for its manifest
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help-markdown") == 0) help_markdown = true;
    if (strcmp(argv[i], "--plugin-manifest") == 0 && i + 1 < argc) manifest_of = argv[i + 1];
    if (strcmp(argv[i], "--build-plugin") == 0 && i + 1 < argc) return run_build_plugin(argv[i + 1]);
    if (strncmp(argv[i], "--build-plugin=", 15) == 0) return run_build_plugin(argv[i] + 15);
  }
  PluginLoader loader(early.plugin_dirs);
  if (!loader.load_builtins(&err)) return fail(err);
  for (auto& spec : early.plugins)
    if (!loader.load(spec, &err)) return fail(err);
  for (auto& p : loader.plugins()) {
    host.set_registering_group(p.name);
    p.plugin->on_register(host);
  }
  host.set_registering_group("core");
  if (!host.registration_error().empty()) return fail(host.registration_error());
  if (manifest_of) return print_plugin_manifest(host, loader, manifest_of);

  if (early.version) {
    printf("%s\n", UWSGI_SERVER_VERSION);
    return 0;
  }
  if (help_markdown) {
    print_help_markdown(host, loader, manifests_not_loaded(loader));
    return 0;
  }
  if (early.help) {
    print_help(host, loader, manifests_not_loaded(loader));
    return 0;
  }
  PluginAutoloader autoload(host, loader);
  if (!parse_config(argc, argv, host.registry(), &host.store(), &err, &autoload)) return fail(err);
  const Config& cfg = host.config();
  if (!check_only) print_config_messages(cfg);
  if (print_cheaper_algos_if_asked(cfg)) return 0;
  if (int rc = 0; signal_instance_if_asked(cfg, &rc)) return rc;
  if (int rc = 0; connect_and_read_if_asked(cfg, &rc)) return rc;
  // A reload's re-exec takes its sockets over (UWSGI_INHERITED_SOCKETS, dropped once taken).
  const bool reload_reexec = getenv("UWSGI_INHERITED_SOCKETS") != nullptr;

  if (!apply_log_date(cfg, &err)) return fail(err);
  truncate_log_if_asked(cfg, check_only);
  if (!check_only && cfg.has("logto") && !log_to_file(cfg.get("logto").c_str()))
    return fail("cannot open --logto " + cfg.get("logto") + ": " + strerror(errno));
  for (auto& w : host.store().warnings()) log_line("uwsgi: %s", w.c_str());
  if (!check_only && !daemonize_if_asked(cfg, &err)) return fail(err);
  if (!read_log_rotation(cfg, &err) || !read_log_master(cfg, &err) || !setup_log_file(cfg, check_only, &err))
    return fail(err);
  if (!setup_loggers(cfg, &err)) return fail(err);
  remap_stdin_unless_honoured(cfg);
  for (auto& line : autoload.log_lines()) log_line("%s", line.c_str());
  if (!check_only) warn_router_options(cfg);
  if (!apply_env_options(cfg, &err)) return fail(err);
  if (!check_hooks(cfg, &err)) return fail(err);
  // Hooks run in a real start (and again after a reload's re-exec), never in the reload's dry run.
  auto hooks = [&](const char* phase) { return check_only || run_hooks(cfg, phase, &err); };
  if (!hooks("asap")) return fail(err);
  if (cfg.has("chdir") && chdir(cfg.get("chdir").c_str()) != 0)
    return fail("cannot chdir to " + cfg.get("chdir") + ": " + strerror(errno));
  if (cfg.has("emperor")) {
    // The Emperor serves nothing itself: its vassals do (process/emperor.h).
    for (const char* opt : {"socket", "http-socket", "http", "https"})
      if (cfg.has(opt))
        return fail(std::string("--emperor with --") + opt +
                    ": the Emperor serves no app itself; put the socket in a vassal's file");
    EmperorSettings es;
    if (!read_emperor_settings(cfg, argv[0], &es, &err)) return fail(err);
    if (!check_only) procname_init(cfg, argc, argv);
    return check_only ? 0 : run_emperor(es);
  }
  // Locks and caches exist before any app loads or any process forks.
  if (!setup_shared_state(cfg, check_only, &err)) return fail(err);
  if (!configure_cron(cfg, &err)) return fail(err);
  if (!configure_mules(cfg, check_only, &err)) return fail(err);
  if (!configure_spoolers(cfg, check_only, &err)) return fail(err);

  ProcessSetup setup;
  setup.host = &host;
  setup.loader = &loader;
  if (!choose_engines(host, &setup.engines, &err)) return fail(err);
  setup.master = cfg.get_bool("master");
  {
    std::vector<DaemonSpec> daemons;
    if (!read_daemon_specs(cfg, &daemons, &err)) return fail(err);
    // Daemons and the master fifo are the master's: asking for them asks for a master.
    if (!setup.master && is_vassal()) {
      log_line("a vassal runs a master (its Emperor talks to it): enabling --master");
      setup.master = true;
    }
    if (!setup.master && (!daemons.empty() || cfg.has("master-fifo"))) {
      log_line("%s need a master process: enabling --master",
               daemons.empty() ? "--master-fifo" : "attached daemons");
      setup.master = true;
    }
  }
  // Values the process model casts to int (seconds, counts): bounded here, named in the message.
  long long processes, mercy, harakiri;
  if (!get_bounded(cfg, "processes", 1, 1, 4096, &processes, &err) ||
      !get_bounded(cfg, "reload-mercy", 60, 0, 86400, &mercy, &err) ||
      !get_bounded(cfg, "harakiri", 0, 0, 86400 * 365, &harakiri, &err))
    return fail(err);
  if (!check_recycle_options(cfg, &err)) return fail(err);
  if (!check_cheaper_options(cfg, (int)processes, &err)) return fail(err);
  if (!check_worker_tuning(cfg, &err) || !check_touch_options(cfg, &err) ||
      !check_fs_watch_options(cfg, &err))
    return fail(err);
  if (!check_only && !apply_process_limits(cfg, &err)) return fail(err);
  setup.processes = (int)processes;
  setup.lazy_apps = cfg.get_bool("lazy-apps") || cfg.get_bool("lazy");
  setup.die_on_term = cfg.get_bool("die-on-term");
  setup.reload_mercy_s = (int)mercy;
  for (int i = 0; i < argc; i++) setup.argv.push_back(argv[i]);
  if (!check_only) procname_init(cfg, argc, argv);  // argv was copied: its area may hold a title now

  ServeSettings& ss = setup.settings;
  // Range checks before the casts: a negative value would wrap to a huge size_t / int.
  long long buffer_size = cfg.get_int("buffer-size", 4096);
  if (buffer_size < 512 || buffer_size > (64 << 20))
    return fail("--buffer-size must be between 512 and 67108864 bytes");
  ss.buffer_size = (size_t)buffer_size;
  long long socket_timeout = cfg.get_int("socket-timeout", 30);
  if (socket_timeout < 1 || socket_timeout > 86400) return fail("--socket-timeout must be between 1 and 86400 seconds");
  ss.socket_timeout_ms = (int)socket_timeout * 1000;
  if (!read_request_log_config(cfg, &ss.log, &err)) return fail(err);
  ss.log_requests = ss.log.any();
  ss.limit_post = cfg.get_int("limit-post", 0);
  if (!read_websocket_settings(cfg, &ss.websocket, &err)) return fail(err);
  if (!read_request_settings(cfg, &ss, &err)) return fail(err);
  if (!read_static_config(cfg, &err)) return fail(err);
  if (!read_error_pages(cfg, &err)) return fail(err);
  if (!read_routing_config(cfg, &ss.routing, &err)) return fail(err);

  // The plugins configure themselves (python starts its interpreter and says its version) once
  // the core's values are known to be good: a bad value stops start-up before any banner.
  for (auto& p : loader.plugins()) {
    host.set_registering_group(p.name);
    if (!p.plugin->on_config(host, &err)) return fail(p.name + ": " + err);
  }
  host.set_registering_group("core");

  // Sockets: taken over from a reloading master, or bound now.
  std::vector<Listener> listeners;
  SocketSettings sock;
  if (!read_socket_settings(cfg, &sock, &err)) return fail(err);
  for (const char* opt : {"socket", "http-socket", "stats", "http"})
    for (auto& spec : cfg.all(opt))
      if (!check_socket_address(spec, &err)) return fail(std::string("--") + opt + " " + spec + ": " + err);
  const bool router = cfg.has("http") || cfg.has("https");
  std::vector<HttpsSpec> https;
  if (!read_https_specs(cfg, &https, &err)) return fail(err);
  for (auto& h : https)
    if (!check_socket_address(h.addr, &err)) return fail("--https " + h.addr + ": " + err);
  if (cfg.all("socket").empty() && cfg.all("http-socket").empty() && !router)
    return fail("no socket to listen on: add --http ADDR, --http-socket ADDR or --socket ADDR");
  if (router) {
    RouterSettings probe;  // the values are checked before anything is bound
    if (!read_router_settings(cfg, {}, &probe, &err)) return fail(err);
    for (auto& h : https) {  // certificates and keys load
      ssl_ctx_st* ctx = make_tls_context(h, &err);
      if (!ctx) return fail("--https " + h.addr + ": " + err);
      SSL_CTX_free(ctx);
    }
  }
  if (check_only) {
    // The app is part of what must start: a reload onto an app that no longer imports would
    // stop the workers and then fail (need-app), an outage; the running workers serve on instead.
    if (!load_apps(host, loader)) return kExitFailedApp;
    log_drop_held();
    log_line("reload check: the configuration is valid");
    return 0;
  }
  auto bind_all = [&](const char* opt, Protocol proto) -> bool {
    for (auto& spec : cfg.all(opt)) {
      Listener l;
      if (!take_inherited(spec, proto, &l) && !bind_listener(spec, proto, sock.listen, &l, &err)) return false;
      log_line("%s bound on %s fd %d", proto == Protocol::kHttp ? "HTTP socket" : "uwsgi socket", spec.c_str(), l.fd);
      listeners.push_back(l);
    }
    return true;
  };
  if (!bind_all("socket", sock.socket_protocol) || !bind_all("http-socket", Protocol::kHttp)) return fail(err);
  // --http: the router's public sockets, and the workers' own uwsgi socket when none was given
  // (on loopback, a free port; kept across reloads like the others).
  std::vector<Listener> router_listeners;
  RouterSettings router_settings;
  std::string internal_socket;
  std::vector<Listener> router_listeners_extra;  // the stats socket: kept across a reload, not served as HTTP
  if (router) {
    for (auto& spec : cfg.all("http")) {
      Listener l;
      if (!take_inherited(spec, Protocol::kHttp, &l) && !bind_listener(spec, Protocol::kHttp, sock.listen, &l, &err))
        return fail("--http " + spec + ": " + err);
      log_line("HTTP router socket bound on %s fd %d", spec.c_str(), l.fd);
      router_listeners.push_back(l);
      router_settings.tls.push_back(nullptr);
    }
    for (auto& h : https) {
      ssl_ctx_st* ctx = make_tls_context(h, &err);
      if (!ctx) return fail("--https " + h.addr + ": " + err);
      Listener l;
      if (!take_inherited(h.addr, Protocol::kHttp, &l) && !bind_listener(h.addr, Protocol::kHttp, sock.listen, &l, &err))
        return fail("--https " + h.addr + ": " + err);
      log_line("HTTPS router socket bound on %s fd %d", h.addr.c_str(), l.fd);
      router_listeners.push_back(l);
      router_settings.tls.push_back(ctx);
      if (router_settings.https_port.empty()) router_settings.https_port = l.port;
    }
    bool has_uwsgi = false;
    for (auto& l : listeners) has_uwsgi |= l.proto == Protocol::kUwsgi;
    if (!has_uwsgi && cfg.all("http-to").empty()) {
      // A unix socket (cheaper per request than loopback TCP) named after the master's pid,
      // which a reload's re-exec keeps, so the reloaded master takes the same one over.
      Listener l;
      const char* tmp = getenv("TMPDIR");
      internal_socket = std::string(tmp && *tmp ? tmp : "/tmp") + "/uwsgi-http-" + std::to_string(getpid()) + ".sock";
      ListenOptions private_listen = sock.listen;
      private_listen.chmod = 0600;
      if (!take_inherited(internal_socket, Protocol::kUwsgi, &l) &&
          !bind_listener(internal_socket, Protocol::kUwsgi, private_listen, &l, &err))
        return fail("the router's worker socket: " + err);
      log_line("uwsgi socket for the HTTP router bound on %s fd %d", internal_socket.c_str(), l.fd);
      listeners.push_back(l);
    }
    if (!read_router_settings(cfg, listeners, &router_settings, &err)) return fail(err);
    if (cfg.has("http-stats")) {
      Listener st;
      std::string spec = cfg.get("http-stats");
      if (!take_inherited(spec, Protocol::kUwsgi, &st) && !bind_listener(spec, Protocol::kUwsgi, sock.listen, &st, &err))
        return fail("--http-stats " + spec + ": " + err);
      log_line("HTTP router stats on %s fd %d", spec.c_str(), st.fd);
      router_settings.stats_fd = st.fd;
      router_listeners_extra.push_back(st);
    }
    setup.router = &router_settings;
    setup.router_listeners = &router_listeners;
    setup.router_kept = router_listeners_extra;
  }
  unsetenv("UWSGI_INHERITED_SOCKETS");
  setup.listeners = &listeners;
  // No jails here: their phases run in uWSGI's order where a jail would be set up.
  for (const char* phase : {"pre-jail", "post-jail", "in-jail", "as-root"})
    if (!hooks(phase)) return fail(err);
  if (!write_pidfiles(cfg, true, reload_reexec, &err)) return fail(err);
  if (!drop_privileges_if_asked(cfg, setup.master, &err)) return fail(err);
  if (cfg.has("logto2") && !log_to_file(cfg.get("logto2").c_str()))
    return fail("cannot open --logto2 " + cfg.get("logto2") + ": " + strerror(errno));
  if (!hooks("as-user")) return fail(err);
  if (!write_pidfiles(cfg, false, reload_reexec, &err)) return fail(err);

  if (!setup.lazy_apps) {
    if (!hooks("pre-app")) return fail(err);
    if (!load_apps(host, loader)) return kExitFailedApp;
    if (!hooks("post-app")) return fail(err);
  }

  std::vector<std::string> vacuum;
  if (cfg.get_bool("vacuum")) {
    for (auto& l : listeners)
      if (!l.unix_path.empty()) vacuum.push_back(l.unix_path);
    for (auto& p : pidfile_paths(cfg)) vacuum.push_back(p);
  }
  worker_set_exit_unlinks(vacuum);  // the master-less worker's exit after its mercy
  int rc = run_processes(setup);
  hooks("as-user-atexit");  // not fatal: logged
  if (!internal_socket.empty()) unlink(internal_socket.c_str());

  for (auto& p : vacuum) unlink(p.c_str());  // unix sockets and every pidfile (uWSGI's --vacuum)
  return rc;
}
