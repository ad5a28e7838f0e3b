#include "net/connection.h"

#include <algorithm>
#include <atomic>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "host.h"
#include "log/log.h"
#include "net/error_pages.h"
#include "static/offload.h"
#include "static/static_files.h"

namespace uwsgi {

static uint64_t now_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

Connection::Connection(const ServeSettings& s, HostImpl& host, WorkerCounters& counters)
    : settings_(s), host_(host), counters_(counters) {
  // The input buffer starts empty and takes the size of what arrives (see read_head): a gevent or
  // async worker keeps one Connection per in-flight request, and most request heads are a few
  // hundred bytes or less.
}

static const char kHeadTimeout[] = "request head did not complete within --socket-timeout";

// Where a head is received when nothing is buffered: one recv of up to full_input_size(), then
// only the bytes that came are copied into the connection's own buffer. Shared by every
// connection of the thread; nothing stays in it across a suspension.
static char* scratch_input(size_t n) {
  thread_local std::vector<char> scratch;
  if (scratch.size() < n) scratch.resize(n);
  return scratch.data();
}

size_t Connection::full_input_size() const { return settings_.buffer_size + 1024; }

void Connection::grow_input() {
  size_t full = full_input_size();
  if (in_.size() < full) in_.resize(std::min(full, std::max(in_.size() * 4, kInitialInput)));
}

void Connection::fail_read(const std::string& why) {
  if (!failed_) read_failed_ = true;  // the first failure says which side it was
  fail(why);
}

void Connection::fail(const std::string& why) {
  if (!failed_) error_ = why;
  failed_ = true;
  aborted_ = true;
}

ssize_t Connection::recv_some(char* p, size_t n) {
  for (;;) {
    ssize_t r = ::recv(fd_, p, n, 0);
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      fail_read(std::string("read error: ") + strerror(errno));
      return -1;
    }
    int timeout_ms = settings_.socket_timeout_ms;
    if (head_deadline_us_) {  // a request head: the whole of it, not each byte, has the timeout
      uint64_t now = now_us();
      timeout_ms = now >= head_deadline_us_ ? 0 : (int)std::min<uint64_t>(timeout_ms, (head_deadline_us_ - now + 999) / 1000);
    }
    int w = timeout_ms > 0 ? loop_->wait_fd(fd_, kIoRead, timeout_ms) : 0;
    if (w == 0) {
      fail_read(head_deadline_us_ ? kHeadTimeout : "timeout reading from client");
      return -1;
    }
    if (w < 0) {
      fail_read("error waiting for client data");
      return -1;
    }
  }
}

bool Connection::send_iov(struct iovec* iov, int cnt, int flags) {
  if (failed_) return false;
  msghdr msg{};
  while (cnt > 0) {
    msg.msg_iov = iov;
    msg.msg_iovlen = cnt;
    ssize_t r = ::sendmsg(fd_, &msg, MSG_NOSIGNAL | flags);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        int w = loop_->wait_fd(fd_, kIoWrite, settings_.socket_timeout_ms);
        if (w <= 0) {
          fail(w == 0 ? "timeout writing to client" : "error waiting to write to client");
          return false;
        }
        continue;
      }
      fail(std::string("write error: ") + strerror(errno));
      return false;
    }
    counters_.bytes_out += r;
    while (cnt > 0 && (size_t)r >= iov->iov_len) {
      r -= iov->iov_len;
      iov++;
      cnt--;
    }
    if (cnt > 0) {
      iov->iov_base = (char*)iov->iov_base + r;
      iov->iov_len -= r;
    }
  }
  return true;
}

bool Connection::send_str(const std::string& s) {
  iovec v{(void*)s.data(), s.size()};
  return send_iov(&v, 1);
}

void Connection::compact_input() {
  if (in_pos_ == 0) return;
  if (in_pos_ < in_len_) memmove(in_.data(), in_.data() + in_pos_, in_len_ - in_pos_);
  in_len_ -= in_pos_;
  in_pos_ = 0;
}

void Connection::reset_request() {
  head_.clear();
  body_left_ = 0;
  body_done_ = true;
  if (chunked_) {
    chunked_->decoder.reset();
    chunked_->decoded.clear();
    chunked_->pos = 0;
    chunked_->total = 0;
  }
  head_detached_ = false;
  continue_sent_ = false;
  out_.clear();
  framing_ = Framing::kNone;
  started_ = body_started_ = headers_flushed_ = no_body_ = false;
  keep_alive_ = false;
  aborted_ = failed_ = exception_ = false;
  declared_length_ = -1;
  body_written_ = 0;
  status_code_ = 0;
  answered_error_ = false;
  error_answered_ = false;
  managed_ = false;
  head_bytes_ = 0;
  header_count_ = 0;
  error_.clear();
  route_state_.reset();
}

void Connection::send_error(int status, const char* reason, const std::string& log_msg) {
  counters_.bad_requests++;
  log_line("bad request from %s on %s: %s -> %s", remote_addr_.empty() ? "unix" : remote_addr_.c_str(),
           listener_->spec.c_str(), log_msg.c_str(),
           "answered and closed");
  // uwsgi peers get the same status line: a uwsgi response is an HTTP response, and nginx's
  // uwsgi_pass relays its status to the client (a bare close becomes its 502).
  std::string body = std::string(reason) + "\n";
  std::string resp = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                     "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\nConnection: close\r\n\r\n" + body;
  if (send_str(resp)) linger_after_error();
}

