// Loading the WSGI callable: --wsgi-file (a file run as module uwsgi_file_<mangled path>) or
// --module mod[:callable]. A --module value that names an existing file (or has a '/') is loaded
// as a file; anything else is a dotted module path, so Django's `mysite.wsgi:application` is
// imported rather than opened as a file named "mysite.wsgi".
#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "py_opts.h"

namespace uwsgi::py {
namespace {

bool names_a_file(const std::string& v) {
  struct stat st;
  return v.find('/') != std::string::npos || (stat(v.c_str(), &st) == 0 && S_ISREG(st.st_mode));
}

std::string mangle(const std::string& path) {
  std::string out = "uwsgi_file_";
  for (char c : path) out += isalnum((unsigned char)c) ? c : '_';
  return out;
}

// New reference to the module, or nullptr with a Python exception / *err set.
PyObject* import_file(const std::string& path, std::string* err) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    *err = "unable to open " + path + ": " + strerror(errno);
    return nullptr;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  std::string src = ss.str();
  PyObject* code = Py_CompileString(src.c_str(), path.c_str(), Py_file_input);
  if (!code) return nullptr;
  PyObject* name = PyUnicode_FromString(mangle(path).c_str());
  PyObject* pathname = PyUnicode_DecodeFSDefault(path.c_str());
  PyObject* mod = nullptr;
  if (name && pathname) mod = PyImport_ExecCodeModuleObject(name, code, pathname, nullptr);
  Py_XDECREF(name);
  Py_XDECREF(pathname);
  Py_DECREF(code);
  return mod;
}

// mod.attr.attr: callable names may be dotted ("app:server.wsgi").
PyObject* get_callable(PyObject* mod, const std::string& name) {
  Py_INCREF(mod);
  PyObject* cur = mod;
  size_t start = 0;
  while (cur && start <= name.size()) {
    size_t dot = name.find('.', start);
    std::string part = name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    PyObject* next = PyObject_GetAttrString(cur, part.c_str());
    Py_DECREF(cur);
    cur = next;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return cur;
}

}  // namespace

PyObject* import_module_or_file(const std::string& name, std::string* err) {
  return names_a_file(name) ? import_file(name, err) : PyImport_ImportModule(name.c_str());
}

bool load_app(std::string* err) {
  std::string file = g.wsgi_file, module = g.module, callable = g.callable;
  if (file.empty() && module.empty()) {
    *err = "no app configured (use --wsgi-file or --module)";
    return false;
  }
  if (!module.empty()) {
    size_t colon = module.find(':');
    if (colon != std::string::npos) {
      callable = module.substr(colon + 1);
      module.resize(colon);
    }
    if (names_a_file(module)) {
      file = module;
      module.clear();
    }
  }
  std::string what = module.empty() ? file : module;
  PyObject* mod = module.empty() ? import_file(file, err) : PyImport_ImportModule(module.c_str());
  if (!mod) {
    if (err->empty())
      *err = (module.empty() ? "cannot load the app file " : "cannot import the app module ") + what + ": " +
             exception_summary();
    if (PyErr_Occurred()) log_exception(("python: failed to import " + what).c_str());
    return false;
  }
  PyObject* app = get_callable(mod, callable);
  Py_DECREF(mod);
  if (!app || !PyCallable_Check(app)) {
    PyErr_Clear();
    Py_XDECREF(app);
    *err = "unable to find callable \"" + callable + "\" in " + what;
    return false;
  }
  Py_XSETREF(g.app, app);
  log_line("WSGI app 0 (mountpoint='') ready: %s:%s", what.c_str(), callable.c_str());
  return true;
}

// For --mount (mounts.cc).
PyObject* import_app_file(const std::string& path, std::string* err) { return import_file(path, err); }
PyObject* app_callable(PyObject* mod, const std::string& name) { return get_callable(mod, name); }

}  // namespace uwsgi::py
