// Python options around the app's life, each next to the code it drives: --import/--pyimport
// (modules imported before the app), --pyargv (sys.argv), --single-interpreter (accepted: there
// is only ever one interpreter per process), --catch-exceptions (the traceback in the 500 body),
// and uwsgi.atexit (a callable the app sets, called as the worker exits).
#include <sstream>

#include "py_plugin.h"

namespace uwsgi::py {
namespace {

std::vector<std::string> g_imports;
std::vector<std::string> g_spooler_imports;
std::string g_pyargv;
bool g_catch_exceptions = false;

}  // namespace

void add_app_options(Host& host) {
  auto flag = [&](const char* name, const char* help, std::function<bool(std::string_view, std::string*)> fn) {
    OptionDef d;
    d.name = name;
    d.arg = OptArg::None;
    d.help = help;
    d.on_set = std::move(fn);
    host.add_option(std::move(d));
  };
  auto add_import = [](std::string_view v, std::string*) {
    g_imports.emplace_back(v);
    return true;
  };
  for (const char* n : {"import", "pyimport", "py-import", "python-import"}) {
    OptionDef d;
    d.name = n;
    d.help = "import a Python module (or load a .py file) before the app; may be repeated";
    d.on_set = add_import;
    host.add_option(std::move(d));
  }
  for (const char* n : {"spooler-import", "spooler-pyimport", "spooler-py-import", "spooler-python-import"}) {
    OptionDef d;
    d.name = n;
    d.help = "import a Python module (or load a .py file) in each spooler process, after the app; may be repeated";
    d.on_set = [](std::string_view v, std::string*) {
      g_spooler_imports.emplace_back(v);
      return true;
    };
    host.add_option(std::move(d));
  }
  OptionDef argv;
  argv.name = "pyargv";
  argv.help = "sys.argv after \"uwsgi\": the value split at spaces";
  argv.on_set = [](std::string_view v, std::string*) {
    g_pyargv = std::string(v);
    return true;
  };
  host.add_option(std::move(argv));
  {
    OptionDef d;
    d.name = "single-interpreter";
    d.short_name = 'i';
    d.arg = OptArg::None;
    d.help = "accepted: each process always runs one interpreter";
    host.add_option(std::move(d));
  }
  flag("catch-exceptions", "send the traceback of an app's exception in the 500 body (for development only)",
       [](std::string_view v, std::string*) {
         g_catch_exceptions = v != "false" && v != "0" && v != "no" && v != "off";
         return true;
       });
}

std::vector<std::string> pyargv_words() {
  std::vector<std::string> words;
  std::istringstream in(g_pyargv);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

bool catch_exceptions() { return g_catch_exceptions; }

bool run_imports(std::string* err) { return import_all(g_imports, "--import", err); }
bool run_spooler_imports(std::string* err) { return import_all(g_spooler_imports, "--spooler-import", err); }

bool import_all(const std::vector<std::string>& names, const char* opt, std::string* err) {
  for (auto& name : names) {
    PyObject* m = import_module_or_file(name, err);
    if (!m) {
      if (err->empty()) *err = std::string(opt) + " " + name + ": " + exception_summary();
      else *err = std::string(opt) + " " + name + ": " + *err;
      if (PyErr_Occurred()) log_exception(("python: failed to import " + name).c_str());
      return false;
    }
    Py_DECREF(m);
    log_line("python: imported %s", name.c_str());
  }
  return true;
}

void call_uwsgi_atexit() {
  PyObject* m = PyImport_ImportModule("uwsgi");
  PyObject* fn = m ? PyObject_GetAttrString(m, "atexit") : nullptr;
  Py_XDECREF(m);
  if (!fn) {
    PyErr_Clear();
    return;
  }
  if (PyCallable_Check(fn)) {
    PyObject* r = PyObject_CallNoArgs(fn);
    if (!r) log_exception("python: uwsgi.atexit failed");
    Py_XDECREF(r);
  }
  Py_DECREF(fn);
}

}  // namespace uwsgi::py
