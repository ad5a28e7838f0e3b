// The python plugin: options, interpreter life cycle across fork, and the WSGI app handler for
// modifier1 0.
#include "py_opts.h"

namespace uwsgi::py {

Globals g;

namespace {

using SetFn = std::function<bool(std::string_view, std::string*)>;

SetFn store(std::string* dst) {
  return [dst](std::string_view v, std::string*) {
    *dst = std::string(v);
    return true;
  };
}

class PythonPlugin : public Plugin {
 public:
  void on_register(Host& host) override {
    g.host = &host;
    auto opt = [&](const char* name, char short_name, OptArg arg, const char* help, SetFn fn) {
      OptionDef d;
      d.name = name;
      d.short_name = short_name;
      d.arg = arg;
      d.help = help;
      d.on_set = std::move(fn);
      host.add_option(std::move(d));
    };
    opt("wsgi-file", 0, OptArg::Required, "load a WSGI app from a file", store(&g.wsgi_file));
    opt("file", 0, OptArg::Required, "alias of --wsgi-file", store(&g.wsgi_file));
    opt("module", 'w', OptArg::Required, "load a WSGI app from a module (mod or mod:callable)", store(&g.module));
    opt("wsgi", 0, OptArg::Required, "alias of --module", store(&g.module));
    opt("callable", 0, OptArg::Required, "name of the WSGI callable (default: application)", store(&g.callable));
    auto add_path = [](std::string_view v, std::string*) {
      g.pythonpath.emplace_back(v);
      return true;
    };
    opt("pythonpath", 0, OptArg::Required, "add a directory (or glob) to sys.path", add_path);
    opt("python-path", 0, OptArg::Required, "alias of --pythonpath", add_path);
    opt("pp", 0, OptArg::Required, "alias of --pythonpath", add_path);
    for (const char* n : {"home", "virtualenv", "venv", "pyhome"})
      opt(n, n[0] == 'h' ? 'H' : 0, OptArg::Required, "python home / virtualenv directory", store(&g.home));
    opt("need-app", 0, OptArg::None,
        "stop start-up when the configured app cannot be loaded (default true; need-app = false serves 500s)",
        nullptr);
    {
      OptionDef no;
      no.name = "no-need-app";
      no.arg = OptArg::None;
      no.help = "keep serving when the app cannot be loaded (every request gets 500), as uWSGI 2.0 does";
      no.implies = {{"need-app", "false"}};
      host.add_option(std::move(no));
    }
    add_app_options(host);
    opt("enable-threads", 'T', OptArg::None, "accepted for compatibility: threads always work", nullptr);
    opt("py-call-osafterfork", 0, OptArg::None, "accepted: PyOS_AfterFork_Child always runs", nullptr);
    register_py_options(host);  // py_opts.cc: mounts, post-buffering, autoreload, write errors
    host.add_app_handler(0, wsgi_handler());
    host.add_switch_hooks(switch_hooks());
    // A mule: the worker's after-fork steps (its worker id is 0), then its script or messages.
    host.mules().set_runner([this, &host](int id, const std::string& arg) {
      if (!g.initialized) return 1;
      on_post_fork(host, 0);
      return run_mule(id, arg);
    });
    // A spooler process: the worker's after-fork steps too, then uwsgi.spooler() for each task.
    // With --lazy-apps the master never imported the app: the spooler imports it itself.
    set_spooler_runner(host, [this, &host] {
      on_post_fork(host, 0);
      const Config& c = host.config();
      std::string err;
      if ((c.get_bool("lazy-apps") || c.get_bool("lazy")) && !on_load_apps(host, &err))
        host.log("[spooler] cannot load the app: %s", err.c_str());
      if (!run_spooler_imports(&err)) host.log("[spooler] %s", err.c_str());
    });
  }

