// --pyrun SCRIPT: run a Python script in the server's interpreter (`import uwsgi` works, --pythonpath,
// --home and friends apply) as __main__, then exit with its status instead of serving: uWSGI's way
// to run maintenance scripts in the app's environment. sys.argv is [SCRIPT] + the --pyargv words.
#include <cstdlib>

#include "py_opts.h"

namespace uwsgi::py {
namespace {

std::string g_script;

// SystemExit's status as python(1) maps it: None 0, an int itself, anything else printed and 1.
int exit_status(PyObject* value) {
  PyObject* code = value ? PyObject_GetAttrString(value, "code") : nullptr;
  if (!code) PyErr_Clear();
  int rc = 0;
  if (code && code != Py_None) {
    if (PyLong_Check(code)) {
      rc = (int)PyLong_AsLong(code);
    } else {
      PyObject* s = PyObject_Str(code);
      const char* t = s ? PyUnicode_AsUTF8(s) : nullptr;
      if (t) log_line("%s", t);
      PyErr_Clear();
      Py_XDECREF(s);
      rc = 1;
    }
  }
  Py_XDECREF(code);
  return rc;
}

int run_script() {
  std::vector<std::string> words = pyargv_words();
  PyObject* argv = PyList_New(0);
  words.insert(words.begin(), g_script);
  for (auto& w : words) {
    PyObject* s = PyUnicode_DecodeFSDefault(w.c_str());
    if (!s || !argv || PyList_Append(argv, s) < 0) PyErr_Clear();
    Py_XDECREF(s);
  }
  if (!argv || PySys_SetObject("argv", argv) < 0) PyErr_Clear();
  Py_XDECREF(argv);
  // runpy.run_path(SCRIPT, run_name="__main__")
  PyObject* runpy = PyImport_ImportModule("runpy");
  PyObject* fn = runpy ? PyObject_GetAttrString(runpy, "run_path") : nullptr;
  PyObject* args = fn ? Py_BuildValue("(s)", g_script.c_str()) : nullptr;
  PyObject* kw = args ? Py_BuildValue("{s:s}", "run_name", "__main__") : nullptr;
  PyObject* r = kw ? PyObject_Call(fn, args, kw) : nullptr;
  Py_XDECREF(kw);
  Py_XDECREF(args);
  Py_XDECREF(fn);
  Py_XDECREF(runpy);
  int rc = 0;
  if (!r) {
    if (PyErr_ExceptionMatches(PyExc_SystemExit)) {
      PyObject *type, *value, *tb;
      PyErr_Fetch(&type, &value, &tb);
      PyErr_NormalizeException(&type, &value, &tb);
      rc = exit_status(value);
      Py_XDECREF(type);
      Py_XDECREF(value);
      Py_XDECREF(tb);
    } else {
      log_exception(("python: --pyrun " + g_script + " failed").c_str());
      rc = 1;  // uWSGI 2.0.21 exits 0 here
    }
  }
  Py_XDECREF(r);
  return rc;
}

}  // namespace

void register_pyrun_option(Host& host) {
  add_py_option(host, "pyrun", OptArg::Required,
                "run this Python script as __main__ in the server's interpreter, then exit with its status "
                "(sys.argv: the script and the --pyargv words); nothing is served",
                [](std::string_view v, std::string*) {
                  g_script = std::string(v);
                  return true;
                });
}

void pyrun_if_asked() {
  if (g_script.empty()) return;
  int rc = run_script();
  for (const char* s : {"stdout", "stderr"}) {
    PyObject* f = PySys_GetObject(s);
    PyObject* r = f && f != Py_None ? PyObject_CallMethod(f, "flush", nullptr) : nullptr;
    if (!r) PyErr_Clear();
    Py_XDECREF(r);
  }
  if (Py_FinalizeEx() < 0 && rc == 0) rc = 120;  // as python(1) when flushing at exit fails
  exit(rc);
}

}  // namespace uwsgi::py
