// --mount MOUNTPOINT=APP: several apps in one process, picked per request by SCRIPT_NAME (as
// nginx's `uwsgi_param SCRIPT_NAME` sends it), or with --manage-script-name by the longest
// mountpoint that prefixes PATH_INFO (then moved from PATH_INFO to SCRIPT_NAME). --wsgi-file /
// --module stays the app at "" and is the default one; without it the first mount is. A request
// that matches no mountpoint goes to the default app, or gets 404 with --no-default-app.
// Every app shares the process's one interpreter.
// --vhost / --vhost-host (uWSGI's virtual hosting): a mountpoint may name a host, "HOST|/path"
// or "HOST|" (uWSGI's key form) or plain "HOST"; a request is matched by SERVER_NAME
// (--vhost-host: HTTP_HOST) joined to its script name the same way.
#include <sys/stat.h>

#include <cstring>

#include "py_opts.h"

namespace uwsgi::py {
namespace {

struct Mount {
  std::string mountpoint;  // "" or "/a/b": no trailing slash
  std::string spec;        // file, or module[:callable]
  PyObject* app = nullptr; // nullptr when it failed to load
};
std::vector<Mount> mounts;
bool manage_script_name = false, no_default_app = false, vhost = false, vhost_host = false;

// "/app/" and "/app" are the same mountpoint; "/" is the root, "".
std::string normalize(std::string_view mp) {
  while (!mp.empty() && mp.back() == '/') mp.remove_suffix(1);
  return std::string(mp);
}

bool add_mount(std::string_view v, std::string* err) {
  size_t eq = v.find('=');
  if (eq == std::string_view::npos || eq + 1 == v.size()) {
    *err = "wants MOUNTPOINT=APP (e.g. /app=myapp:application), not \"" + std::string(v) + "\"";
    return false;
  }
  std::string_view mp = v.substr(0, eq);
  // Host mountpoints are checked in mounts_configure(), once --vhost is known.
  Mount m;
  m.mountpoint = normalize(mp);
  m.spec = std::string(v.substr(eq + 1));
  for (auto& o : mounts)
    if (o.mountpoint == m.mountpoint) {
      *err = "mountpoint \"" + std::string(mp) + "\" is mounted twice";
      return false;
    }
  mounts.push_back(std::move(m));
  return true;
}

bool is_file(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// APP: an existing file (or a name ending in .py) is run as a file, anything else is
// module[:callable]; the callable defaults to --callable.
PyObject* load_spec(const std::string& spec, std::string* err) {
  std::string target = spec, callable = g.callable.empty() ? "application" : g.callable;
  size_t colon = spec.rfind(':');
  if (colon != std::string::npos && colon > 0 && colon + 1 < spec.size() &&
      spec.find('/', colon) == std::string::npos && !is_file(spec)) {
    target = spec.substr(0, colon);
    callable = spec.substr(colon + 1);
  }
  bool file = is_file(target) || (target.size() > 3 && target.compare(target.size() - 3, 3, ".py") == 0);
  PyObject* mod = file ? import_app_file(target, err) : PyImport_ImportModule(target.c_str());
  if (!mod) {
    if (PyErr_Occurred()) log_exception(("python: failed to import " + target).c_str());
    if (err->empty()) *err = "failed to import " + target;
    return nullptr;
  }
  PyObject* app = app_callable(mod, callable);
  Py_DECREF(mod);
  if (!app || !PyCallable_Check(app)) {
    PyErr_Clear();
    Py_XDECREF(app);
    *err = "unable to find callable \"" + callable + "\" in " + target;
    return nullptr;
  }
  return app;
}

PyObject* latin1(std::string_view s) { return PyUnicode_DecodeLatin1(s.data(), s.size(), nullptr); }

bool set_str(PyObject* env, const char* key, std::string_view value) {
  PyObject* v = latin1(value);
  int r = v ? PyDict_SetItemString(env, key, v) : -1;
  Py_XDECREF(v);
  return r == 0;
}

}  // namespace

void register_mount_options(Host& host) {
  add_py_option(host, "mount", OptArg::Required, "load an app under a mountpoint (MOUNTPOINT=FILE or MOUNTPOINT=module[:callable])",
                add_mount);
  add_py_option(host, "manage-script-name", OptArg::None,
                "pick the app by the longest mountpoint prefixing PATH_INFO and move that prefix to SCRIPT_NAME");
  add_py_option(host, "no-default-app", OptArg::None, "404 for a request that matches no mountpoint, instead of the default app");
  add_py_option(host, "vhost", OptArg::None,
                "virtual hosting: mountpoints may name a host (HOST|/path, HOST| or HOST), matched against SERVER_NAME");
  add_py_option(host, "vhost-host", OptArg::None, "virtual hosting as --vhost, matched against HTTP_HOST instead of SERVER_NAME");
}

bool mounts_configure(const Config& c, std::string* err) {
  manage_script_name = c.get_bool("manage-script-name");
  no_default_app = c.get_bool("no-default-app");
  vhost_host = c.get_bool("vhost-host");
  vhost = c.get_bool("vhost") || vhost_host;
  for (auto& m : mounts)
    if (!m.mountpoint.empty() && m.mountpoint[0] != '/' && !vhost) {
      *err = "--mount: mountpoint \"" + m.mountpoint + "\" must start with / (a host name needs --vhost)";
      return false;
    }
  return true;
}

bool have_mounts() { return !mounts.empty(); }

bool load_mounts(std::string* err) {
  int id = g.wsgi_file.empty() && g.module.empty() ? 0 : 1;  // app 0 is --wsgi-file/--module's
  for (auto& m : mounts) {
    if (m.app) {  // loaded in the master already
      id++;
      continue;
    }
    std::string why;
    log_line("mounting %s on %s", m.spec.c_str(), m.mountpoint.empty() ? "/" : m.mountpoint.c_str());
    m.app = load_spec(m.spec, &why);
    if (!m.app) {
      if (g.need_app) {
        *err = "--mount " + m.mountpoint + "=" + m.spec + ": " + why;
        return false;
      }
      log_line("*** --mount %s=%s: %s: requests to it will get 500 ***", m.mountpoint.c_str(), m.spec.c_str(),
               why.c_str());
      id++;
      continue;
    }
    log_line("WSGI app %d (mountpoint='%s') ready: %s", id++, m.mountpoint.c_str(), m.spec.c_str());
  }
  return true;
}

// --vhost: "HOST|/path" split into its host and path parts; a plain "/path" has no host.
std::pair<std::string_view, std::string_view> split_vhost(const std::string& mp) {
  if (!vhost || mp.empty() || mp[0] == '/') return {"", mp};
  size_t bar = mp.find('|');
  if (bar == std::string::npos) return {mp, ""};
  std::string_view path = std::string_view(mp).substr(bar + 1);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  return {std::string_view(mp).substr(0, bar), path};
}

PyObject* select_app(Request& req, PyObject* env, const char** status) {
  *status = nullptr;
  const Mount* best = nullptr;
  std::string_view host = vhost ? req.find_var(vhost_host ? "HTTP_HOST" : "SERVER_NAME") : std::string_view();
  if (vhost) {
    // A host mount wins over a path-only one; within a host, the longest path (with
    // manage-script-name, prefixing PATH_INFO) or the one equal to SCRIPT_NAME.
    std::string_view path = req.find_var("PATH_INFO");
    std::string script = normalize(wsgi_opts.ignore_script_name ? std::string_view() : req.find_var("SCRIPT_NAME"));
    size_t best_len = 0;
    for (auto& m : mounts) {
      auto [mh, mpath] = split_vhost(m.mountpoint);
      if (mh.empty() || mh != host) continue;
      bool match = manage_script_name
                       ? path.substr(0, mpath.size()) == mpath && (path.size() == mpath.size() || path[mpath.size()] == '/')
                       : mpath == script;
      if (match && (!best || mpath.size() > best_len)) {
        best = &m;
        best_len = mpath.size();
      }
    }
    if (best) {
      if (manage_script_name && best_len) {
        auto mpath = split_vhost(best->mountpoint).second;
        if (!set_str(env, "SCRIPT_NAME", mpath) || !set_str(env, "PATH_INFO", path.substr(mpath.size())))
          return nullptr;
      }
      if (!best->app) *status = "500 Internal Server Error";
      return best->app;
    }
  }
  if (manage_script_name) {
    std::string_view path = req.find_var("PATH_INFO");
    for (auto& m : mounts) {
      const std::string& mp = m.mountpoint;
      if (!mp.empty() && mp[0] != '/') continue;  // a --vhost host mount
      // Whole path segments only: /app matches /app and /app/x, not /application.
      if (path.substr(0, mp.size()) == mp && (path.size() == mp.size() || path[mp.size()] == '/') &&
          (!best || mp.size() > best->mountpoint.size()))
        best = &m;
    }
    if (best && !best->mountpoint.empty()) {
      if (!set_str(env, "SCRIPT_NAME", best->mountpoint) ||
          !set_str(env, "PATH_INFO", path.substr(best->mountpoint.size())))
        return nullptr;
    }
    if (!best && g.app) return g.app;  // the app of --wsgi-file/--module is at "": it prefixes every path
  } else {
    // nginx may name the app with `uwsgi_param UWSGI_APPID /app;` instead (uWSGI's rule: it wins).
    std::string_view appid = req.find_var("UWSGI_APPID");
    std::string script = normalize(!appid.empty()                    ? appid
                                   : wsgi_opts.ignore_script_name ? std::string_view()
                                                                  : req.find_var("SCRIPT_NAME"));
    for (auto& m : mounts)
      if (m.mountpoint == script) best = &m;
    if (!best && g.app && script.empty()) return g.app;
  }
  if (!best) {
    if (no_default_app) {
      *status = "404 Not Found";
      return nullptr;
    }
    if (g.app) return g.app;
    best = &mounts.front();  // no --wsgi-file/--module: the first mount is the default app
  }
  if (!best->app) *status = "500 Internal Server Error";
  return best->app;
}

}  // namespace uwsgi::py