  bool on_config(Host& host, std::string* err) override {
    const Config& c = host.config();
    // A configured app that fails to load stops start-up unless need-app is false (uWSGI 2.1;
    // unbit/uwsgi#1172); with no app configured at all only an explicit --need-app does.
    g.need_app = !c.has("need-app") || c.get_bool("need-app");
    g.need_app_explicit = c.has("need-app") && c.get_bool("need-app");
    g.numproc = (int)c.get_int("processes", c.get_int("workers", 1));
    if (g.callable.empty()) g.callable = "application";
    if (!mounts_configure(c, err)) return false;
    write_opts_configure(c);
    if (!init_interpreter(err)) return false;
    pyrun_if_asked();  // --pyrun: runs its script and exits (before any socket or app is needed)
    return true;
  }

  bool on_load_apps(Host& host, std::string* err) override {
    if (!g.initialized) return true;
    // --import modules first; --mount apps (mounts.cc) come after app 0 (--wsgi-file/--module),
    // or are all the apps.
    std::string why;
    if (have_mounts() && g.wsgi_file.empty() && g.module.empty()) {
      if (!run_imports(&why)) {
        *err = why + ": stopping";
        return false;
      }
      return load_mounts(err);
    }
    bool imported = run_imports(&why);
    if (imported && load_app(&why)) return load_mounts(err);
    bool configured = !imported || !g.wsgi_file.empty() || !g.module.empty();
    if (configured ? g.need_app : g.need_app_explicit) {
      *err = why + ": no app loaded, stopping (need-app; --no-need-app serves 500s instead)";
      return false;
    }
    log_line("*** %s: no app loaded. requests will get 500 ***", why.c_str());
    return load_mounts(err);
  }

  void on_post_fork(Host& host, int worker_id) override {
    if (!g.initialized) return;
    // The master may have released the GIL (before_block) when it forked: the child has no
    // current thread state then, and PyOS_AfterFork_Child needs one.
    if (!_PyThreadState_UncheckedGet()) PyThreadState_Swap(g.main_ts);
    PyOS_AfterFork_Child();
    g.main_ts = PyThreadState_Get();
    g.main_thread = PyThread_get_thread_ident();
    threads_after_fork();
    g.cores.clear();
    if (host.num_workers() > 0) g.numproc = host.num_workers();
    if (PyObject* m = PyImport_ImportModule("uwsgi")) {
      PyObject* n = PyLong_FromLong(g.numproc);
      if (!n || PyObject_SetAttrString(m, "numproc", n) < 0) PyErr_Clear();
      Py_XDECREF(n);
      Py_DECREF(m);
    } else {
      PyErr_Clear();
    }
    run_post_fork_hook();  // @postfork functions (uwsgidecorators)
    autoreload_start(worker_id);
    tracebacker_start(worker_id);
  }

  // atexit handlers run as in a normal interpreter exit (without waiting for threads).
  static void run_atexit_handlers() {
    if (PyObject* m = PyImport_ImportModule("atexit")) {
      PyObject* r = PyObject_CallMethod(m, "_run_exitfuncs", nullptr);
      if (!r) log_exception("python: atexit handlers failed");
      Py_XDECREF(r);
      Py_DECREF(m);
    } else {
      PyErr_Clear();
    }
  }

  void on_worker_exit(Host& host) override {
    if (!g.initialized) return;
    if (!_PyThreadState_UncheckedGet()) return;  // not holding the GIL here: leave it be
    call_uwsgi_atexit();  // the app's uwsgi.atexit, first, as uWSGI does
    // --skip-atexit-teardown (uWSGI's: no interpreter teardown) leaves Python's atexit handlers out.
    if (!host.config().get_bool("skip-atexit-teardown")) run_atexit_handlers();
    for (const char* s : {"stdout", "stderr"}) {
      PyObject* f = PySys_GetObject(s);
      PyObject* r = f && f != Py_None ? PyObject_CallMethod(f, "flush", nullptr) : nullptr;
      if (!r) PyErr_Clear();
      Py_XDECREF(r);
    }
  }
};

}  // namespace
}  // namespace uwsgi::py

UWSGI_PLUGIN(python, uwsgi::py::PythonPlugin)