// After an error answer the peer may still be sending (a body, the rest of an oversized
// packet): closed the same way as any connection with bytes unread (see below).
void Connection::linger_after_error() { linger_then_close_read(1 << 20, 1000); }

// The head deadline runs from the start of read_head(): the connection's accept (or its wake-up
// from parking) for the first request, the end of the previous response for the next ones.
Connection::HeadStatus Connection::read_head(bool between_requests) {
  head_deadline_us_ = now_us() + (uint64_t)settings_.socket_timeout_ms * 1000;
  HeadStatus st = read_head_until_deadline(between_requests);
  head_deadline_us_ = 0;
  return st;
}

Connection::HeadStatus Connection::read_head_until_deadline(bool between_requests) {
  const size_t max = settings_.buffer_size;
  for (;;) {
    size_t avail = in_len_ - in_pos_;
    if (avail > 0) {
      ParseError perr;
      ParseResult pr;
      ConnInfo ci{listener_->addr, listener_->port, remote_addr_, remote_port_};
      if (listener_->proto == Protocol::kHttp)
        pr = parse_http_head(in_.data() + in_pos_, avail, max, ci, &head_, &perr);
      else
        pr = parse_uwsgi_packet(in_.data() + in_pos_, avail, max, &head_, &perr);
      if (pr == ParseResult::kComplete) return HeadStatus::kOk;
      if (pr == ParseResult::kError) {
        send_error(perr.http_status, perr.http_status == 431 ? "Request Header Fields Too Large"
                                     : perr.http_status == 413 ? "Payload Too Large"
                                     : perr.http_status == 501 ? "Not Implemented"
                                                               : "Bad Request",
                   perr.message);
        return HeadStatus::kClosed;
      }
      head_.clear();
      if (avail >= max) {
        send_error(431, "Request Header Fields Too Large",
                   "request head larger than --buffer-size " + std::to_string(max));
        return HeadStatus::kClosed;
      }
    }
    compact_input();
    const bool fresh = in_len_ == 0;
    if (!fresh && in_len_ == in_.size()) grow_input();  // a head this large is still under --buffer-size
    char* dst = fresh ? scratch_input(full_input_size()) : in_.data() + in_len_;
    size_t room = fresh ? full_input_size() : in_.size() - in_len_;
    ssize_t r;
    if (between_requests && avail == 0) {
      // Between requests with nothing buffered: take what is already there, else go idle so the
      // loop parks the connection instead of holding a core (or the sync worker) on it.
      r = ::recv(fd_, dst, room, MSG_DONTWAIT);
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return HeadStatus::kIdle;
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return HeadStatus::kClosed;
    } else {
      r = recv_some(dst, room);
    }
    if (fresh && r > 0) {
      // Sized to what came; a buffer left large by an upload or a chunked body is given back
      // when a small request follows, so a core does not keep its largest request's size.
      if (in_.size() < (size_t)r || (in_.size() > 4 * kInitialInput && in_.size() > 4 * (size_t)r))
        std::vector<char>(r).swap(in_);
      memcpy(in_.data(), dst, r);
    }
    if (r < 0) {
      if (in_len_ > 0 || error_ == kHeadTimeout)
        log_line("client %s: %s (%zu bytes of a request head received): closed",
                 remote_addr_.empty() ? "unix" : remote_addr_.c_str(), error_.c_str(), in_len_);
      return HeadStatus::kClosed;
    }
    if (r == 0) {
      if (in_len_ > 0) {
        counters_.bad_requests++;
        log_line("client %s closed the connection in the middle of a request head (%zu bytes)",
                 remote_addr_.c_str(), in_len_);
      }
      return HeadStatus::kClosed;
    }
    in_len_ += r;
  }
}

namespace {
// Peer addresses by fd, so a keep-alive connection woken from parking does not ask the kernel
// again. An entry is dropped when the connection closes here.
struct PeerEntry {
  bool valid = false;
  std::string addr, port;
};

// Entries never move once made, so a worker's threads (--threads) can each use their own fds'
// entries while another thread adds room for a higher fd: chunks of 1,024, made on first use.
class PeerTable {
 public:
  PeerEntry& at(int fd) {
    size_t c = (size_t)fd / kChunk;
    if (c >= kChunks) {  // fds past ~1M: not remembered (getpeername each time)
      overflow_ = PeerEntry{};
      return overflow_;
    }
    PeerEntry* chunk = chunks_[c].load(std::memory_order_acquire);
    if (!chunk) {
      auto* made = new PeerEntry[kChunk];
      if (chunks_[c].compare_exchange_strong(chunk, made, std::memory_order_acq_rel)) {
        chunk = made;
      } else {
        delete[] made;  // another thread made it first: chunk holds theirs
      }
    }
    return chunk[(size_t)fd % kChunk];
  }

 private:
  static constexpr size_t kChunk = 1024, kChunks = 1024;
  std::atomic<PeerEntry*> chunks_[kChunks] = {};
  thread_local static PeerEntry overflow_;
};
thread_local PeerEntry PeerTable::overflow_;

PeerTable g_peers;
}  // namespace

