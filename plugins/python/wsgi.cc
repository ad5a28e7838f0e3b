// The WSGI handler: environ, calling the app, sending its result (bytes chunks, file_wrapper
// via sendfile), close(), and errors (500 before the headers went out, abort after).
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "py_opts.h"

namespace uwsgi::py {

Keys k;

namespace {

PyObject* intern(const char* s) { return PyUnicode_InternFromString(s); }

// Interned environ keys by name: the same names come with every request.
struct SvHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
std::unordered_map<std::string, PyObject*, SvHash, std::equal_to<>> key_cache;
constexpr size_t kMaxCachedKeys = 512;

// New reference.
PyObject* env_key(std::string_view name) {
  auto it = key_cache.find(name);
  if (it != key_cache.end()) {
    Py_INCREF(it->second);
    return it->second;
  }
  PyObject* key = PyUnicode_DecodeLatin1(name.data(), name.size(), nullptr);
  if (!key) return nullptr;
  if (key_cache.size() < kMaxCachedKeys) {
    PyUnicode_InternInPlace(&key);
    Py_INCREF(key);
    key_cache.emplace(std::string(name), key);
  }
  return key;
}

// The previous request's variables, by position (see build_environ). Strings are immutable, so
// sharing them between requests (and async cores) is safe.
struct VarMemo {
  std::string name;
  PyObject* key = nullptr;
  std::string value_bytes;
  PyObject* value = nullptr;
};
std::vector<VarMemo> memo;
constexpr size_t kMaxMemoValue = 256;

bool set_new(PyObject* d, PyObject* key, PyObject* val) {
  if (!val) return false;
  int r = PyDict_SetItem(d, key, val);
  Py_DECREF(val);
  return r == 0;
}

PyObject* fdevent_readable = nullptr;
PyObject* fdevent_writable = nullptr;

// uwsgi.core as a Python int made once per core (borrowed): ids above 256 are not among
// CPython's cached small ints, and every in-flight request would hold its own.
// The request says its body was chunked (a router that de-chunked it sends its length too):
// Werkzeug then ignores CONTENT_LENGTH and reads wsgi.input only when it is marked terminated.
bool says_chunked(PyObject* env) {
  PyObject* te = PyDict_GetItemString(env, "HTTP_TRANSFER_ENCODING");
  if (!te || !PyUnicode_Check(te)) return false;
  const char* s = PyUnicode_AsUTF8(te);
  if (!s) {
    PyErr_Clear();
    return false;
  }
  return strcasestr(s, "chunked") != nullptr;
}

PyObject* core_number(int id) {
  static std::vector<PyObject*> numbers;
  if (id < 0) id = 0;  // core ids are indexes; never negative
  if ((size_t)id >= numbers.size()) numbers.resize(id + 64, nullptr);
  if (!numbers[id]) numbers[id] = PyLong_FromLong(id);
  return numbers[id];
}

// The keys every environ has, in a dict copied for each request. PyDict_Copy keeps the
// template's table: string keys only (16-byte entries), room for 21 entries (the 11 below plus a
// typical request's variables). _PyDict_NewPresized makes a table for keys of any type (24-byte
// entries): 1,104 bytes for the sizes we asked of it instead of 400, held by every in-flight
// request. Per-request values are overwritten; REQUEST_METHOD holds a place (it fills the table
// to the size that makes CPython double it) and is removed if the request has none.
PyObject* environ_templates[2];  // [fdevent]
PyObject* method_key = nullptr;  // "REQUEST_METHOD", whose placeholder value is None

PyObject* environ_template(bool fdevent) {
  PyObject*& t = environ_templates[fdevent];
  if (t) return t;
  PyObject* d = PyDict_New();
  if (!d) return nullptr;
  bool multi = g.host->num_workers() > 1;
  bool threaded = g.host->config().get_int("threads", 1) > 1;  // --threads: apps share the process
  if (!method_key) method_key = env_key("REQUEST_METHOD");
  bool ok = method_key && PyDict_SetItem(d, k.wsgi_version, k.version_tuple) == 0 &&
            PyDict_SetItem(d, k.wsgi_url_scheme, k.http) == 0 &&
            PyDict_SetItem(d, k.wsgi_input, Py_None) == 0 &&
            PyDict_SetItem(d, k.wsgi_errors, Py_None) == 0 &&
            PyDict_SetItem(d, k.wsgi_multithread, threaded ? Py_True : Py_False) == 0 &&
            PyDict_SetItem(d, k.wsgi_multiprocess, multi ? Py_True : Py_False) == 0 &&
            PyDict_SetItem(d, k.wsgi_run_once, Py_False) == 0 &&
            (write_opts.disable_file_wrapper || PyDict_SetItem(d, k.wsgi_file_wrapper, file_wrapper_type()) == 0) &&
            PyDict_SetItem(d, k.uwsgi_core, Py_None) == 0 &&
            PyDict_SetItem(d, k.uwsgi_version, k.version_bytes) == 0 &&
            PyDict_SetItem(d, method_key, Py_None) == 0;
  if (ok && fdevent)
    ok = PyDict_SetItem(d, k.fdevent_readable, fdevent_readable) == 0 &&
         PyDict_SetItem(d, k.fdevent_writable, fdevent_writable) == 0 &&
         PyDict_SetItem(d, k.fdevent_timeout, Py_None) == 0;
  if (!ok) {
    Py_DECREF(d);
    return nullptr;
  }
  return t = d;
}

[[gnu::noinline]] PyObject* build_environ(Request& req, CoreContext* core, PyObject* input) {
  size_t n = req.var_count();
  const bool fdevent = core && fdevent_readable;
  PyObject* tmpl = environ_template(fdevent);
  PyObject* env = tmpl ? PyDict_Copy(tmpl) : nullptr;
  if (!env) return nullptr;
  if (memo.size() < n) memo.resize(n);
  for (size_t i = 0; i < n; i++) {
    auto [name, value] = req.var(i);
    // Requests from the same clients repeat their variables in the same order: reuse the key
    // (and a short value) made for the previous request at this position when the bytes match.
    VarMemo& m = memo[i];
    if (!m.key || m.name != name) {
      PyObject* key = env_key(name);
      if (!key) goto fail;
      Py_XSETREF(m.key, key);
      m.name.assign(name);
      Py_CLEAR(m.value);
      m.value_bytes.clear();
    }
    PyObject* val;
    if (m.value && m.value_bytes == value) {
      val = Py_NewRef(m.value);
    } else {
      // PEP 3333: native strings holding the raw bytes, decoded as latin-1.
      val = PyUnicode_DecodeLatin1(value.data(), value.size(), nullptr);
      if (!val) goto fail;
      if (value.size() <= kMaxMemoValue) {
        Py_XSETREF(m.value, Py_NewRef(val));
        m.value_bytes.assign(value);
      } else {
        Py_CLEAR(m.value);
        m.value_bytes.clear();
      }
    }
    if (!set_new(env, m.key, val)) goto fail;
  }
  {
    // Still the template's placeholder (request variables are strings): the request had none.
    if (PyDict_GetItem(env, method_key) == Py_None && PyDict_DelItem(env, method_key) < 0) goto fail;
    // A de-chunked body has no CONTENT_LENGTH: this tells readers (Werkzeug) to read wsgi.input
    // to its end instead of reading nothing.
    static PyObject* input_terminated = intern("wsgi.input_terminated");
    if ((req.content_length() < 0 || says_chunked(env)) &&
        (!input_terminated || PyDict_SetItem(env, input_terminated, Py_True) < 0))
      goto fail;
    const char* scheme = req.scheme();
    PyObject* errors = PySys_GetObject("stderr");
    PyObject* core_num = core_number(req.core_id());
    if ((scheme && strcmp(scheme, "http") != 0 &&
         !set_new(env, k.wsgi_url_scheme,
                  strcmp(scheme, "https") == 0 ? Py_NewRef(k.https) : PyUnicode_FromString(scheme))) ||
        PyDict_SetItem(env, k.wsgi_input, input) < 0 ||
        (errors && PyDict_SetItem(env, k.wsgi_errors, errors) < 0) ||
        !core_num || PyDict_SetItem(env, k.uwsgi_core, core_num) < 0)
      goto fail;
  }
  return env;
fail:
  Py_DECREF(env);
  return nullptr;
}

void send_error(Request& req, const char* status, const char* body, bool managed = true) {
  if (req.headers_sent()) return;
  // The server's own answer, not the app's: --error-page-NNN may replace its body.
  if (managed) req.managed_response();
  size_t len = strlen(body);
  HeaderList h{{"Content-Type", "text/plain"}, {"Content-Length", std::to_string(len)}};
  if (req.start_response(status, h)) req.write(body, len);
}

std::string describe(Request& req) {
  std::string s(req.find_var("REQUEST_METHOD"));
  s += ' ';
  std::string_view uri = req.find_var("REQUEST_URI");
  s += uri.empty() ? req.find_var("PATH_INFO") : uri;
  return s;
}

// A Python exception is pending: log it and answer 500 if nothing was sent yet. After the
// headers went out the response is cut short: mark_exception() tells the core it is incomplete.
[[gnu::noinline]] void app_failed(Request& req, Responder* r) {
  if (PyErr_ExceptionMatches(client_gone_type())) {
    PyErr_Clear();
    if (!write_opts.ignore_write_errors)
      log_line("python: client gone while sending the response to %s", describe(req).c_str());
    return;
  }
  reload_if_exception_matches();  // --reload-on-exception*: the exception stays pending
  std::string tb;
  bool show = catch_exceptions() && (!r || !r->sent) && !req.headers_sent();
  log_exception(("python: exception in the WSGI app (" + describe(req) + "):").c_str(), show ? &tb : nullptr);
  req.mark_exception();
  if (show && !tb.empty()) {
    // --catch-exceptions: the traceback goes to the client too (once the headers are out, the
    // response is cut short as without it: appending text would corrupt the body).
    std::string body = "uWSGI exceptions catcher for \"" + describe(req) + "\"\n\n" + tb;
    send_error(req, "500 Internal Server Error", body.c_str(), false);  // the traceback was asked for
    return;
  }
  if (!r || !r->sent) send_error(req, "500 Internal Server Error", "Internal Server Error\n");
}

// Content-Length of a list/tuple of bytes, or -1.
long long sequence_length(PyObject* seq) {
  Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  PyObject** items = PySequence_Fast_ITEMS(seq);
  long long total = 0;
  for (Py_ssize_t i = 0; i < n; i++) {
    if (!PyBytes_Check(items[i])) return -1;
    total += PyBytes_GET_SIZE(items[i]);
  }
  return total;
}

Emit emit_chunk(Responder* r, PyObject* item) {
  if (!PyBytes_Check(item)) {
    PyErr_Format(PyExc_TypeError, "response body items must be bytes, not %.100s",
                 Py_TYPE(item)->tp_name);
    return Emit::kPyError;
  }
  Py_ssize_t n = PyBytes_GET_SIZE(item);
  if (n == 0) return Emit::kOk;  // headers wait for the first non-empty chunk
  if (!r->called) {
    PyErr_SetString(PyExc_RuntimeError, "the app returned body data before calling start_response()");
    return Emit::kPyError;
  }
  return responder_write(r, PyBytes_AS_STRING(item), n);
}

// file_wrapper over a regular file with a real fd: one sendfile. Returns false (no exception)
// when the object is not eligible and must be iterated instead.
bool try_sendfile(Request& req, Responder* r, PyObject* wrapper, Emit* out) {
  PyObject* f = file_wrapper_filelike(wrapper);
  if (!f || !r->called) return false;
  PyObject* fdo = PyObject_CallMethodNoArgs(f, k.fileno);
  if (!fdo) {
    PyErr_Clear();
    return false;
  }
  long fd = PyLong_AsLong(fdo);
  Py_DECREF(fdo);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    PyErr_Clear();
    return false;
  }
  // tell() knows about Python-level buffering; the fd offset is the fallback.
  off_t offset = -1;
  if (PyObject* t = PyObject_CallMethodNoArgs(f, k.tell)) {
    offset = PyLong_AsLongLong(t);
    Py_DECREF(t);
  }
  if (offset < 0) {
    PyErr_Clear();
    offset = lseek(fd, 0, SEEK_CUR);
  }
  if (offset < 0) offset = 0;
  size_t len = st.st_size > offset ? st.st_size - offset : 0;
  *out = r->sent ? Emit::kOk : responder_send_headers(r, len);
  if (*out == Emit::kOk && len > 0 && !req.sendfile(fd, offset, len)) *out = Emit::kClientGone;
  return true;
}

// Sends the app's result; returns how it ended.
// Not inlined: its locals would sit in the frame of handle(), which is on the stack (and in every
// suspended greenlet's saved copy of it) while the app runs.
[[gnu::noinline]] Emit send_result(Request& req, Responder* r, PyObject* result, CoreContext* core) {
  if (PyBytes_Check(result) && !wsgi_opts.strict) {
    // Not WSGI, but uWSGI accepts a bare bytes body (unless --wsgi-strict): one chunk of known length.
    if (!r->called) {
      PyErr_SetString(PyExc_RuntimeError, "the app returned without calling start_response()");
      return Emit::kPyError;
    }
    Emit e = r->sent ? Emit::kOk : responder_send_headers(r, PyBytes_GET_SIZE(result));
    return e == Emit::kOk ? emit_chunk(r, result) : e;
  }
  if (PyUnicode_Check(result)) {
    PyErr_SetString(PyExc_TypeError, "the app returned a str: the body must be an iterable of bytes");
    return Emit::kPyError;
  }
  if (PyList_CheckExact(result) || PyTuple_CheckExact(result)) {
    if (!r->sent && r->called) {
      long long len = sequence_length(result);
      Py_ssize_t n = PySequence_Fast_GET_SIZE(result);
      // A fully known body gets a Content-Length, so the connection can be kept alive.
      if (len >= 0 && (len > 0 || n == 0)) {
        Emit e = responder_send_headers(r, len);
        if (e != Emit::kOk) return e;
      }
    }
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(result); i++) {
      PyObject* item = PySequence_Fast_GET_ITEM(result, i);
      Py_INCREF(item);
      Emit e = emit_chunk(r, item);
      Py_DECREF(item);
      if (e != Emit::kOk) return e;
    }
  } else {
    if (Py_TYPE(result) == reinterpret_cast<PyTypeObject*>(file_wrapper_type())) {
      Emit e;
      if (try_sendfile(req, r, result, &e)) return e;
    }
    PyObject* it = PyObject_GetIter(result);
    if (!it) return Emit::kPyError;
    for (;;) {
      PyObject* item = PyIter_Next(it);
      if (!item) break;
      Emit e = emit_chunk(r, item);
      Py_DECREF(item);
      // Each chunk of a generator hands the core back once (uWSGI's async `yield`).
      if (e == Emit::kOk && core && !suspend_core(core)) e = Emit::kPyError;
      if (e != Emit::kOk) {
        Py_DECREF(it);
        return e;
      }
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) return Emit::kPyError;
  }
  if (!r->sent) {
    if (!r->called) {
      PyErr_SetString(PyExc_RuntimeError, "the app returned without calling start_response()");
      return Emit::kPyError;
    }
    return responder_send_headers(r, 0);
  }
  return Emit::kOk;
}

