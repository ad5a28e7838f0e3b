// The router's event loop: one I/O engine (the core's epoll, through IoEngine) per process; each client connection walks
// head -> body -> connect -> send -> response (-> tunnel after a 101), then back to head when
// kept alive. Timeouts are swept once a second.
#include "router/router.h"

#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <sys/epoll.h>  // EPOLLIN/EPOLLOUT/EPOLLERR: the handlers' event bits
#include <sys/prctl.h>
#include <sys/socket.h>
#include <strings.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstring>
#include <list>
#include <memory>

#include "log/log.h"
#include "loop/io_epoll.h"
#include "net/request_head.h"
#include "process/scoreboard.h"
#include "router/response_head.h"

namespace uwsgi {
namespace {

volatile sig_atomic_t g_stop = 0;
void on_stop(int) { g_stop = 1; }

enum class State { kHead, kBody, kConnect, kSend, kResponse, kTunnel, kClosing };

constexpr size_t kIoChunk = 64 * 1024;
constexpr size_t kMaxResponseHead = 64 * 1024;

struct Conn;
struct Tag {
  Conn* c;
  bool backend;
};

struct Conn {
  int cfd = -1, bfd = -1;
  SSL* ssl = nullptr;  // --https
  uint32_t cev = 0, bev = 0;  // events registered for each fd
  Tag ctag{this, false}, btag{this, true};
  State st = State::kHead;
  const Listener* listener = nullptr;
  std::string raddr, rport;
  bool proxy_done = false;
  std::string in;  // client bytes not consumed yet
  RequestHead head;
  bool upgrade = false, is_head_method = false;
  // body
  long long body_left = 0;
  ChunkedDecoder dec;
  std::string body;
  int body_file = -1;
  long long body_size = 0;
  // to the worker
  std::string bout;
  size_t bout_off = 0;
  long long file_off = 0;
  size_t backend_idx = 0;
  int tries = 0;
  // from the worker, to the client
  std::string rhead;
  bool head_seen = false, chunk_resp = false, close_after = false, backend_eof = false;
  std::string cout;
  size_t cout_off = 0;
  long long sent_to_client = 0;
  uint64_t deadline = 0;
  bool dead = false;
  bool queued = false;  // waiting for room in a full unix listen queue (Router::waiting_)
};

class Router {
 public:
  Router(const RouterSettings& s, const std::vector<Listener>& ls, int id) : s_(s), ls_(ls), id_(id) {}

  int run() {
    // The project's I/O engine interface (include/uwsgi/plugin.h), with the core's epoll engine.
    io_ = make_epoll_io_engine();
    std::string err;
    if (!io_->init(&err)) {
      log_line("router: %s", err.c_str());
      return 1;
    }
    // Listeners are tagged with small integers, connections with Tag pointers (never < 4096).
    for (size_t i = 0; i < ls_.size(); i++) io_->watch(ls_[i].fd, kIoRead, (void*)(uintptr_t)(i + 1));
    if (id_ == 1 && s_.stats_fd >= 0) io_->watch(s_.stats_fd, kIoRead, (void*)(uintptr_t)(ls_.size() + 1));
    log_line("HTTP router %d (pid %d) ready: %zu socket(s), %zu worker socket(s)", id_, (int)getpid(), ls_.size(),
             s_.backends.size());
    uint64_t stop_at = 0;
    bool accepting = true;
    uint64_t next_sweep = monotonic_ms() + 1000;
    IoReady evs[128];
    for (;;) {
      if (g_stop && accepting) {
        accepting = false;
        for (auto& l : ls_) io_->unwatch(l.fd);
        stop_at = monotonic_ms() + s_.mercy_ms;
        // Requests a worker has are finished; clients still sending a head or a body (or idle
        // between requests) are closed now, as a stopping --http-socket worker would.
        for (auto& c : conns_)
          if (c->st == State::kHead || c->st == State::kBody) kill(c.get());
        reap();
      }
      if (!accepting && (conns_.empty() || monotonic_ms() >= stop_at)) return 0;
      int n = io_->wait(waiting_.empty() ? 1000 : 5, evs, 128);
      if (!waiting_.empty()) {
        std::vector<Conn*> again;
        again.swap(waiting_);
        for (Conn* c : again)
          if (!c->dead) connect_backend(c);
      }
      for (int i = 0; i < n; i++) {
        uintptr_t tag = (uintptr_t)evs[i].data;
        if (tag <= ls_.size()) {
          if (accepting) accept_all(tag - 1);
          continue;
        }
        if (tag == ls_.size() + 1) {
          serve_stats();
          continue;
        }
        Tag* t = (Tag*)evs[i].data;
        if (t->c->dead) continue;
        // The handlers speak epoll's bits: the engine's are mapped back (HUP comes as read/write).
        uint32_t ev = (evs[i].events & kIoRead ? (uint32_t)EPOLLIN : 0u) |
                      (evs[i].events & kIoWrite ? (uint32_t)EPOLLOUT : 0u) |
                      (evs[i].events & kIoError ? (uint32_t)EPOLLERR : 0u);
        if (t->backend) on_backend(t->c, ev);
        else on_client(t->c, ev);
      }
      uint64_t now = monotonic_ms();
      if (now >= next_sweep) {
        next_sweep = now + 1000;
        sweep(now);
      }
      reap();
    }
  }

