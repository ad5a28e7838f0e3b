// --py-tracebacker PATH: each worker listens on the unix socket PATH<worker id> (PATH1, PATH2...)
// and writes the Python stack of every one of its threads to whoever connects, then closes: the
// way to see where a stuck worker is (`uwsgi --connect-and-read PATH1`). uWSGI's format: a
// header, then per thread one line per frame, outermost first, and a blank line.
// A thread of its own serves the socket; it takes the GIL only to read the stacks, so a worker
// busy in Python code still answers (CPython hands the GIL over every switch interval).
// Started after fork; a process that serves without forking (no master) starts it at its first
// request, as plugins get no call when such a process begins serving.
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "py_opts.h"

namespace uwsgi::py {
namespace {

std::string g_base;  // the option's value; "" when off
bool g_started = false;  // in this process (a forked worker starts with the master's false)
std::mutex g_cores_mu;
std::vector<std::pair<unsigned long, int>> g_thread_cores;  // --threads: thread ident -> core id

// Runs with the GIL held; returns the dump (or why it failed).
const char kDumpSource[] = R"PY(
def dump(worker_id, main_ident, self_ident, cores):
    import sys, threading, traceback
    names = {t.ident: t.name for t in threading.enumerate()}
    for ident, core in cores:
        names[ident] = 'uWSGIWorker%dCore%d' % (worker_id, core)
    out = ['*** uWSGI Python tracebacker output ***\n\n']
    for ident, frame in sys._current_frames().items():
        if ident == self_ident:
            continue
        if ident == main_ident:
            name = 'uWSGIWorker%dCore0' % worker_id
        else:
            name = names.get(ident) or str(ident)
        for f in traceback.extract_stack(frame):
            out.append('thread_id = %s filename = %s lineno = %s function = %s line = %s\n'
                       % (name, f.filename, f.lineno, f.name, f.line or ''))
        out.append('\n')
    return ''.join(out)
)PY";

std::string dump_stacks(int worker_id) {
  static PyObject* fn = nullptr;
  std::string text;
  PyGILState_STATE st = PyGILState_Ensure();
  if (!fn) {
    PyObject* globals = PyDict_New();
    if (globals && PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) == 0) {
      PyObject* r = PyRun_String(kDumpSource, Py_file_input, globals, globals);
      Py_XDECREF(r);
      fn = r ? PyDict_GetItemString(globals, "dump") : nullptr;
      Py_XINCREF(fn);
    }
    Py_XDECREF(globals);
  }
  PyObject* cores = PyList_New(0);
  {
    std::lock_guard<std::mutex> lock(g_cores_mu);
    for (auto& [ident, core] : g_thread_cores) {
      PyObject* pair = Py_BuildValue("(ki)", ident, core);
      if (!pair || !cores || PyList_Append(cores, pair) < 0) PyErr_Clear();
      Py_XDECREF(pair);
    }
  }
  PyObject* out = fn && cores ? PyObject_CallFunction(fn, "ikkO", worker_id, g.main_thread,
                                                      PyThread_get_thread_ident(), cores)
                              : nullptr;
  Py_XDECREF(cores);
  const char* s = out && PyUnicode_Check(out) ? PyUnicode_AsUTF8(out) : nullptr;
  if (s) {
    text = s;
  } else {
    text = "*** uWSGI Python tracebacker: cannot read the stacks: " + exception_summary() + " ***\n";
    PyErr_Clear();
  }
  Py_XDECREF(out);
  PyGILState_Release(st);
  return text;
}

void send_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += (size_t)n;
  }
}

struct ThreadArg {
  int fd;
  int worker_id;
};

void* serve(void* p) {
  auto* a = static_cast<ThreadArg*>(p);
  for (;;) {
    int c = accept4(a->fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      break;
    }
    timeval tv{5, 0};  // a client that does not read does not hold the tracebacker
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    send_all(c, dump_stacks(a->worker_id));
    ::close(c);
  }
  return nullptr;
}

}  // namespace

void register_tracebacker_option(Host& host) {
  add_py_option(host, "py-tracebacker", OptArg::Required,
                "each worker serves its threads' Python stacks on the unix socket PATH<worker id> "
                "(read one with --connect-and-read PATH1)",
                [](std::string_view v, std::string* err) {
                  if (v.empty()) {
                    *err = "--py-tracebacker wants a socket path prefix";
                    return false;
                  }
                  g_base = std::string(v);
                  return true;
                });
}

void tracebacker_start(int worker_id) {
  if (g_base.empty() || worker_id < 1 || g_started) return;
  g_started = true;  // one try per process: a failure is logged once
  std::string path = g_base + std::to_string(worker_id);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (path.size() >= sizeof sun.sun_path) {
    log_line("python tracebacker: socket path %s is too long", path.c_str());
    return;
  }
  memcpy(sun.sun_path, path.c_str(), path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  unlink(path.c_str());  // left by an earlier worker with this id
  if (fd < 0 || bind(fd, (sockaddr*)&sun, sizeof sun) != 0 || listen(fd, 16) != 0) {
    log_line("python tracebacker: cannot listen on %s: %s", path.c_str(), strerror(errno));
    if (fd >= 0) ::close(fd);
    return;
  }
  // Every signal stays with the worker's own threads.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t t;
  int rc = pthread_create(&t, nullptr, serve, new ThreadArg{fd, worker_id});
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (rc != 0) {
    log_line("python tracebacker: cannot start its thread: %s", strerror(rc));
    ::close(fd);
    return;
  }
  pthread_detach(t);
  log_line("python tracebacker for worker %d available on %s", worker_id, path.c_str());
}

bool tracebacker_pending() { return !g_base.empty() && !g_started; }

void tracebacker_note_thread(int core_id) {
  if (g_base.empty()) return;
  unsigned long ident = PyThread_get_thread_ident();
  if (ident == g.main_thread) return;  // named Core0 anyway (gevent switches cores on it)
  std::lock_guard<std::mutex> lock(g_cores_mu);
  for (auto& tc : g_thread_cores)
    if (tc.first == ident) {
      tc.second = core_id;
      return;
    }
  g_thread_cores.emplace_back(ident, core_id);
}

}  // namespace uwsgi::py