class WsgiHandler : public AppHandler {
 public:
  void handle(Request& req) override {
    if (!g.app && !have_mounts()) {
      no_app(req);
      return;
    }
    if (tracebacker_pending()) [[unlikely]]
      tracebacker_start(g.host->worker_id());  // a process serving without a fork: see tracebacker.cc
    give_small_frame_stack();  // a new greenlet's or core's frames: a fraction of a page
    LoopEngine* le = g.host->loop_engine();
    CoreContext* core = le ? le->current_core() : nullptr;
    PyObject* input = input_new(&req);
    Responder* r = input ? responder_new(&req) : nullptr;
    PyObject* env = r ? build_environ(req, core, input) : nullptr;
    if (!env) {
      app_failed(req, r);
      cleanup(req, input, r, env);
      return;
    }
    // By core id, not pointer: g.cores may grow while this core is suspended.
    const int core_id = req.core_id();
    if (!core) set_thread_core(core_id);  // sync: one request per OS thread at a time
    PyObject* app = g.app;
    if ((have_mounts() || post_buffering_on()) && !(app = prepare(req, env, input))) {
      cleanup(req, input, r, env);
      return;
    }
    // Under gevent, uwsgi.* functions find the request by the greenlet (see websocket.cc).
    PyObject* gtoken = !core && le && le->async_cores() > 1 ? greenlet_request_enter(core_id) : nullptr;
    CurrentRequest* cur = current_request(core_id);
    if (cur) *cur = CurrentRequest{&req, env, false, r, next_request_serial()};
    PyObject* result = nullptr;
    if (cur && !wsgi_websocket_prepare(cur, env)) {
      app_failed(req, r);
    } else {
      // Vectorcall, not PyObject_CallFunctionObjArgs: the varargs path adds two frames (~370
      // bytes) under the app's, and each suspended greenlet keeps a copy of that stack.
      PyObject* args[] = {env, reinterpret_cast<PyObject*>(r)};
      result = PyObject_Vectorcall(app, args, 2, nullptr);
      if (!result) app_failed(req, r);
    }
    if (result && result == Py_None && r->websocket) {
      Py_CLEAR(result);  // a websocket app may return nothing: its response went as frames
    } else if (result) {
      Emit e = send_result(req, r, result, core);
      if (e == Emit::kPyError) app_failed(req, r);
      else if (e == Emit::kClientGone || r->gone)
        client_gone(req);
      close_result(req, result);
      Py_DECREF(result);
    }
    if (CurrentRequest* c = current_request(core_id)) *c = CurrentRequest{};
    greenlet_request_leave(gtoken);
    cleanup(req, input, r, env);
  }