 private:
  // ---- plumbing ----
  void watch(int fd, uint32_t* cur, uint32_t want, Tag* tag) {
    if (fd < 0 || *cur == want) return;
    int io = (want & EPOLLIN ? kIoRead : 0) | (want & EPOLLOUT ? kIoWrite : 0);
    if (io) io_->watch(fd, io, tag);
    else io_->unwatch(fd);
    *cur = want;
  }

  // What each fd waits for follows from the state and the buffers.
  void update(Conn* c) {
    if (c->dead) return;
    uint32_t cw = 0, bw = 0;
    bool cout_pending = c->cout_off < c->cout.size();
    switch (c->st) {
      case State::kHead:
      case State::kBody: cw = EPOLLIN; break;
      case State::kConnect: bw = EPOLLOUT; break;
      case State::kSend:
        bw = EPOLLOUT | (cout_pending ? 0u : (uint32_t)EPOLLIN);
        if (cout_pending) cw = EPOLLOUT;
        break;
      case State::kResponse:
        if (cout_pending) cw = EPOLLOUT;
        else if (!c->backend_eof) bw = EPOLLIN;
        break;
      case State::kTunnel:
        if (cout_pending) cw = EPOLLOUT;
        else if (!c->backend_eof) bw = EPOLLIN;
        if (c->bout_off < c->bout.size()) bw |= EPOLLOUT;
        else cw |= EPOLLIN;
        break;
      case State::kClosing:
        if (cout_pending) cw = EPOLLOUT;
        break;
    }
    watch(c->cfd, &c->cev, cw, &c->ctag);
    watch(c->bfd, &c->bev, bw, &c->btag);
  }

  void kill(Conn* c) {
    if (c->dead) return;
    c->dead = true;
    if (c->ssl) {
      SSL_shutdown(c->ssl);  // a close_notify when it fits; never waited for
      SSL_free(c->ssl);
      c->ssl = nullptr;
      ERR_clear_error();
    }
    // The engine forgets an fd only when told: unwatch before close, or a new connection that
    // gets the same fd number would inherit a stale interest.
    watch(c->cfd, &c->cev, 0, &c->ctag);
    watch(c->bfd, &c->bev, 0, &c->btag);
    if (c->cfd >= 0) close(c->cfd);
    if (c->bfd >= 0) close(c->bfd);
    if (c->body_file >= 0) close(c->body_file);
    c->cfd = c->bfd = c->body_file = -1;
  }

  void reap() {
    for (size_t i = 0; i < waiting_.size();)
      if (waiting_[i]->dead) waiting_.erase(waiting_.begin() + i);
      else i++;
    for (auto it = conns_.begin(); it != conns_.end();)
      if ((*it)->dead) it = conns_.erase(it);
      else ++it;
  }

  void touch(Conn* c, int ms) { c->deadline = monotonic_ms() + ms; }

  void accept_all(size_t idx) {
    const Listener& l = ls_[idx];
    ssl_ctx_st* tls = idx < s_.tls.size() ? s_.tls[idx] : nullptr;
    for (int k = 0; k < 64; k++) {
      sockaddr_storage ss{};
      socklen_t sl = sizeof ss;
      int fd = accept4(l.fd, (sockaddr*)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      auto c = std::make_unique<Conn>();
      c->cfd = fd;
      c->listener = &l;
      if (tls) {
        c->ssl = SSL_new(tls);
        if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
          if (c->ssl) SSL_free(c->ssl);
          close(fd);
          continue;
        }
        SSL_set_accept_state(c->ssl);
      }
      if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
        char h[NI_MAXHOST], p[NI_MAXSERV];
        if (getnameinfo((sockaddr*)&ss, sl, h, sizeof h, p, sizeof p, NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
          c->raddr = h;
          c->rport = p;
        }
      }
      c->proxy_done = !s_.proxy_protocol;
      touch(c.get(), s_.timeout_ms);
      Conn* raw = c.get();
      conns_.push_back(std::move(c));
      update(raw);
    }
  }