static void fill_peer(PeerEntry& e, const sockaddr* sa) {
  e.addr.clear();
  e.port.clear();
  char h[INET6_ADDRSTRLEN];
  if (sa->sa_family == AF_INET) {
    auto* a = (const sockaddr_in*)sa;
    if (inet_ntop(AF_INET, &a->sin_addr, h, sizeof h)) e.addr = h;
    e.port = std::to_string(ntohs(a->sin_port));
  } else if (sa->sa_family == AF_INET6) {
    auto* a = (const sockaddr_in6*)sa;
    if (inet_ntop(AF_INET6, &a->sin6_addr, h, sizeof h)) e.addr = h;
    e.port = std::to_string(ntohs(a->sin6_port));
  }
  e.valid = true;
}

void remember_peer(int fd, const sockaddr* sa) {
  if (fd < 0) return;
  fill_peer(g_peers.at(fd), sa);
}

void Connection::lookup_peer(int fd) {
  PeerEntry& e = g_peers.at(fd);
  if (!e.valid) {  // not from accept_one (e.g. a loop engine's own accept): ask the kernel
    sockaddr_storage ss{};
    socklen_t sl = sizeof ss;
    if (getpeername(fd, (sockaddr*)&ss, &sl) != 0) ss.ss_family = AF_UNSPEC;
    fill_peer(e, (sockaddr*)&ss);
  }
  remote_addr_ = e.addr;
  remote_port_ = e.port;
}

static void forget_peer(int fd) {
  if (fd >= 0) g_peers.at(fd).valid = false;
}

ServeResult Connection::serve(int fd, const Listener& l, int core_id, const std::function<bool()>& should_close) {
  should_close_ = &should_close;
  fd_ = fd;
  listener_ = &l;
  core_id_ = core_id;
  loop_ = host_.loop_engine();
  in_pos_ = in_len_ = 0;
  ws_.reset();
  offloaded_ = false;
  lookup_peer(fd);
  bool first = true;
  for (;;) {
    reset_request();
    // A new connection (or one woken from parking) has bytes waiting, or will soon.
    HeadStatus hs = read_head(!first);
    if (hs == HeadStatus::kIdle) {
      fd_ = -1;
      return ServeResult::kIdle;
    }
    if (hs == HeadStatus::kClosed) break;
    first = false;
    handle_one();
    // A stopping worker does not close here: its last response said Connection: close unless
    // the client's next request had already arrived (then that one is answered too), and a
    // connection that goes idle after a keep-alive answer is handed back to the loop, which
    // still serves it for a short grace (see close_idle_connections).
    if (!keep_alive_ || aborted_) break;
  }
  forget_peer(fd);
  if (!offloaded_) close_after_last_response();  // else an offload thread owns and closes it
  fd_ = -1;
  return ServeResult::kClosed;
}

// close() with bytes the client sent still unread (a request pipelined after our Connection:
// close answer, an unread body) makes the kernel send a reset, and a reset can destroy the
// response the client has not read yet. Then: FIN first, read and drop what comes until the
// client closes too (bounded), then close.
void Connection::close_after_last_response() {
  int unread = 0;
  if (!failed_ && (in_pos_ < in_len_ || (ioctl(fd_, FIONREAD, &unread) == 0 && unread > 0)))
    linger_then_close_read(settings_.drain_limit, Worker::kStopLingerMs);
  ::close(fd_);
}

// FIN first, then read and drop what the peer sends until it closes too, max_bytes are dropped
// or max_ms pass. Does not close the fd.
void Connection::linger_then_close_read(size_t max_bytes, int max_ms) {
  ::shutdown(fd_, SHUT_WR);
  const uint64_t deadline = now_us() + (uint64_t)max_ms * 1000;
  char tmp[16384];
  for (size_t dropped = 0; dropped < max_bytes;) {
    ssize_t r = ::recv(fd_, tmp, sizeof tmp, MSG_DONTWAIT);
    if (r > 0) {
      dropped += r;
      continue;
    }
    if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return;
    uint64_t now = now_us();
    if (now >= deadline || loop_->wait_fd(fd_, kIoRead, (int)((deadline - now + 999) / 1000)) <= 0) return;
  }
}

