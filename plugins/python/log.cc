// Logging through the core (so --logto and friends apply), and Python tracebacks.
#include <cstdarg>
#include <algorithm>
#include <cstdio>
#include <string>

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

std::string exception_summary() {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  if (!type) return "unknown error";
  PyErr_NormalizeException(&type, &value, &tb);
  std::string out = ((PyTypeObject*)type)->tp_name;
  PyObject* s = value ? PyObject_Str(value) : nullptr;
  const char* c = s ? PyUnicode_AsUTF8(s) : nullptr;
  if (c && *c) out += std::string(": ") + c;
  if (!c) PyErr_Clear();
  Py_XDECREF(s);
  PyErr_Restore(type, value, tb);
  return out;
}

// Formats with traceback.format_exception so the text goes through host.log in one piece; falls
// back to PyErr_Display (sys.stderr) if formatting itself fails.
void log_exception(const char* context, std::string* text_out) {
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
  if (s && text_out) *text_out = s;
  if (s) {
    // The core's log lines are bounded: long tracebacks go out in pieces cut at line ends.
    if (context) log_line("%s", context);
    std::string msg(s);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    size_t pos = 0;
    while (pos < msg.size()) {
      size_t end = pos + 4000 >= msg.size() ? msg.size() : msg.rfind('\n', pos + 4000);
      if (end == std::string::npos || end <= pos) end = std::min(msg.size(), pos + 4000);
      log_line("%.*s", (int)(end - pos), msg.data() + pos);
      pos = end < msg.size() && msg[end] == '\n' ? end + 1 : end;
    }
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
