// Shared pieces of the gevent plugin: the loop engine factory, the embedded Python source of the
// loop, and small CPython helpers.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <memory>
#include <string>

#include <uwsgi/plugin.h>

namespace uwsgi_gevent {

struct Settings {
  int cores = 100;           // --gevent N: connections served at once
  bool wait_for_hub = false; // --gevent-wait-for-hub
};

// The Python half of the loop (loop_source.cc).
extern const char* const kLoopSource;

std::unique_ptr<uwsgi::LoopEngine> make_loop(uwsgi::Host& host, const Settings& s);

// The loop's module (kLoopSource run as _uwsgi_gevent_loop), made on first use: a new reference,
// or nullptr with a Python exception set.
PyObject* loop_module();

// The pending Python exception as text ("Type: message", or the whole traceback), cleared.
std::string take_error_text(bool traceback = false);

}  // namespace uwsgi_gevent