// While the worker stops: is the client's next request already here (pipelined in our buffer,
// or in the socket)? Then this response keeps the connection open and that request is answered
// too, instead of being read by nobody.
bool Connection::next_request_waiting() {
  if (!body_done_) return false;  // the rest of this body is still to come: close after it
  if (in_pos_ < in_len_) return true;
  char c;
  return ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

// PEP 3333 wants SCRIPT_NAME and PATH_INFO present (possibly empty); nginx's stock uwsgi_params
// sends no SCRIPT_NAME, which makes wsgiref.validate and some frameworks fail.
static void add_missing_wsgi_vars(RequestHead* h) {
  bool script = false, path = false;
  for (auto& kv : h->vars) {
    if (kv.first == "SCRIPT_NAME") script = true;
    else if (kv.first == "PATH_INFO") path = true;
  }
  if (!script) h->vars.emplace_back("SCRIPT_NAME", std::string_view(""));
  if (!path) h->vars.emplace_back("PATH_INFO", std::string_view(""));
}

// The rare answers of handle_one() live out of line: their temporaries would otherwise widen its
// frame, which is on the stack (and in every suspended greenlet's saved copy) while the app runs.
void Connection::reject_too_large() {
  send_error(413, "Payload Too Large",
             "body of " + std::to_string(head_.content_length) + " bytes exceeds --limit-post");
  keep_alive_ = false;
}

void Connection::reject_too_many_vars() {
  send_error(431, "Request Header Fields Too Large",
             std::to_string(head_.vars.size()) + " request variables exceed --max-vars " +
                 std::to_string(settings_.max_vars / 2) + " (" + std::to_string(settings_.max_vars) + " variables)");
  keep_alive_ = false;
}

// A chunked body found bad (malformed, or past --limit-post) while the app reads it: the error
// status if nothing of the response went out yet, else a log line; either way the read fails
// and the connection is closed.
void Connection::reject_chunked_body(int status, const char* reason, const std::string& why) {
  keep_alive_ = false;
  if (!headers_flushed_) {
    send_error(status, reason, why);
    status_code_ = status;
    answered_error_ = true;
  } else {
    log_line("client %s: %s after the response started: closing the connection", remote_addr_.c_str(),
             why.c_str());
  }
  fail(why);
}

void Connection::answer_plain(const char* status, const char* body) {
  start_response(status, {{"Content-Type", "text/plain"}});
  write(body, strlen(body));
}

void Connection::handle_one() {
  start_us_ = now_us();
  in_pos_ += head_.head_len;
  keep_alive_ = head_.keep_alive && listener_->proto == Protocol::kHttp;
  if (listener_->proto != Protocol::kHttp) add_missing_wsgi_vars(&head_);
  if (head_.chunked) {
    body_done_ = false;
  } else {
    body_left_ = head_.content_length;
    body_done_ = body_left_ == 0;
  }
  std::string_view method = head_.find("REQUEST_METHOD");
  no_body_ = method == "HEAD";
  if (settings_.limit_post > 0 && head_.content_length > settings_.limit_post) {
    reject_too_large();
    return;
  }
  if (settings_.max_vars && head_.vars.size() > settings_.max_vars) {
    reject_too_many_vars();
    return;
  }
  if (listener_->proto == Protocol::kHttp) {  // HTTP carries no modifiers: --http-socket-modifier1/2
    if (settings_.http_modifier1 >= 0) head_.modifier1 = (uint8_t)settings_.http_modifier1;
    if (settings_.http_modifier2 >= 0) head_.modifier2 = (uint8_t)settings_.http_modifier2;
  }
  counters_.requests++;
  // Counts this request towards --max-requests (the answer says whether to close: see
  // start_response).
  if (should_close_ && *should_close_) (*should_close_)();
  if (counters_.observer) counters_.observer->request_start(core_id_, head_.find("REQUEST_URI"));
  AppHandler* h = host_.app_handler(head_.modifier1);
  // Routing rules first (uWSGI's order), then --static-map files, then the app.
  if (settings_.routing && routing_has_request_rules(*settings_.routing) && route_before_app()) {
    // answered by a routing rule (or to be closed unanswered)
  } else if (serve_static_request(*this)) {
    // answered from --static-map/--check-static files, never through the app
  } else if (!h) {
    log_line("no application handler for modifier1 %d (is the python plugin loaded?)", head_.modifier1);
    answer_plain("503 Service Unavailable", "no application handler\n");
  } else {
    h->handle(*this);
  }
  if (ws_) websocket_end();
  if (!started_ && !aborted_) {
    log_line("the application returned no response for %.*s", (int)head_.find("REQUEST_URI").size(),
             head_.find("REQUEST_URI").data());
    managed_ = true;
    answer_plain("500 Internal Server Error", "Internal Server Error\n");
  }
  if (!finish_response()) keep_alive_ = false;
  if (keep_alive_ && !body_done_) drain_body();
  // --harakiri-no-arh: the request ends (for --harakiri and the stats) before the after-request
  // work (final routing rules, the log line) instead of after it.
  const bool end_before_after_request = settings_.harakiri_no_arh;
  if (end_before_after_request && counters_.observer)
    counters_.observer->request_end(core_id_, now_us() - start_us_, exception_);
  if (settings_.routing && routing_has_final_rules(*settings_.routing))
    route_final(*settings_.routing, head_, route_state_, status_code_, host_.worker_id());
  if (settings_.log_requests && !route_state_.donotlog) log_request();
  if (!end_before_after_request && counters_.observer)
    counters_.observer->request_end(core_id_, now_us() - start_us_, exception_);
}

// The request chain of the routing rules, before the app: true when it answered the request
// (redirect, return, static, basicauth...) or wants the connection closed unanswered (break:).
bool Connection::route_before_app() {
  RouteOutcome o = route_request(*settings_.routing, head_, *this, route_state_, host_.worker_id());
  if (o == RouteOutcome::kApp) return false;
  if (o == RouteOutcome::kClose) {
    keep_alive_ = false;
    aborted_ = true;
    status_code_ = 500;  // logged as uWSGI does: nothing was sent
  }
  return true;
}

// --error-route*: the error chain, once per request, for a status >= 400 before its head is
// built. true: a rule answered (or break: closes the connection) and the response the app is
// starting is dropped, body included.
bool Connection::route_error_status(int status) {
  route_state_.error_routed = true;
  RouteOutcome o = route_error(*settings_.routing, head_, *this, route_state_, status, host_.worker_id());
  if (o == RouteOutcome::kApp) return false;
  if (o == RouteOutcome::kClose || !started_) {
    keep_alive_ = false;
    aborted_ = true;
    started_ = true;
    status_code_ = status;
  }
  error_answered_ = true;
  return true;
}

// --error-page-NNN: the server's own answer with that status gets the page as its body
// (text/html, as uWSGI); what its caller then writes goes nowhere, as after an --error-route
// answer.
bool Connection::answer_error_page(std::string_view status, const std::string& page) {
  if (!start_response(status, {{"Content-Type", "text/html"}, {"Content-Length", std::to_string(page.size())}}))
    return false;
  if (!write(page.data(), page.size())) return false;
  error_answered_ = true;
  return true;
}

void Connection::mark_exception() {
  exception_ = true;
  counters_.exceptions++;
  if (body_started_) aborted_ = true;  // a truncated response must not look complete
}

// ---- request body --------------------------------------------------------------------------

ssize_t Connection::read(char* buf, size_t n) {
  if (failed_) return -1;
  if (n == 0 || body_done_) return 0;
  if (head_.expect_continue && !continue_sent_ && !body_started_ && listener_->proto == Protocol::kHttp &&
      in_pos_ == in_len_) {
    continue_sent_ = true;
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    iovec v{(void*)cont, sizeof cont - 1};
    if (!send_iov(&v, 1)) return -1;
  }
  if (!head_.chunked) {
    size_t want = (size_t)std::min<long long>((long long)n, body_left_);
    size_t avail = in_len_ - in_pos_;
    ssize_t got;
    if (avail > 0) {
      got = std::min(want, avail);
      memcpy(buf, in_.data() + in_pos_, got);
      in_pos_ += got;
    } else {
      got = recv_some(buf, want);  // straight into the caller's buffer: no copy for big uploads
      if (got < 0) return -1;
      if (got == 0) {
        fail_read("client closed the connection with " + std::to_string(body_left_) + " body bytes missing");
        return -1;
      }
    }
    body_left_ -= got;
    if (body_left_ == 0) body_done_ = true;
    return got;
  }
  // Chunked: decode from the input buffer, refilling it as needed.
  if (!chunked_) chunked_ = std::make_unique<ChunkedBody>();
  ChunkedDecoder& dechunk = chunked_->decoder;
  std::string& decoded = chunked_->decoded;
  size_t& decoded_pos = chunked_->pos;
  while (decoded_pos >= decoded.size() && !dechunk.done()) {
    decoded.clear();
    decoded_pos = 0;
    if (in_pos_ == in_len_) {
      if (!head_detached_) {
        // The refill overwrites (and may move) the bytes the head's views point into; the log
        // line and the stats still need them.
        head_.detach(in_.data(), in_.data() + in_.size());
        head_detached_ = true;
        in_.resize(full_input_size());
      }
      in_pos_ = in_len_ = 0;
      ssize_t r = recv_some(in_.data(), in_.size());
      if (r < 0) return -1;
      if (r == 0) {
        fail_read("client closed the connection in the middle of a chunked body");
        return -1;
      }
      in_len_ = r;
    }
    size_t used = dechunk.feed(in_.data() + in_pos_, in_len_ - in_pos_, &decoded);
    in_pos_ += used;
    if (dechunk.failed()) {
      reject_chunked_body(400, "Bad Request", "malformed chunked body: " + dechunk.error());
      return -1;
    }
    // --limit-post holds for the de-chunked length too: checked before any of it reaches the app.
    chunked_->total += (long long)decoded.size();
    if (settings_.limit_post > 0 && chunked_->total > settings_.limit_post) {
      reject_chunked_body(413, "Payload Too Large",
                          "chunked body passed --limit-post " + std::to_string(settings_.limit_post) + " bytes");
      return -1;
    }
  }
  size_t avail = decoded.size() - decoded_pos;
  if (avail == 0) {
    body_done_ = true;
    return 0;
  }
  size_t got = std::min(n, avail);
  memcpy(buf, decoded.data() + decoded_pos, got);
  decoded_pos += got;
  if (decoded_pos == decoded.size() && dechunk.done()) body_done_ = true;
  return got;
}

void Connection::drain_body() {
  char tmp[16384];
  size_t drained = 0;
  while (!body_done_ && !failed_) {
    if (!head_.chunked && body_left_ > (long long)(settings_.drain_limit - drained)) {
      keep_alive_ = false;  // too much left to read: closing is cheaper
      return;
    }
    ssize_t r = read(tmp, sizeof tmp);
    if (r <= 0) break;
    drained += r;
    if (drained > settings_.drain_limit) {
      keep_alive_ = false;
      return;
    }
  }
  if (!body_done_) keep_alive_ = false;
}

// ---- response ------------------------------------------------------------------------------

static bool header_is(const std::string& name, const char* want) {
  return strcasecmp(name.c_str(), want) == 0;
}

static bool has_bad_chars(const std::string& s) {
  for (char c : s)
    if (c == '\r' || c == '\n' || c == 0) return true;
  return false;
}

bool Connection::start_response(std::string_view status, const HeaderList& app_headers) {
  if (ws_) return true;  // after a websocket handshake the HTTP response is over: ignored
  if (body_started_) {
    error_ = "start_response called after the response body started";
    return false;
  }
  if (status.size() < 3 || !isdigit((unsigned char)status[0]) || !isdigit((unsigned char)status[1]) ||
      !isdigit((unsigned char)status[2]) || (status.size() > 3 && status[3] != ' ')) {
    error_ = "invalid status \"" + std::string(status) + "\"";
    return false;
  }
  for (char c : status)
    if (c == '\r' || c == '\n') {
      error_ = "invalid status (contains a line break)";
      return false;
    }
  if (error_answered_) return true;  // an --error-route rule answered instead: this goes nowhere
  int code = (status[0] - '0') * 100 + (status[1] - '0') * 10 + (status[2] - '0');
  bool managed = managed_;  // taken now: an error-route answer below is not the server's own
  managed_ = false;
  if (code >= 400 && settings_.routing && !answered_error_ && !route_state_.error_routed &&
      routing_has_error_rules(*settings_.routing) && route_error_status(code))
    return true;
  if (managed && !answered_error_)  // after a 413 sent for the body, nothing more goes out
    if (const std::string* page = error_page(code)) return answer_error_page(status, *page);
  // After a 4xx sent for the body (413, 400), the app's own answer to the failed read goes
  // nowhere: the log keeps the status the client got.
  if (!answered_error_) status_code_ = (status[0] - '0') * 100 + (status[1] - '0') * 10 + (status[2] - '0');
  // --add-header, --del-header, addheader:/delheader: and the response chain of the routing rules.
  const HeaderList& headers = settings_.routing ? route_response(*settings_.routing, head_, route_state_, status_code_,
                                                                 app_headers, host_.worker_id())
                                                : app_headers;
  header_count_ = (int)headers.size();
  out_.clear();
  out_.append(listener_->proto == Protocol::kHttp ? "HTTP/1.1 " : "HTTP/1.1 ");
  out_.append(status.data(), status.size());
  if (status.size() == 3) out_.append(" ");
  declared_length_ = -1;
  bool app_chunked = false;
  for (auto& h : headers) {
    if (h.first.empty() || has_bad_chars(h.first) || has_bad_chars(h.second) ||
        h.first.find(':') != std::string::npos) {
      error_ = "invalid response header \"" + h.first + "\"";
      return false;
    }
    if (header_is(h.first, "Content-Length")) {
      char* end = nullptr;
      long long v = strtoll(h.second.c_str(), &end, 10);
      if (h.second.empty() || *end || v < 0) {
        error_ = "invalid Content-Length \"" + h.second + "\"";
        return false;
      }
      declared_length_ = v;
    } else if (header_is(h.first, "Transfer-Encoding")) {
      app_chunked = true;
    } else if (header_is(h.first, "Connection")) {
      if (strcasecmp(h.second.c_str(), "close") == 0) keep_alive_ = false;
      continue;  // we say it ourselves below
    }
    out_.append("\r\n");
    out_.append(h.first);
    out_.append(": ");
    out_.append(h.second);
  }
  // A client that asked for "100 Continue" and was never given it will not send its body: the
  // drain after the response would wait for it until --socket-timeout. Close instead.
  if (head_.expect_continue && !continue_sent_ && !body_done_) keep_alive_ = false;
  // The worker is stopping, or this request reached --max-requests: say so in this response
  // rather than closing a connection the client believes is still open (unless its next
  // request is already here: that one is answered first).
  if (keep_alive_ && should_close_ && *should_close_ && (*should_close_)() && !next_request_waiting())
    keep_alive_ = false;
  bool bodyless_status = status_code_ < 200 || status_code_ == 204 || status_code_ == 304;
  if (no_body_ || bodyless_status) {
    framing_ = Framing::kNone;
  } else if (declared_length_ >= 0 || app_chunked) {
    framing_ = Framing::kIdentity;
  } else if (listener_->proto != Protocol::kHttp || head_.http_minor == 0) {
    framing_ = Framing::kIdentity;  // delimited by closing the connection
    keep_alive_ = false;
  } else {
    framing_ = Framing::kDeferred;
  }
  if (listener_->proto == Protocol::kHttp) {
    if (!keep_alive_ && head_.http_minor == 1) out_.append("\r\nConnection: close");
    else if (keep_alive_ && head_.http_minor == 0) out_.append("\r\nConnection: keep-alive");
  }
  if (bodyless_status && !no_body_) declared_length_ = 0;
  started_ = true;
  return true;
}

// Sends the header block with an optional framing header and an optional first body piece.
bool Connection::flush_headers(const char* framing_header, const void* body, size_t n, bool chunk, int flags) {
  out_.append("\r\n");
  if (framing_header) out_.append(framing_header);
  out_.append("\r\n");
  headers_flushed_ = true;
  head_bytes_ = (long long)out_.size();
  char chunk_head[32];
  iovec v[4];
  int c = 0;
  v[c++] = {(void*)out_.data(), out_.size()};
  if (n > 0) {
    if (chunk) {
      int l = snprintf(chunk_head, sizeof chunk_head, "%zx\r\n", n);
      v[c++] = {chunk_head, (size_t)l};
    }
    v[c++] = {(void*)body, n};
    if (chunk) v[c++] = {(void*)"\r\n", 2};
  }
  return send_iov(v, c, flags);
}

bool Connection::write(const void* data, size_t n) {
  if (error_answered_) return true;
  if (!started_) {
    error_ = "write() before start_response()";
    return false;
  }
  if (failed_) return false;
  body_started_ = true;
  if (n == 0) return true;
  body_written_ += n;
  switch (framing_) {
    case Framing::kNone:
      if (!headers_flushed_) return flush_headers(nullptr, nullptr, 0, false);
      return true;
    case Framing::kIdentity: {
      if (declared_length_ >= 0 && body_written_ > declared_length_) {
        // Never send more than declared: the extra would be read as the next response.
        size_t over = body_written_ - declared_length_;
        n = over >= n ? 0 : n - over;
        body_written_ = declared_length_;
        aborted_ = true;
        log_line("response body longer than its Content-Length (%lld): truncated", declared_length_);
      }
      if (!headers_flushed_) return flush_headers(nullptr, data, n, false);
      iovec v{(void*)data, n};
      return n == 0 || send_iov(&v, 1);
    }
    case Framing::kDeferred:
      // The first body piece goes out at once, chunked, in the same syscall as the headers:
      // holding it back to compute a Content-Length would stall streaming responses (an app
      // that yields a chunk and then sleeps). Apps returning a list already get a length from
      // the language plugin.
      framing_ = Framing::kChunked;
      return flush_headers("Transfer-Encoding: chunked\r\n", data, n, true);
    case Framing::kChunked:
      break;
  }
  char chunk_head[32];
  int l = snprintf(chunk_head, sizeof chunk_head, "%zx\r\n", n);
  iovec v[3] = {{chunk_head, (size_t)l}, {(void*)data, n}, {(void*)"\r\n", 2}};
  return send_iov(v, 3);
}

bool Connection::sendfile(int in_fd, off_t offset, size_t len) {
  if (error_answered_) return true;
  if (!started_) {
    error_ = "sendfile before start_response()";
    return false;
  }
  if (failed_) return false;
  body_started_ = true;
  if (len == 0) return true;
  if (framing_ == Framing::kNone) return headers_flushed_ || flush_headers(nullptr, nullptr, 0, false);
  bool chunk = false;
  if (framing_ == Framing::kDeferred) {
    framing_ = Framing::kChunked;
    if (!flush_headers("Transfer-Encoding: chunked\r\n", nullptr, 0, true)) return false;
  }
  if (framing_ == Framing::kChunked) {
    chunk = true;
    char chunk_head[32];
    int l = snprintf(chunk_head, sizeof chunk_head, "%zx\r\n", len);
    iovec v{chunk_head, (size_t)l};
    if (!send_iov(&v, 1)) return false;
  } else if (!headers_flushed_) {
    if (offload_enabled() && !settings_.disable_sendfile && len >= kOffloadMinBytes && body_done_ && body_written_ == 0 &&
        declared_length_ == (long long)len && offload_body(in_fd, offset, len))
      return true;
    // MSG_MORE: the head leaves with the file's first bytes instead of in a packet of its own.
    if (failed_ || (!headers_flushed_ && !flush_headers(nullptr, nullptr, 0, false, MSG_MORE))) return false;
  }
  if (settings_.disable_sendfile) return copy_file_body(in_fd, offset, len, chunk);
  size_t left = len;
  while (left > 0) {
    ssize_t r = ::sendfile(fd_, in_fd, &offset, left);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        int w = loop_->wait_fd(fd_, kIoWrite, settings_.socket_timeout_ms);
        if (w <= 0) {
          fail("timeout sending a file to the client");
          return false;
        }
        continue;
      }
      fail(std::string("sendfile error: ") + strerror(errno));
      return false;
    }
    if (r == 0) {
      fail("file shorter than announced");
      return false;
    }
    left -= r;
    counters_.bytes_out += r;
  }
  body_written_ += len;
  if (chunk) return send_str("\r\n");
  return true;
}