 private:
  // The cold paths keep their string temporaries out of handle()'s frame, which is on the stack
  // (and in each suspended greenlet's saved copy) while the app runs.
  [[gnu::noinline]] static void no_app(Request& req) {
    log_line("--- no python application found, check your startup logs for errors --- (%s)",
             describe(req).c_str());
    send_error(req, "500 Internal Server Error", "no app loaded\n");
  }

  [[gnu::noinline]] static void client_gone(Request& req) {
    if (write_opts.ignore_write_errors) return;
    log_line("python: client gone while sending the response to %s", describe(req).c_str());
  }

  // The app for this request (--mount) with its body read first (--post-buffering); nullptr when
  // the request was answered here instead.
  [[gnu::noinline]] static PyObject* prepare(Request& req, PyObject* env, PyObject* input) {
    PyObject* app = g.app;
    if (have_mounts()) {
      const char* status = nullptr;
      app = select_app(req, env, &status);
      if (!app) {
        if (!status) {
          app_failed(req, nullptr);
        } else if (status[0] == '5') {
          log_line("--- no python application found for %s ---", describe(req).c_str());
          send_error(req, status, "no app loaded\n");
        } else {
          send_error(req, status, "Not Found\n");
        }
        return nullptr;
      }
    }
    if (!post_buffer(req, input)) {
      send_error(req, "400 Bad Request", "Bad Request: the request body could not be read\n");
      return nullptr;
    }
    // A de-chunked body now has a known length: frameworks that only trust CONTENT_LENGTH
    // (Django) read it too.
    long long size = input_buffered_size(input);
    if (size >= 0 && req.content_length() < 0) {
      PyObject* v = PyUnicode_FromFormat("%lld", size);
      int rc = v ? PyDict_SetItemString(env, "CONTENT_LENGTH", v) : -1;
      Py_XDECREF(v);
      if (rc < 0) {
        app_failed(req, nullptr);
        return nullptr;
      }
    }
    return app;
  }

