// --reload-on-exception and its -type/-value/-repr variants: a worker whose app raised (one of
// the given) exceptions finishes its requests and is replaced, as after --max-requests.
// The exception is described as Python shows it: type = the class name, alone or qualified by
// its module ("ZeroDivisionError", "myapp.errors.Gone"); value = str(exc); repr = repr(exc)
// ("ZeroDivisionError('division by zero')"), or str(exc), which is what uWSGI 2.0.21 compares.
#include <unistd.h>

#include "py_opts.h"

namespace uwsgi::py {
namespace {

bool g_any = false;
std::vector<std::string> g_types, g_values, g_reprs;

std::string text_of(PyObject* o) {  // "" when o cannot be made a str
  if (!o) return {};
  const char* s = PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : nullptr;
  if (!s) PyErr_Clear();
  return s ? s : "";
}

std::string str_of(PyObject* o, PyObject* (*fn)(PyObject*)) {
  PyObject* s = o ? fn(o) : nullptr;
  if (!s) PyErr_Clear();
  std::string r = text_of(s);
  Py_XDECREF(s);
  return r;
}

bool contains(const std::vector<std::string>& list, const std::string& v) {
  for (auto& x : list)
    if (x == v) return true;
  return false;
}

// Does the (normalized) exception match the options? Leaves no Python error behind.
bool matches(PyObject* type, PyObject* value) {
  if (g_any) return true;
  if (!g_types.empty() && type && PyType_Check(type)) {
    auto* t = reinterpret_cast<PyTypeObject*>(type);
    std::string name = t->tp_name;  // "module.Name" for classes of extension modules
    size_t dot = name.rfind('.');
    std::string bare = dot == std::string::npos ? name : name.substr(dot + 1);
    std::string qual = str_of(PyObject_GetAttrString(type, "__module__"), PyObject_Str);
    std::string qualname = str_of(PyObject_GetAttrString(type, "__qualname__"), PyObject_Str);
    if (qualname.empty()) qualname = bare;
    if (contains(g_types, bare) || contains(g_types, name) || contains(g_types, qualname) ||
        (!qual.empty() && contains(g_types, qual + "." + qualname)))
      return true;
  }
  std::string str = (!g_values.empty() || !g_reprs.empty()) ? str_of(value, PyObject_Str) : "";
  if (contains(g_values, str)) return true;
  if (!g_reprs.empty() && (contains(g_reprs, str) || contains(g_reprs, str_of(value, PyObject_Repr)))) return true;
  return false;
}

std::function<bool(std::string_view, std::string*)> adder(std::vector<std::string>* list) {
  return [list](std::string_view v, std::string*) {
    list->emplace_back(v);
    return true;
  };
}

}  // namespace

void register_reload_on_exception_options(Host& host) {
  add_py_option(host, "reload-on-exception", OptArg::None,
                "replace a worker (after its in-flight requests) once its app raised any exception",
                [](std::string_view v, std::string*) {
                  g_any = v != "false" && v != "0" && v != "no" && v != "off";
                  return true;
                });
  add_py_option(host, "reload-on-exception-type", OptArg::Required,
                "replace a worker once its app raised this exception class (Name or module.Name); may be repeated",
                adder(&g_types));
  add_py_option(host, "reload-on-exception-value", OptArg::Required,
                "replace a worker once its app raised an exception whose str() is this; may be repeated",
                adder(&g_values));
  add_py_option(host, "reload-on-exception-repr", OptArg::Required,
                "replace a worker once its app raised an exception whose repr() (or str()) is this; may be repeated",
                adder(&g_reprs));
}

void reload_if_exception_matches() {
  if (!g_any && g_types.empty() && g_values.empty() && g_reprs.empty()) return;
  if (!PyErr_Occurred()) return;
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  bool hit = matches(type, value);
  if (PyErr_Occurred()) PyErr_Clear();
  PyErr_Restore(type, value, tb);
  if (!hit) return;
  log_line("... monitored exception detected, reloading worker %d (pid: %d) after its requests ...",
           g.host->worker_id(), (int)getpid());
  g.host->request_stop();
}

}  // namespace uwsgi::py