// --disable-sendfile: the file's bytes go through a buffer, pread() and the socket's writes.
bool Connection::copy_file_body(int in_fd, off_t offset, size_t len, bool chunk) {
  std::vector<char> buf(std::min(len, (size_t)64 * 1024));
  size_t left = len;
  while (left > 0) {
    ssize_t r = ::pread(in_fd, buf.data(), std::min(left, buf.size()), offset);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      fail(r == 0 ? "file shorter than announced" : std::string("read error: ") + strerror(errno));
      return false;
    }
    iovec v{buf.data(), (size_t)r};
    if (!send_iov(&v, 1)) return false;
    offset += r;
    left -= (size_t)r;
  }
  body_written_ += len;
  if (chunk) return send_str("\r\n");
  return true;
}

// The whole body is this one file: the headers go out now (saying Connection: close, as the
// offload thread closes the connection after the body) and an offload thread sends the file.
bool Connection::offload_body(int in_fd, off_t offset, size_t len) {
  int file = fcntl(in_fd, F_DUPFD_CLOEXEC, 0);  // the caller closes its own fd when we return
  if (file < 0) return false;
  if (keep_alive_) {
    keep_alive_ = false;
    static const char kKeepAlive[] = "\r\nConnection: keep-alive";  // what start_response added for 1.0
    if (out_.ends_with(kKeepAlive)) out_.resize(out_.size() - (sizeof kKeepAlive - 1));
    else if (listener_->proto == Protocol::kHttp && head_.http_minor == 1) out_.append("\r\nConnection: close");
  }
  if (!flush_headers(nullptr, nullptr, 0, false)) {
    ::close(file);
    return false;
  }
  if (!offload_send_file(fd_, file, offset, len)) {  // no thread: the core sends it after all
    ::close(file);
    return false;
  }
  offloaded_ = true;
  body_written_ += (long long)len;
  counters_.bytes_out += len;
  return true;
}