  [[gnu::noinline]] static void close_result(Request& req, PyObject* result) {
    if (PyList_CheckExact(result) || PyTuple_CheckExact(result) || PyBytes_CheckExact(result)) return;
    PyObject* close = PyObject_GetAttr(result, k.close);
    if (!close) {
      PyErr_Clear();
      return;
    }
    PyObject* r = PyObject_CallNoArgs(close);
    Py_DECREF(close);
    if (!r)
      log_exception(("python: exception in close() of the response (" + describe(req) + "):").c_str());
    Py_XDECREF(r);
  }

  static void cleanup(Request& req, PyObject* input, Responder* r, PyObject* env) {
    if (PyErr_Occurred()) log_exception("python: unexpected pending exception");
    if (input) input_detach(input);
    if (r) responder_detach(r);
    Py_XDECREF(env);
    Py_XDECREF(input);
    Py_XDECREF(reinterpret_cast<PyObject*>(r));
  }
};

}  // namespace

bool init_keys() {
  Keys x;
  PyObject** all[] = {&x.wsgi_version, &x.wsgi_url_scheme, &x.wsgi_input, &x.wsgi_errors,
                      &x.wsgi_multithread, &x.wsgi_multiprocess, &x.wsgi_run_once,
                      &x.wsgi_file_wrapper, &x.uwsgi_core, &x.uwsgi_version,
                      &x.fdevent_readable, &x.fdevent_writable, &x.fdevent_timeout, &x.http,
                      &x.https, &x.close, &x.read, &x.fileno, &x.tell};
  const char* names[] = {"wsgi.version", "wsgi.url_scheme", "wsgi.input", "wsgi.errors",
                         "wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once",
                         "wsgi.file_wrapper", "uwsgi.core", "uwsgi.version",
                         "x-wsgiorg.fdevent.readable", "x-wsgiorg.fdevent.writable",
                         "x-wsgiorg.fdevent.timeout", "http", "https", "close", "read", "fileno",
                         "tell"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!(*all[i] = intern(names[i]))) return false;
  x.version_tuple = Py_BuildValue("(ii)", 1, 0);
  x.version_bytes = PyBytes_FromString(g.host ? g.host->version() : "0");
  if (!x.version_tuple || !x.version_bytes) return false;
  k = x;
  return true;
}

bool wsgi_init_types() {
  return input_init_type() && responder_init_type() && file_wrapper_init_type(nullptr);
}

// The module's wait functions, for x-wsgiorg.fdevent.*; set once the uwsgi module exists.
void wsgi_set_fdevent_functions(PyObject* readable, PyObject* writable) {
  Py_XINCREF(readable);
  Py_XINCREF(writable);
  fdevent_readable = readable;
  fdevent_writable = writable;
}

AppHandler* wsgi_handler() {
  static WsgiHandler h;
  return &h;
}

}  // namespace uwsgi::py