  void sweep(uint64_t now) {
    for (auto& cp : conns_) {
      Conn* c = cp.get();
      if (c->dead || now < c->deadline) continue;
      if (c->st == State::kConnect || c->st == State::kSend || (c->st == State::kResponse && !c->head_seen)) {
        log_line("router: no answer from the worker for %s %s within %d s: 504", var(c, "REQUEST_METHOD").c_str(),
                 var(c, "REQUEST_URI").c_str(), s_.timeout_ms / 1000);
        fail(c, 504, "Gateway Timeout");
      } else {
        kill(c);  // an idle keep-alive client, a client that stopped sending, or a stalled stream
      }
    }
  }

  // --http-stats: one JSON document per connection, then close (as uWSGI's stats sockets).
  void serve_stats() {
    int fd = accept4(s_.stats_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    size_t active = 0;
    for (auto& c : conns_) active += !c->dead;
    std::string j = "{\"version\":\"http-router\",\"pid\":" + std::to_string(getpid()) +
                    ",\"active_sessions\":" + std::to_string(active) + ",\"requests\":" + std::to_string(requests_) +
                    ",\"worker_errors\":" + std::to_string(worker_errors_) +
                    ",\"client_errors\":" + std::to_string(client_errors_) +
                    ",\"tx\":" + std::to_string(tx_) + ",\"sockets\":[";
    for (size_t i = 0; i < ls_.size(); i++)
      j += (i ? ",\"" : "\"") + ls_[i].spec + "\"";
    j += "],\"backends\":[";
    for (size_t i = 0; i < s_.backends.size(); i++)
      j += (i ? ",\"" : "\"") + s_.backends[i].spec + "\"";
    j += "]}\n";
    timeval tv{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    ssize_t w = send(fd, j.data(), j.size(), MSG_NOSIGNAL);
    (void)w;
    close(fd);
  }

  static std::string var(Conn* c, const char* name) { return std::string(c->head.find(name)); }

  // An error answer; the connection closes once it is sent.
  void fail(Conn* c, int status, const char* reason) {
    if (c->bfd >= 0) {
      watch(c->bfd, &c->bev, 0, &c->btag);
      close(c->bfd);
      c->bfd = -1;
    }
    if (c->sent_to_client > 0 || c->cout_off > 0) {
      kill(c);  // part of a response went out: closing is all that can be said
      return;
    }
    if (status >= 500) worker_errors_++;
    else client_errors_++;
    std::string body = std::to_string(status) + " " + reason + "\n";
    c->cout = "HTTP/1.1 " + std::to_string(status) + " " + reason +
              "\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) +
              "\r\n\r\n" + body;
    c->cout_off = 0;
    c->st = State::kClosing;
    touch(c, s_.timeout_ms);
    if (!flush_client(c)) return;
    if (c->cout_off >= c->cout.size()) after_client_flush(c);
    update(c);
  }

  // Client I/O, plain or TLS: > 0 bytes, 0 end of stream, -1 try later, -2 error.
  ssize_t cread(Conn* c, char* buf, size_t n) {
    if (!c->ssl) {
      ssize_t r = recv(c->cfd, buf, n, 0);
      return r >= 0 ? r : (errno == EAGAIN || errno == EINTR) ? -1 : -2;
    }
    int r = SSL_read(c->ssl, buf, (int)std::min<size_t>(n, 1 << 30));
    if (r > 0) return r;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return -1;
    ERR_clear_error();
    return e == SSL_ERROR_ZERO_RETURN ? 0 : -2;
  }

  ssize_t cwrite(Conn* c, const char* buf, size_t n) {
    if (!c->ssl) {
      ssize_t w = send(c->cfd, buf, n, MSG_NOSIGNAL);
      return w >= 0 ? w : (errno == EAGAIN || errno == EINTR) ? -1 : -2;
    }
    int w = SSL_write(c->ssl, buf, (int)std::min<size_t>(n, 1 << 30));
    if (w > 0) return w;
    int e = SSL_get_error(c->ssl, w);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return -1;
    ERR_clear_error();
    return -2;
  }

  // Writes what it can of cout; false when the client is gone (the connection is killed).
  bool flush_client(Conn* c) {
    while (c->cout_off < c->cout.size()) {
      ssize_t w = cwrite(c, c->cout.data() + c->cout_off, c->cout.size() - c->cout_off);
      if (w > 0) {
        c->cout_off += w;
        c->sent_to_client += w;
        tx_ += w;
        continue;
      }
      if (w == -1) return true;
      kill(c);
      return false;
    }
    c->cout.clear();
    c->cout_off = 0;
    return true;
  }

  // ---- client side ----
  void on_client(Conn* c, uint32_t ev) {
    if (ev & EPOLLOUT) {
      if (!flush_client(c)) return;
      touch(c, s_.timeout_ms);
      if (c->cout_off >= c->cout.size()) after_client_flush(c);
      if (c->dead) return;
    }
    if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && (c->st == State::kHead || c->st == State::kBody)) {
      if (!read_client(c)) return;
      progress(c);
    } else if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && c->st == State::kTunnel) {
      tunnel_from_client(c);
    } else if ((ev & (EPOLLHUP | EPOLLERR)) && !(ev & EPOLLOUT)) {
      kill(c);
      return;
    }
    update(c);
  }

