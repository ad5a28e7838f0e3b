// Shared state and entry points of the python plugin (one interpreter per process).
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <uwsgi/plugin.h>

#include <string>
#include <vector>

namespace uwsgi::py {

struct Responder;

// The current request as the uwsgi module sees it (per async core).
struct CurrentRequest {
  Request* req = nullptr;
  PyObject* environ = nullptr;  // borrowed: owned by the handler's frame
  bool waiting = false;         // an fd/timer was registered since the last suspend
  Responder* responder = nullptr;  // borrowed, like environ
  uint64_t serial = 0;          // which request this is, for uwsgi.request_context()
};

struct Globals {
  Host* host = nullptr;
  bool initialized = false;     // Py_Initialize done
  PyThreadState* main_ts = nullptr;  // this process's main thread state
  unsigned long main_thread = 0;     // PyThread_get_thread_ident() of the worker's main thread
  PyObject* app = nullptr;      // the WSGI callable, or nullptr
  std::vector<CurrentRequest> cores;  // indexed by core id
  // Option values.
  std::string wsgi_file, module, callable = "application", home;
  std::vector<std::string> pythonpath;
  bool need_app = true;           // a configured app that fails to load stops start-up
  bool need_app_explicit = false;  // --need-app given: no app configured stops it too
  int numproc = 1;
};
extern Globals g;

// interp.cc: Py_Initialize with home/venv, sys.path. Leaves the GIL held.
bool init_interpreter(std::string* err);
// frame_chunk_cache.cc: reuses the 16 KiB frame chunks greenlets take and give back, and gives
// a thread state or greenlet whose frame data stack is still empty a small first chunk.
void install_frame_chunk_cache();
void give_small_frame_stack();
// loader.cc: import the app named by the options; false (with *err) when none could be loaded.
bool load_app(std::string* err);
// A module by dotted name, or a file (a value naming an existing file, or with a '/'): new
// reference, or nullptr with a Python exception or *err set.
PyObject* import_module_or_file(const std::string& name, std::string* err);
// app_options.cc: --import/--pyimport, --pyargv, --single-interpreter, --catch-exceptions,
// uwsgi.atexit.
void add_app_options(Host& host);
bool run_imports(std::string* err);  // the --import modules, in order; false (*err) on failure
bool run_spooler_imports(std::string* err);  // the --spooler-import modules (in a spooler process)
bool import_all(const std::vector<std::string>& names, const char* opt, std::string* err);
std::vector<std::string> pyargv_words();
bool catch_exceptions();
void call_uwsgi_atexit();
// log.cc
void log_line(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// Log the pending Python exception (traceback) and clear it; *text, if given, gets the
// traceback's text (for --catch-exceptions' response body).
void log_exception(const char* context, std::string* text = nullptr);
// "Type: message" of the pending Python exception, which stays pending.
std::string exception_summary();
// wsgi.cc
bool wsgi_init_types();
AppHandler* wsgi_handler();
void wsgi_set_fdevent_functions(PyObject* readable, PyObject* writable);
// input.cc / file_wrapper.cc / responder.cc: types used by the handler.
bool input_init_type();
PyObject* input_new(Request* req);
void input_detach(PyObject* input);
bool file_wrapper_init_type(PyObject* module);
PyObject* file_wrapper_type();
PyObject* file_wrapper_filelike(PyObject* wrapper);  // borrowed

// responder.cc: start_response and the write() callable of one request.
struct Responder {
  PyObject_HEAD
  Request* req;        // nullptr once the request ended
  PyObject* status;    // str, set by start_response
  PyObject* headers;   // list of (str, str)
  PyObject* write_fn;  // the write callable start_response returns
  bool called;         // start_response was called
  bool sent;           // headers went to the client
  bool gone;           // write() failed and, with --disable-write-exception, returned None
  bool websocket;      // a websocket handshake ended the HTTP response
};
enum class Emit { kOk, kClientGone, kPyError };
bool responder_init_type();
Responder* responder_new(Request* req);
void responder_detach(Responder* r);
// Sends status and headers; adds Content-Length: content_length when >= 0 and the app gave no
// length or transfer coding and the status allows a body.
Emit responder_send_headers(Responder* r, long long content_length);
Emit responder_write(Responder* r, const char* data, size_t n);
// uwsgi_module.cc
PyObject* PyInit_uwsgi_module();
PyObject* async_error_type();   // uwsgi.AsyncError (OSError and RuntimeError)
PyObject* client_gone_type();   // raised by write() when the client went away
CurrentRequest* current_request(int core_id);
// Where the calling OS thread's request is kept when no async core is current (sync mode,
// --threads): the WSGI handler records its core id (= thread slot) per thread.
void set_thread_core(int core_id);
CurrentRequest* thread_request();
// Suspend the current async core (after a uwsgi.* registration or a response chunk): marks
// x-wsgiorg.fdevent.timeout in the environ. Returns false with a Python exception set.
bool suspend_core(CoreContext* core);
// websocket.cc: uWSGI's websocket functions in the uwsgi module, --wsgi-websocket.
bool add_websocket_functions(PyObject* module);
void register_websocket_options(Host& host);
uint64_t next_request_serial();
// Under gevent (many requests in one thread, no async core): which request the current greenlet
// serves. Returns the token leave() takes (nullptr if it could not be set).
PyObject* greenlet_request_enter(int core_id);
void greenlet_request_leave(PyObject* token);
// --wsgi-websocket: handshake an upgrade request and add environ['wsgi.websocket']; false with a
// Python error set when that failed.
bool wsgi_websocket_prepare(CurrentRequest* cur, PyObject* env);
// signals.cc: the signal framework's functions in the uwsgi module; uwsgi.post_fork_hook.
bool add_signal_functions(PyObject* module);
// shared_api.cc: uwsgi.lock/unlock/is_locked and uwsgi.cache_* over Host::locks()/caches().
bool add_shared_functions(PyObject* module);
// A key/value/message argument as bytes: bytes as is, str as UTF-8; else TypeError naming `what`.
bool bytes_or_str(PyObject* o, std::string_view* out, const char* what);
// Sets OSError(msg); returns nullptr.
PyObject* raise_os_error(const std::string& msg);
// mules.cc: uwsgi.mule_* / farm_* functions; a mule process's main (its script, or messages).
bool add_mule_functions(PyObject* module);
int run_mule(int id, const std::string& arg);
// spooler.cc: uwsgi.spool() / send_to_spooler() / SPOOL_* and the spooler process's task runner.
bool add_spooler_functions(PyObject* module);
void set_spooler_runner(Host& host, std::function<void()> post_fork);
void run_post_fork_hook();
// decorators.cc: the built-in uwsgidecorators module (an inittab entry).
PyObject* init_decorators_module();
// threads.cc
SwitchHooks* switch_hooks();
void threads_after_fork();

// Interned constant strings used on the hot path.
struct Keys {
  PyObject *wsgi_version, *wsgi_url_scheme, *wsgi_input, *wsgi_errors, *wsgi_multithread,
      *wsgi_multiprocess, *wsgi_run_once, *wsgi_file_wrapper, *uwsgi_core, *uwsgi_version,
      *fdevent_readable, *fdevent_writable, *fdevent_timeout, *http, *https, *close, *read,
      *fileno, *tell, *version_tuple, *version_bytes;
};
extern Keys k;
bool init_keys();

}  // namespace uwsgi::py
