// The python plugin's uWSGI options beyond loading one app: mounts, post-buffering, write-error
// reporting, the module auto-reloader. Each file registers its own options next to its code.
#pragma once

#include "py_plugin.h"

namespace uwsgi::py {

// py_opts.cc: every option below (called from on_register), and one option of the plugin.
void register_py_options(Host& host);
void add_py_option(Host& host, const char* name, OptArg arg, const char* help,
                   std::function<bool(std::string_view, std::string*)> on_set = nullptr,
                   std::vector<std::string> aliases = {},
                   std::vector<std::pair<std::string, std::string>> implies = {});

// mounts.cc: --mount MOUNTPOINT=APP, --manage-script-name, --no-default-app.
void register_mount_options(Host& host);
bool mounts_configure(const Config& c, std::string* err);  // false: a host mountpoint without --vhost
bool have_mounts();
// Loads every --mount app; false with *err when one failed and --need-app is set.
bool load_mounts(std::string* err);
// The app for this request (borrowed), after --manage-script-name rewrote SCRIPT_NAME and
// PATH_INFO in env. nullptr when no app matches: *status is then the answer to give.
PyObject* select_app(Request& req, PyObject* env, const char** status);

// loader.cc: a file run as module uwsgi_file_<mangled path>, and mod.attr.attr lookups.
PyObject* import_app_file(const std::string& path, std::string* err);
PyObject* app_callable(PyObject* mod, const std::string& name);

// post_buffer.cc: --post-buffering N, --post-buffering-bufsize N.
void register_post_buffer_options(Host& host);
// Reads the whole body into input (memory up to N bytes, a temp file past it) when
// --post-buffering is on; false (the error logged) when the body could not be read.
bool post_buffer(Request& req, PyObject* input);
bool post_buffering_on();

// input.cc: the body as read by post_buffer.
void input_set_memory(PyObject* input, char* body, size_t len);  // takes body (malloc'd)
void input_set_bytes(PyObject* input, PyObject* body);  // takes the reference
void input_set_file(PyObject* input, int fd, long long size);  // takes fd
long long input_buffered_size(PyObject* input);  // -1 when the body was not buffered

// py_opts.cc: --disable-write-exception, --ignore-write-errors, --ignore-sigpipe,
// --wsgi-disable-file-wrapper (read by responder.cc and wsgi.cc).
void write_opts_configure(const Config& c);
struct WriteErrorOpts {
  bool disable_write_exception = false;  // write() of a vanished client returns None
  bool ignore_write_errors = false;      // no log line for a vanished client
  bool disable_file_wrapper = false;     // no wsgi.file_wrapper in the environ
};
extern WriteErrorOpts write_opts;

// interp_options.cc: -O/--optimize, --no-site, --py-program-name, --py-executable (read by
// init_interpreter before Py_InitializeFromConfig).
void register_interp_options(Host& host);
struct InterpOpts {
  int optimize = -1;          // -1: not given (CPython's default, 0)
  bool no_site = false;
  std::string program_name;   // "": UWSGI_PYTHON_EXECUTABLE, or --home's python
  std::string executable;     // "": whatever CPython computes
};
extern InterpOpts interp_opts;

// wsgi_options.cc: --wsgi-strict, --wsgi-env-behaviour, --ignore-script-name,
// --response-headers-limit.
void register_wsgi_options(Host& host);
struct WsgiOpts {
  bool strict = false;              // a bare bytes result is not a body (wsgi.cc)
  bool ignore_script_name = false;  // SCRIPT_NAME does not select a --mount app (mounts.cc)
  size_t headers_limit = 0;         // --response-headers-limit: largest response head (responder.cc)
};
extern WsgiOpts wsgi_opts;

// reload_on_exception.cc: --reload-on-exception[-type|-value|-repr].
void register_reload_on_exception_options(Host& host);
// With the app's exception pending (it stays so): when it matches, the worker is asked to stop
// gracefully (the master replaces it). Call before the exception is logged and cleared.
void reload_if_exception_matches();

// tracebacker.cc: --py-tracebacker PATH (a socket per worker that prints every thread's stack).
void register_tracebacker_option(Host& host);
void tracebacker_start(int worker_id);  // in a worker after fork (again: does nothing)
bool tracebacker_pending();  // wanted but not started in this process (a single process, no fork)
void tracebacker_note_thread(int core_id);  // the calling thread serves this core (--threads)

// pyrun.cc: --pyrun SCRIPT (runs it once the interpreter is up, and exits with its status).
void register_pyrun_option(Host& host);
void pyrun_if_asked();  // returns only when --pyrun was not given

// autoreload.cc: --py-autoreload N, --py-autoreload-ignore MODULE.
void register_autoreload_options(Host& host);
void autoreload_start(int worker_id);  // in a worker after fork

}  // namespace uwsgi::py