  // Appends what the client sent to `in`; false when the connection was closed.
  bool read_client(Conn* c) {
    char buf[kIoChunk];
    ssize_t r = cread(c, buf, sizeof buf);
    if (r > 0) {
      c->in.append(buf, r);
      // TLS hands out one record per read: take what it holds decrypted already
      while (c->ssl && SSL_pending(c->ssl) > 0 && (r = cread(c, buf, sizeof buf)) > 0) c->in.append(buf, r);
      touch(c, s_.timeout_ms);
      return true;
    }
    if (r == -1) return true;
    if (c->st == State::kBody)
      log_line("router: client %s closed the connection in the middle of the request body", c->raddr.c_str());
    kill(c);
    return false;
  }

  // Moves the request forward with what `in` holds.
  void progress(Conn* c) {
    if (c->st == State::kHead) {
      if (!c->proxy_done && !parse_proxy_line(c)) return;
      if (c->in.empty()) return;
      ParseError perr;
      ConnInfo info{c->listener->addr, c->listener->port, c->raddr, c->rport};
      c->head.clear();
      ParseResult pr = parse_http_head(c->in.data(), c->in.size(), s_.max_head, info, &c->head, &perr);
      if (pr == ParseResult::kIncomplete) return;
      if (pr == ParseResult::kError) {
        log_line("router: bad request from %s: %s (%d)", c->raddr.empty() ? "unix socket" : c->raddr.c_str(),
                 perr.message.c_str(), perr.http_status);
        fail(c, perr.http_status, perr.http_status == 431   ? "Request Header Fields Too Large"
                                  : perr.http_status == 501 ? "Not Implemented"
                                  : perr.http_status == 413 ? "Payload Too Large"
                                                            : "Bad Request");
        return;
      }
      c->head.detach(c->in.data(), c->in.data() + c->in.size());
      c->in.erase(0, c->head.head_len);
      start_request(c);
    }
    if (c->st == State::kBody) read_body(c);
  }

  // PROXY TCP4 <src> <dst> <sport> <dport>\r\n (v1): the source becomes REMOTE_ADDR/PORT. As in
  // uWSGI the line is optional: a client that starts with its request line is served as is.
  bool parse_proxy_line(Conn* c) {
    static constexpr std::string_view kProxy = "PROXY ";
    size_t n = std::min(c->in.size(), kProxy.size());
    if (std::string_view(c->in).substr(0, n) != kProxy.substr(0, n)) {
      c->proxy_done = true;  // no PROXY line
      return true;
    }
    size_t eol = c->in.find("\r\n");
    if (eol == std::string::npos) {
      if (c->in.size() > 107) fail(c, 400, "Bad Request");  // v1 lines are at most 107 bytes
      return false;
    }
    std::string line = c->in.substr(0, eol);
    c->in.erase(0, eol + 2);
    c->proxy_done = true;
    char proto[8], src[64], dst[64];
    unsigned sport = 0, dport = 0;
    if (sscanf(line.c_str(), "PROXY %7s %63s %63s %u %u", proto, src, dst, &sport, &dport) == 5) {
      c->raddr = src;
      c->rport = std::to_string(sport);
    }
    return true;
  }

