// Logging through the core (so --logto and friends apply), and Python tracebacks.
#include <cstdarg>
#include <cstdio>

#include "py_plugin.h"

namespace uwsgi::py {

void log_line(const char* fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (g.host)
    g.host->log("%s\n", buf);
  else
    fprintf(stderr, "%s\n", buf);
}

// Formats with traceback.format_exception so the text goes through host.log in one piece; falls
// back to PyErr_Display (sys.stderr) if formatting itself fails.
void log_exception(const char* context) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  if (!type) return;
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb && value) PyException_SetTraceback(value, tb);
  PyObject* text = nullptr;
  if (PyObject* mod = PyImport_ImportModule("traceback")) {
    PyObject* lines = PyObject_CallMethod(mod, "format_exception", "OOO", type,
                                          value ? value : Py_None, tb ? tb : Py_None);
    Py_DECREF(mod);
    if (lines) {
      PyObject* empty = PyUnicode_FromString("");
      if (empty) text = PyUnicode_Join(empty, lines);
      Py_XDECREF(empty);
      Py_DECREF(lines);
    }
  }
  const char* s = text ? PyUnicode_AsUTF8(text) : nullptr;
  if (s) {
    std::string msg(s);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    if (g.host)
      g.host->log("%s%s%s\n", context ? context : "", context ? "\n" : "", msg.c_str());
    else
      fprintf(stderr, "%s\n%s\n", context ? context : "", msg.c_str());
  } else {
    PyErr_Clear();
    if (context) log_line("%s", context);
    PyErr_Display(type, value, tb);
  }
  Py_XDECREF(text);
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  PyErr_Clear();
}

}  // namespace uwsgi::py
