// The gevent plugin: options (--gevent N, monkey patching, loop choice) and the "gevent" loop
// engine registration.
//
// Monkey patching happens right after the python plugin has initialized the interpreter and
// before any app code runs: in our on_config when python's on_config already ran (python comes
// first in plugin order: built in, or named first in --plugins), otherwise in our on_load_apps,
// which then runs before python's (the core calls plugins in load order).
#include <cstdlib>
#include <cstring>

#include "gevent_plugin.h"

namespace uwsgi_gevent {
namespace {

// --gevent-loop NAME -> gevent.config.loop value (a comma-separated preference list).
const char* loop_setting(std::string_view name) {
  if (name == "libev") return "libev-cext,libev-cffi";
  if (name == "libuv") return "libuv-cffi";
  if (name == "libev-cext" || name == "libev-cffi" || name == "libuv-cffi") return name.data();
  return nullptr;
}

constexpr long long kMaxCores = 1000000;

class GeventPlugin final : public uwsgi::Plugin {
 public:
  void on_register(uwsgi::Host& host) override {
    uwsgi::OptionDef n;
    n.name = "gevent";
    n.help = "run the worker on gevent's hub, serving up to N requests at once (loop-engine=gevent)";
    n.numeric = true;
    n.implies = {{"loop-engine", "gevent"}};
    // Checked as the option is read (before any banner); the loop keeps a core id per connection.
    n.on_set = [](std::string_view v, std::string* err) {
      long long cores = std::atoll(std::string(v).c_str());  // numeric: a whole number by now
      if (cores >= 1 && cores <= kMaxCores) return true;
      *err = "wants the number of requests to serve at once, between 1 and " + std::to_string(kMaxCores) +
             ", not " + std::string(v);
      return false;
    };
    host.add_option(std::move(n));

    flag(host, "gevent-monkey-patch", "call gevent.monkey.patch_all() before the app is loaded");
    flag(host, "gevent-early-monkey-patch", "call gevent.monkey.patch_all() right after Python starts");
    flag(host, "gevent-wait-for-hub", "at shutdown, also wait for greenlets spawned by requests");

    uwsgi::OptionDef l;
    l.name = "gevent-loop";
    l.help = "gevent's event loop: libev (default) or libuv (GEVENT_LOOP / gevent.config.loop)";
    l.on_set = [](std::string_view v, std::string* err) {
      if (loop_setting(v)) return true;
      *err = "--gevent-loop wants libev or libuv, not \"" + std::string(v) + "\"";
      return false;
    };
    host.add_option(std::move(l));

    host.add_loop_engine("gevent", [](uwsgi::Host& h) {
      Settings s;
      s.cores = (int)h.config().get_int("gevent", 100);
      if (s.cores < 1) s.cores = 1;
      s.wait_for_hub = h.config().get_bool("gevent-wait-for-hub");
      return make_loop(h, s);
    });
  }

  bool on_config(uwsgi::Host& host, std::string* err) override {
    const uwsgi::Config& c = host.config();
    // Set before gevent is first imported anywhere (the hub reads it when it makes its loop).
    if (c.has("gevent-loop")) setenv("GEVENT_LOOP", loop_setting(c.get("gevent-loop")), 1);
    if (!Py_IsInitialized()) {
      deferred_ = true;  // the python plugin comes after us: see on_load_apps
      return true;
    }
    return prepare(host, err);
  }

  bool on_load_apps(uwsgi::Host& host, std::string* err) override {
    if (!deferred_) return true;
    deferred_ = false;
    if (!Py_IsInitialized()) {
      if (wants_python(host.config())) {
        *err = "gevent needs the python plugin (--plugins python,gevent)";
        return false;
      }
      return true;
    }
    return prepare(host, err);
  }

 private:
  static void flag(uwsgi::Host& host, const char* name, const char* help) {
    uwsgi::OptionDef d;
    d.name = name;
    d.arg = uwsgi::OptArg::None;
    d.help = help;
    host.add_option(std::move(d));
  }

  static bool wants_python(const uwsgi::Config& c) {
    return c.has("gevent") || c.get("loop-engine") == "gevent" || c.get_bool("gevent-monkey-patch") ||
           c.get_bool("gevent-early-monkey-patch");
  }

  // Loop choice and monkey patching, with the interpreter up and the GIL held.
  static bool prepare(uwsgi::Host& host, std::string* err) {
    const uwsgi::Config& c = host.config();
    if (c.has("gevent-loop")) {
      // Validating now turns an unusable loop (libuv needs gevent's cffi build) into a
      // start-up error instead of a failing worker.
      PyObject* gevent = PyImport_ImportModule("gevent");
      PyObject* cfg = gevent ? PyObject_GetAttrString(gevent, "config") : nullptr;
      PyObject* val = PyUnicode_FromString(loop_setting(c.get("gevent-loop")));
      bool ok = cfg && val && PyObject_SetAttrString(cfg, "loop", val) == 0;
      Py_XDECREF(val);
      Py_XDECREF(cfg);
      Py_XDECREF(gevent);
      if (!ok) {
        *err = "--gevent-loop " + c.get("gevent-loop") + " cannot be used: " + take_error_text();
        return false;
      }
    }
    if (c.get_bool("gevent-early-monkey-patch") || c.get_bool("gevent-monkey-patch")) {
      PyObject* m = PyImport_ImportModule("gevent.monkey");
      PyObject* r = m ? PyObject_CallMethod(m, "patch_all", nullptr) : nullptr;
      Py_XDECREF(m);
      if (!r) {
        *err = "gevent.monkey.patch_all() failed: " + take_error_text(true);
        return false;
      }
      Py_DECREF(r);
      host.log("gevent: monkey patching done (gevent.monkey.patch_all())\n");
    }
    if (c.has("gevent") || c.get("loop-engine") == "gevent") {
      // What every worker's loop needs, imported (and the loop's module compiled) once here in
      // the master: each worker (and each one respawned by --max-requests) then starts without
      // ~100 ms of imports. Reading
      // gevent.config.loop and .format_context imports what making a hub imports (the event
      // loop's module; pprint, with dataclasses, inspect and ast) without making one.
      PyObject* cfg = nullptr;
      bool ok = true;
      for (const char* m : {"gevent", "gevent.hub", "gevent.event", "gevent.timeout"}) {
        PyObject* mod = PyImport_ImportModule(m);
        ok = ok && mod;
        if (mod && !cfg && strcmp(m, "gevent") == 0) cfg = PyObject_GetAttrString(mod, "config");
        Py_XDECREF(mod);
      }
      PyObject* loop = cfg ? PyObject_GetAttrString(cfg, "loop") : nullptr;
      PyObject* fmt = loop ? PyObject_GetAttrString(cfg, "format_context") : nullptr;
      PyObject* mod = fmt ? loop_module() : nullptr;
      ok = ok && mod;
      Py_XDECREF(mod);
      Py_XDECREF(fmt);
      Py_XDECREF(loop);
      Py_XDECREF(cfg);
      if (!ok) {
        *err = "cannot import gevent: " + take_error_text();
        return false;
      }
    }
    return true;
  }

  bool deferred_ = false;
};

}  // namespace
}  // namespace uwsgi_gevent

UWSGI_PLUGIN(gevent, uwsgi_gevent::GeventPlugin)