  // --http-to-https: a plain request is sent to the same place over https.
  void redirect_to_https(Conn* c) {
    std::string host(c->head.find("SERVER_NAME"));
    if (!s_.https_port.empty() && s_.https_port != "443") host += ":" + s_.https_port;
    std::string loc = "https://" + host + std::string(c->head.find("REQUEST_URI"));
    for (char ch : loc)
      if (ch == '\r' || ch == '\n') return fail(c, 400, "Bad Request");
    c->cout = "HTTP/1.1 301 Moved Permanently\r\nLocation: " + loc +
              "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    c->cout_off = 0;
    c->st = State::kClosing;
    touch(c, s_.timeout_ms);
    if (!flush_client(c)) return;
    if (c->cout_off >= c->cout.size()) after_client_flush(c);
  }

  void start_request(Conn* c) {
    requests_++;
    if (s_.http_to_https && !c->ssl) {
      redirect_to_https(c);
      return;
    }
    std::string_view method = c->head.find("REQUEST_METHOD");
    c->is_head_method = method == "HEAD";
    // Only a websocket upgrade is tunnelled (an h2c or TLS upgrade offer is a plain request).
    std::string_view up = c->head.find("HTTP_UPGRADE");
    c->upgrade = up.size() >= 9 && strncasecmp(up.data(), "websocket", 9) == 0;
    if (!s_.keepalive) c->head.keep_alive = false;
    c->body.clear();
    c->body_size = 0;
    c->file_off = 0;
    if (c->body_file >= 0) close(c->body_file);
    c->body_file = -1;
    c->dec.reset();
    c->tries = 0;
    if (c->head.expect_continue && (c->head.chunked || c->head.content_length > 0) && !s_.raw_body) {
      c->cout = "HTTP/1.1 100 Continue\r\n\r\n";
      c->cout_off = 0;
      c->sent_to_client -= (long long)c->cout.size();  // an interim answer: a 502 may still follow
      if (!flush_client(c)) return;
    }
    if (s_.raw_body || c->upgrade) {
      connect_backend(c);  // the body (if any) follows the head as it comes
      return;
    }
    c->body_left = c->head.chunked ? -1 : c->head.content_length;
    if (c->body_left == 0) connect_backend(c);
    else c->st = State::kBody;
  }

  void read_body(Conn* c) {
    if (c->head.chunked) {
      std::string out;
      size_t used = c->dec.feed(c->in.data(), c->in.size(), &out);
      c->in.erase(0, used);
      if (c->dec.failed()) {
        log_line("router: bad chunked body from %s: %s (400)", c->raddr.c_str(), c->dec.error().c_str());
        fail(c, 400, "Bad Request");
        return;
      }
      if (!store_body(c, out.data(), out.size())) return;
      if (c->dec.done()) connect_backend(c);
      return;
    }
    size_t take = (size_t)std::min<long long>(c->body_left, (long long)c->in.size());
    if (!store_body(c, c->in.data(), take)) return;
    c->in.erase(0, take);
    c->body_left -= take;
    if (c->body_left == 0) connect_backend(c);
  }