bool Connection::finish_response() {
  if (failed_) return false;
  if (aborted_) return false;  // the app failed mid-response: close without completing it
  switch (framing_) {
    case Framing::kNone:
      return headers_flushed_ || flush_headers(nullptr, nullptr, 0, false);
    case Framing::kIdentity:
      if (!headers_flushed_ && !flush_headers(nullptr, nullptr, 0, false)) return false;
      if (declared_length_ >= 0 && body_written_ < declared_length_) {
        log_line("response shorter (%lld bytes) than its Content-Length (%lld): closing the connection",
                 body_written_, declared_length_);
        return false;
      }
      return declared_length_ >= 0;  // otherwise the body ends when the connection closes
    case Framing::kDeferred:  // no body was written at all
      return flush_headers("Content-Length: 0\r\n", nullptr, 0, false);
    case Framing::kChunked: {
      static const std::string last = "0\r\n\r\n";
      return send_str(last);
    }
  }
  return true;
}

static std::string_view find_request_var(const void* ctx, std::string_view name) {
  return static_cast<const RequestHead*>(ctx)->find(name);
}

void Connection::log_request() {
  const RequestLogConfig& lc = settings_.log;
  uint64_t end = now_us();
  uint64_t us = end - start_us_;
  if (!lc.wants(status_code_, us / 1000, body_written_)) return;
  // The request's REMOTE_ADDR, as uWSGI logs it: behind the --http router or nginx (uwsgi
  // protocol) the peer is the proxy, the client is in the packet.
  std::string_view addr = head_.find("REMOTE_ADDR");
  if (addr.empty()) addr = remote_addr_;
  if (lc.x_forwarded_for) {
    std::string_view xff = head_.find("HTTP_X_FORWARDED_FOR");
    if (!xff.empty()) addr = xff;
  }
  thread_local std::string line;  // reused: no allocation per request
  line.clear();
  if (lc.format) {
    RequestLogData d;
    d.find_var = find_request_var;
    d.ctx = &head_;
    d.addr = addr;
    d.proto = head_.find("SERVER_PROTOCOL");
    if (d.proto.empty()) d.proto = head_.http_minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
    d.status = status_code_;
    d.body_bytes = body_written_;
    d.head_bytes = head_bytes_;
    d.headers = header_count_;
    timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    d.end_us = (uint64_t)wall.tv_sec * 1000000 + wall.tv_nsec / 1000;
    d.start_us = d.end_us - us;
    d.pid = log_pid();
    d.wid = host_.worker_id();
    d.core = core_id_;
    d.vars = head_.vars.size();
    for (auto& kv : head_.vars) d.pktsize += 4 + kv.first.size() + kv.second.size();
    d.modifier1 = head_.modifier1;
    d.modifier2 = head_.modifier2;
    d.content_length = head_.chunked ? 0 : head_.content_length;
    d.ioerr = failed_ ? 1 : 0;
    d.rerr = read_failed_ ? 1 : 0;
    d.werr = failed_ && !read_failed_ ? 1 : 0;
    d.find_logvar = [](const void* ctx, std::string_view name) {
      return static_cast<const RouteState*>(ctx)->logvar(name);
    };
    d.logvar_ctx = &route_state_;
    line.reserve(256);
    lc.format->render(d, &line);
    log_request_line(line);
    return;
  }
  if (lc.memory_report) {
    long long rss, vsz;
    process_memory(&rss, &vsz);
    char b[160];
    int n = snprintf(b, sizeof b, "{address space usage: %lld bytes/%lldMB} {rss usage: %lld bytes/%lldMB} ", vsz,
                     vsz / (1024 * 1024), rss, rss / (1024 * 1024));
    line.assign(b, n);
  }
  std::string_view method = head_.find("REQUEST_METHOD");
  std::string_view uri = head_.find("REQUEST_URI");
  if (uri.empty()) uri = head_.find("PATH_INFO");
  // Appends, not snprintf: this runs for every request.
  auto num = [](std::string& out, long long v) {
    char b[24];
    auto r = std::to_chars(b, b + sizeof b, v);
    out.append(b, r.ptr - b);
  };
  line.append("[pid: ");
  num(line, log_pid());
  line.append("|core: ");
  num(line, core_id_);
  line.append("] ");
  line.append(addr.empty() ? std::string_view("-") : addr);
  line.append(" {");
  num(line, (long long)head_.vars.size());
  line.append(" vars} ");
  line.append(method.data(), method.size());
  line.push_back(' ');
  line.append(uri.data(), uri.size());
  line.append(" => generated ");
  num(line, body_written_);
  line.append(" bytes in ");
  num(line, (long long)(lc.micros ? us : us / 1000));
  line.append(lc.micros ? " micros" : " msecs");
  line.append(head_.http_minor == 0 ? " (HTTP/1.0 " : " (HTTP/1.1 ");
  num(line, status_code_);
  line.push_back(')');
  if (exception_ && !failed_) line.append(" [exception]");
  if (failed_) line.append(" [" + error_ + "]");
  log_request_line(line);
}

}  // namespace uwsgi
