// Starting the embedded interpreter: PyConfig (home / virtualenv), the `uwsgi` built-in module,
// and sys.path (pythonpath entries, then the current directory).
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include "py_opts.h"

#ifndef UWSGI_PYTHON_EXECUTABLE
#define UWSGI_PYTHON_EXECUTABLE "/usr/bin/python3"
#endif

namespace uwsgi::py {
namespace {

bool exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

bool check(PyStatus st, const char* what, std::string* err) {
  if (!PyStatus_Exception(st)) return true;
  *err = std::string(what) + ": " + (st.err_msg ? st.err_msg : "failed");
  return false;
}

// A venv (pyvenv.cfg) is found by CPython's getpath next to the executable, which keeps the
// base installation's stdlib and adds the venv's site-packages; a plain prefix is a home.
bool set_home(PyConfig* c, const std::string& home, std::string* err) {
  if (exists(home + "/pyvenv.cfg")) {
    for (const char* exe : {"/bin/python3", "/bin/python"}) {
      if (exists(home + exe))
        return check(PyConfig_SetBytesString(c, &c->program_name, (home + exe).c_str()),
                     "setting program name from venv", err);
    }
  }
  if (!exists(home)) {
    *err = "home/virtualenv directory " + home + " does not exist";
    return false;
  }
  return check(PyConfig_SetBytesString(c, &c->home, home.c_str()), "setting home", err);
}

PyObject* init_uwsgi() { return PyInit_uwsgi_module(); }

bool prepend_paths() {
  PyObject* path = PySys_GetObject("path");  // borrowed
  if (!path || !PyList_Check(path)) return false;
  std::vector<std::string> entries;
  for (auto& p : g.pythonpath) {
    glob_t gl;
    if (p.find_first_of("*?[") != std::string::npos && glob(p.c_str(), 0, nullptr, &gl) == 0) {
      for (size_t i = 0; i < gl.gl_pathc; i++) entries.push_back(gl.gl_pathv[i]);
      globfree(&gl);
    } else {
      entries.push_back(p);
    }
  }
  // "." (not the cwd's absolute path) so a later --chdir is followed, as uWSGI does.
  entries.push_back(".");
  Py_ssize_t at = 0;
  for (auto& e : entries) {
    PyObject* s = PyUnicode_DecodeFSDefault(e.c_str());
    if (!s || PyList_Insert(path, at++, s) < 0) {
      Py_XDECREF(s);
      return false;
    }
    Py_DECREF(s);
  }
  return true;
}

}  // namespace

bool init_interpreter(std::string* err) {
  if (Py_IsInitialized()) {
    *err = "the interpreter was already initialized by someone else";
    return false;
  }
  if (PyImport_AppendInittab("uwsgi", init_uwsgi) < 0 ||
      PyImport_AppendInittab("uwsgidecorators", init_decorators_module) < 0) {
    *err = "cannot register the uwsgi module";
    return false;
  }
  PyConfig c;
  PyConfig_InitPythonConfig(&c);
  c.install_signal_handlers = 0;  // signals belong to the core
  c.parse_argv = 0;
  c.buffered_stdio = 0;           // print() in apps reaches the log at once
  // sys.argv: "uwsgi" and the --pyargv words, as uWSGI gives them.
  std::vector<std::string> words = pyargv_words();
  words.insert(words.begin(), "uwsgi");
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  bool ok = check(PyConfig_SetBytesArgv(&c, (Py_ssize_t)argv.size(), argv.data()), "argv", err);
  if (ok) {
    if (!g.home.empty())
      ok = set_home(&c, g.home, err);
    else
      ok = check(PyConfig_SetBytesString(&c, &c.program_name, UWSGI_PYTHON_EXECUTABLE),
                 "program name", err);
  }
  // interp_options.cc: -O, --no-site, --py-program-name (after --home: it wins), --py-executable.
  if (interp_opts.optimize >= 0) c.optimization_level = interp_opts.optimize;
  if (interp_opts.no_site) c.site_import = 0;
  if (ok && !interp_opts.program_name.empty())
    ok = check(PyConfig_SetBytesString(&c, &c.program_name, interp_opts.program_name.c_str()),
               "--py-program-name", err);
  if (ok && !interp_opts.executable.empty())
    ok = check(PyConfig_SetBytesString(&c, &c.executable, interp_opts.executable.c_str()), "--py-executable",
               err);
  if (ok) ok = check(Py_InitializeFromConfig(&c), "initialization failed", err);
  PyConfig_Clear(&c);
  if (!ok) return false;
  g.initialized = true;
  install_frame_chunk_cache();
  g.main_ts = PyThreadState_Get();
  g.main_thread = PyThread_get_thread_ident();
  if (!init_keys() || !wsgi_init_types() || !prepend_paths()) {
    log_exception("python: setting up the interpreter failed");
    *err = "setting up the interpreter failed";
    return false;
  }
  // Imported now so its exception types and fdevent functions exist before any request.
  if (PyObject* m = PyImport_ImportModule("uwsgi")) {
    Py_DECREF(m);
  } else {
    log_exception("python: cannot create the uwsgi module");
    *err = "cannot create the uwsgi module";
    return false;
  }
  log_line("Python version: %s", Py_GetVersion());
  return true;
}

}  // namespace uwsgi::py