  // Memory first; past body_in_memory everything goes to an unlinked temp file.
  bool store_body(Conn* c, const char* p, size_t n) {
    if (n == 0) return true;
    c->body_size += n;
    if (c->body_file < 0 && c->body.size() + n <= s_.body_in_memory) {
      c->body.append(p, n);
      return true;
    }
    if (c->body_file < 0) {
      const char* dir = getenv("TMPDIR");
      c->body_file = open(dir && *dir ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
      if (c->body_file < 0 || !write_all(c->body_file, c->body.data(), c->body.size())) {
        log_line("router: cannot buffer a request body in a temp file: %s (500)", strerror(errno));
        fail(c, 500, "Internal Server Error");
        return false;
      }
      c->body.clear();
      c->body.shrink_to_fit();
    }
    if (!write_all(c->body_file, p, n)) {
      log_line("router: cannot buffer a request body in a temp file: %s (500)", strerror(errno));
      fail(c, 500, "Internal Server Error");
      return false;
    }
    return true;
  }

  static bool write_all(int fd, const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = write(fd, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      p += w;
      n -= w;
    }
    return true;
  }

  // ---- worker side ----
  void connect_backend(Conn* c) {
    if (s_.backends.empty()) {
      fail(c, 502, "Bad Gateway");
      return;
    }
    while (c->tries < (int)s_.backends.size()) {
      const RouterBackend& b = s_.backends[next_backend_ % s_.backends.size()];
      c->backend_idx = next_backend_ % s_.backends.size();
      next_backend_++;
      c->tries++;
      int fd = socket(b.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) break;
      int rc = connect(fd, (const sockaddr*)&b.addr, b.addr_len);
      if (rc == 0 || errno == EINPROGRESS) {
        c->bfd = fd;
        c->bev = 0;
        c->st = State::kConnect;
        if (!c->queued) touch(c, s_.connect_timeout_ms);
        c->queued = false;
        if (rc == 0) connected(c);
        update(c);
        return;
      }
      if (errno == EAGAIN && b.addr.ss_family == AF_UNIX) {
        // A unix socket's listen queue is full (all workers busy): the request waits here,
        // retried every few ms, up to --http-timeout, as it would wait in a TCP queue.
        close(fd);
        if (!c->queued) touch(c, s_.timeout_ms);
        c->queued = true;
        c->tries--;
        next_backend_--;
        c->st = State::kConnect;
        update(c);
        waiting_.push_back(c);
        return;
      }
      log_line("router: cannot connect to %s: %s%s", b.spec.c_str(), strerror(errno),
               c->tries < (int)s_.backends.size() ? " (trying the next one)" : "");
      close(fd);
    }
    fail(c, 502, "Bad Gateway");
  }

  void connected(Conn* c) {
    c->st = State::kSend;
    touch(c, s_.timeout_ms);  // includes the wait in the workers' listen queue
    build_packet(c);
    c->rhead.clear();
    c->head_seen = c->chunk_resp = c->close_after = c->backend_eof = false;
  }

  void build_packet(Conn* c) {
    std::string& p = c->bout;
    p.assign(4, '\0');
    auto add = [&](std::string_view k, std::string_view v) {
      uint16_t kl = (uint16_t)k.size(), vl = (uint16_t)v.size();
      p.push_back((char)(kl & 0xff));
      p.push_back((char)(kl >> 8));
      p.append(k);
      p.push_back((char)(vl & 0xff));
      p.push_back((char)(vl >> 8));
      p.append(v);
    };
    bool dechunked = c->head.chunked && !s_.raw_body && !c->upgrade;
    for (auto& kv : c->head.vars) {
      if (kv.first == "HTTP_EXPECT" && !s_.raw_body) continue;  // answered here already
      // The header stays visible to the app as --http-socket shows it (the worker's python plugin
      // then marks wsgi.input_terminated); the body it frames is sent de-chunked, with its length.
      if (dechunked && kv.first == "CONTENT_LENGTH") continue;
      add(kv.first, kv.second);
    }
    if (dechunked) add("CONTENT_LENGTH", std::to_string(c->body_size));
    if (c->ssl) add("HTTPS", "on");
    for (auto& kv : s_.vars) add(kv.first, kv.second);
    size_t size = p.size() - 4;
    if (size > 65535) {
      log_line("router: request head from %s too large for the uwsgi protocol (431)", c->raddr.c_str());
      fail(c, 431, "Request Header Fields Too Large");
      return;
    }
    p[0] = (char)s_.modifier1;
    p[1] = (char)(size & 0xff);
    p[2] = (char)(size >> 8);
    p[3] = 0;
    if (c->body_file < 0) {
      p.append(c->body);
      c->body.clear();
    }
    c->bout_off = 0;
    // raw mode: client bytes already read after the head go right behind it
    if (s_.raw_body || c->upgrade) {
      p.append(c->in);
      c->in.clear();
    }
  }

  void on_backend(Conn* c, uint32_t ev) {
    if (c->st == State::kConnect) {
      int err = 0;
      socklen_t el = sizeof err;
      getsockopt(c->bfd, SOL_SOCKET, SO_ERROR, &err, &el);
      if (err != 0) {
        log_line("router: cannot connect to %s: %s%s", s_.backends[c->backend_idx].spec.c_str(), strerror(err),
                 c->tries < (int)s_.backends.size() ? " (trying the next one)" : "");
        watch(c->bfd, &c->bev, 0, &c->btag);
        close(c->bfd);
        c->bfd = -1;
        connect_backend(c);
        return;
      }
      connected(c);
      if (c->dead || c->st != State::kSend) return;
    }
    if ((ev & EPOLLOUT) && (c->st == State::kSend || c->st == State::kTunnel)) {
      if (!send_backend(c)) return;
    }
    if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && c->cout_off >= c->cout.size() &&
        (c->st == State::kSend || c->st == State::kResponse || c->st == State::kTunnel))
      read_backend(c);
    update(c);
  }

  // Sends the packet and the body; false when the worker went away (handled).
  bool send_backend(Conn* c) {
    for (;;) {
      if (c->bout_off >= c->bout.size()) {
        c->bout.clear();
        c->bout_off = 0;
        if (c->st == State::kSend && c->body_file >= 0 && c->file_off < c->body_size) {
          c->bout.resize(kIoChunk);
          ssize_t r = pread(c->body_file, c->bout.data(), kIoChunk, c->file_off);
          if (r <= 0) {
            log_line("router: cannot read back a buffered request body: %s", strerror(errno));
            fail(c, 500, "Internal Server Error");
            return false;
          }
          c->bout.resize(r);
          c->file_off += r;
          continue;
        }
        if (c->st == State::kSend) {
          if (c->body_file >= 0) {
            close(c->body_file);
            c->body_file = -1;
          }
          // raw mode keeps feeding the worker what the client sends, as a tunnel does
          c->st = (s_.raw_body || c->upgrade) ? State::kTunnel : State::kResponse;
        }
        return true;
      }
      ssize_t w = send(c->bfd, c->bout.data() + c->bout_off, c->bout.size() - c->bout_off, MSG_NOSIGNAL);
      if (w > 0) {
        c->bout_off += w;
        touch(c, s_.timeout_ms);
        continue;
      }
      if (w < 0 && (errno == EAGAIN || errno == EINTR)) return true;
      // The worker stopped reading (it answered early, or died): what it said is read next.
      if (c->st == State::kSend) {
        c->st = State::kResponse;
        c->bout.clear();
        c->bout_off = 0;
        return true;
      }
      backend_gone(c);
      return false;
    }
  }

  void read_backend(Conn* c) {
    char buf[kIoChunk];
    ssize_t r = recv(c->bfd, buf, sizeof buf, 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (r <= 0) {
      backend_gone(c);
      return;
    }
    touch(c, s_.timeout_ms);
    if (!c->head_seen) {
      c->rhead.append(buf, r);
      ResponseHead rh;
      int st = parse_response_head(c->rhead, &rh);
      // An interim answer (100 Continue with --http-raw-body) goes through; the real head follows.
      while (st > 0 && rh.status >= 100 && rh.status < 200 && rh.status != 101) {
        c->cout.append(c->rhead, 0, rh.head_len);
        c->rhead.erase(0, rh.head_len);
        st = parse_response_head(c->rhead, &rh);
      }
      if (st == 0 && !c->cout.empty()) flush_client(c);
      if (st == 0) {
        if (c->rhead.size() > kMaxResponseHead) {
          log_line("router: the worker's response head is too large or malformed (502)");
          fail(c, 502, "Bad Gateway");
        }
        return;
      }
      if (st < 0) {
        log_line("router: malformed response head from the worker (502)");
        fail(c, 502, "Bad Gateway");
        return;
      }
      c->head_seen = true;
      if (c->st == State::kSend) {
        // An early answer: the rest of the body will not be read.
        c->st = State::kResponse;
        c->bout.clear();
        c->bout_off = 0;
        c->head.keep_alive = false;
      }
      bool tunnel = rh.status == 101;
      bool bodyless = rh.status < 200 || rh.status == 204 || rh.status == 304 || c->is_head_method;
      bool framed = bodyless || rh.content_length >= 0 || rh.chunked;
      bool keep = c->head.keep_alive && !rh.conn_close && !tunnel && c->st != State::kTunnel;
      if (keep && !framed) {
        if (s_.auto_chunked && c->head.http_minor == 1) c->chunk_resp = true;
        else keep = false;
      }
      c->close_after = !keep && !tunnel;
      std::string out = rebuild_head(c->rhead.substr(0, rh.head_len), rh, keep, tunnel, c);
      std::string rest = c->rhead.substr(rh.head_len);
      c->rhead.clear();
      if (tunnel) {
        c->st = State::kTunnel;
        c->bout.clear();
        c->bout_off = 0;
      }
      c->cout = std::move(out);
      c->cout_off = 0;
      if (!rest.empty()) add_body(c, rest.data(), rest.size());
    } else {
      add_body(c, buf, r);
    }
    flush_client(c);
  }

  void add_body(Conn* c, const char* p, size_t n) {
    if (c->chunk_resp) {
      char h[32];
      int l = snprintf(h, sizeof h, "%zx\r\n", n);
      c->cout.append(h, l);
      c->cout.append(p, n);
      c->cout.append("\r\n");
    } else {
      c->cout.append(p, n);
    }
  }

  // The worker's head with our Connection header (and chunked framing when we add it).
  std::string rebuild_head(const std::string& raw, const ResponseHead& rh, bool keep, bool tunnel, Conn* c) {
    std::string out;
    out.reserve(raw.size() + 40);
    for (auto& line : rh.lines) {
      std::string_view l(raw.data() + line.first, line.second);
      if (!tunnel && header_named(l, "connection")) continue;
      if (!tunnel && header_named(l, "keep-alive")) continue;
      out.append(l);
      out.append("\r\n");
    }
    if (!tunnel) {
      if (c->chunk_resp) out.append("Transfer-Encoding: chunked\r\n");
      if (!keep && c->head.http_minor == 1) out.append("Connection: close\r\n");
      else if (keep && c->head.http_minor == 0) out.append("Connection: keep-alive\r\n");
    }
    out.append("\r\n");
    return out;
  }

  // The worker closed its side: the response is complete (or, without a head, a 502).
  void backend_gone(Conn* c) {
    if (c->bfd >= 0) {
      watch(c->bfd, &c->bev, 0, &c->btag);
      close(c->bfd);
      c->bfd = -1;
    }
    c->backend_eof = true;
    if (c->st == State::kTunnel) {
      c->close_after = true;
      if (!c->head_seen) {
        fail(c, 502, "Bad Gateway");
        return;
      }
      c->st = State::kClosing;
      if (c->cout_off >= c->cout.size()) kill(c);
      return;
    }
    if (!c->head_seen) {
      log_line("router: the worker closed the connection without answering %s %s (502)",
               var(c, "REQUEST_METHOD").c_str(), var(c, "REQUEST_URI").c_str());
      fail(c, 502, "Bad Gateway");
      return;
    }
    if (c->chunk_resp) c->cout.append("0\r\n\r\n");
    if (!flush_client(c)) return;
    if (c->cout_off >= c->cout.size()) after_client_flush(c);
  }

  // The client has everything queued so far.
  void after_client_flush(Conn* c) {
    if (c->st == State::kClosing) {
      shutdown(c->cfd, SHUT_WR);  // a FIN after the answer, not a reset that could destroy it
      kill(c);
      return;
    }
    if (c->st != State::kResponse || !c->backend_eof) return;
    if (c->close_after) {
      kill(c);
      return;
    }
    // Keep-alive: the next request (maybe already in `in`).
    c->st = State::kHead;
    c->backend_eof = false;
    c->head_seen = false;
    touch(c, s_.keepalive_idle_ms);
    if (!c->in.empty()) progress(c);
  }

  // ---- tunnel (after a 101, or --http-raw-body) ----
  void tunnel_from_client(Conn* c) {
    char buf[kIoChunk];
    ssize_t r = cread(c, buf, sizeof buf);
    if (r == -1) return;
    if (r <= 0) {
      if (c->bfd >= 0) shutdown(c->bfd, SHUT_WR);
      if (c->backend_eof) kill(c);
      else c->st = State::kResponse;  // the worker may still answer (or finish its answer)
      return;
    }
    touch(c, s_.timeout_ms);
    c->bout.append(buf, r);
    send_backend(c);
  }

  const RouterSettings& s_;
  const std::vector<Listener>& ls_;
  int id_;
  std::unique_ptr<IoEngine> io_;
  std::list<std::unique_ptr<Conn>> conns_;
  size_t next_backend_ = 0;
  std::vector<Conn*> waiting_;  // connections retrying a full unix listen queue
  unsigned long long requests_ = 0, worker_errors_ = 0, client_errors_ = 0, tx_ = 0;
};

}  // namespace

int run_router(const RouterSettings& s, const std::vector<Listener>& listeners, int id) {
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGQUIT, SIGTERM}) sigaction(sig, &sa, nullptr);
  signal(SIGHUP, SIG_IGN);  // a graceful reload keeps the router
  signal(SIGPIPE, SIG_IGN);
  prctl(PR_SET_PDEATHSIG, SIGINT);  // a master that dies takes its router along
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  Router r(s, listeners, id);
  return r.run();
}

}  // namespace uwsgi
