// One client connection: reads request heads (HTTP or uwsgi), hands each request to the app
// handler as a uwsgi::Request, frames the response, keeps the connection alive when it can.
// Every read and write is non-blocking and waits through the loop engine, so under async cores a
// slow client only suspends its own core.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>
#include <uwsgi/plugin.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "log/request_log.h"
#include "net/listener.h"
#include "net/request_head.h"
#include "net/websocket.h"
#include "routing/routing.h"

namespace uwsgi {

class HostImpl;

struct ServeSettings {
  size_t buffer_size = 4096;       // --buffer-size: the largest request head / uwsgi packet
  int socket_timeout_ms = 30000;   // --socket-timeout: one read or write waiting longer fails
  bool log_requests = true;        // off with --disable-logging (unless a --log-4xx... may log)
  RequestLogConfig log;            // which requests get a line, and its format
  long long limit_post = 0;        // --limit-post: 0 = no limit
  size_t drain_limit = 1 << 20;    // unread body up to this is drained to keep the connection
  WebSocketSettings websocket;
  std::shared_ptr<const RoutingConfig> routing;  // --route*, --add-header...: null when none
  size_t max_vars = 0;             // --max-vars N: at most 2N request variables (0 = no limit)
  int http_modifier1 = -1;         // --http-socket-modifier1/2: HTTP requests' modifiers (-1 = 0)
  int http_modifier2 = -1;
  bool disable_sendfile = false;   // --disable-sendfile: files are sent with pread() + write()
  bool harakiri_no_arh = false;    // --harakiri-no-arh: --harakiri stops before the after-request work
};

// Told about each request's start and end (the worker publishes them in the scoreboard for
// --harakiri and --stats).
class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  virtual void request_start(int core_id, std::string_view uri) = 0;
  virtual void request_end(int core_id, uint64_t duration_us, bool exception) = 0;
};

// Shared by the worker's threads (--threads): atomic.
struct WorkerCounters {
  RequestObserver* observer = nullptr;
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> exceptions{0};
  std::atomic<uint64_t> bad_requests{0};
  std::atomic<uint64_t> bytes_out{0};
};

enum class ServeResult { kClosed, kIdle };

// The peer address accept() returned for fd, so serving it needs no getpeername().
void remember_peer(int fd, const sockaddr* sa);

class Connection final : public Request {
 public:
  Connection(const ServeSettings& s, HostImpl& host, WorkerCounters& counters);

  // Serve requests on fd until it closes (kClosed; the fd is closed) or goes idle between
  // requests with nothing buffered (kIdle; the caller parks the fd and calls serve() again when
  // it is readable). should_close() is asked at each response: true (shutdown, --max-requests)
  // makes it the last one (Connection: close) unless the next request has already arrived.
  ServeResult serve(int fd, const Listener& l, int core_id, const std::function<bool()>& should_close);

  // uwsgi::Request
  size_t var_count() const override { return head_.vars.size(); }
  std::pair<std::string_view, std::string_view> var(size_t i) const override { return head_.vars[i]; }
  std::string_view find_var(std::string_view name) const override { return head_.find(name); }
  // "https" when a TLS front (the router's --https, nginx's uwsgi_param HTTPS on) says so.
  const char* scheme() const override {
    if (listener_ && listener_->proto == Protocol::kHttp) return "http";
    std::string_view h = head_.find("HTTPS");
    return h == "on" || h == "1" || head_.find("UWSGI_SCHEME") == "https" ? "https" : "http";
  }
  long long content_length() const override { return head_.chunked ? -1 : head_.content_length; }
  ssize_t read(char* buf, size_t n) override;
  bool start_response(std::string_view status, const HeaderList& headers) override;
  bool headers_sent() const override { return body_started_; }
  bool write(const void* data, size_t n) override;
  bool sendfile(int fd, off_t offset, size_t len) override;
  const char* error() const override { return error_.c_str(); }
  int fd() const override { return fd_; }
  int core_id() const override { return core_id_; }
  int modifier1() const override { return head_.modifier1; }
  void mark_exception() override;
  void managed_response() override { managed_ = true; }
  // WebSockets (connection_websocket.cc).
  bool websocket_handshake(std::string_view key, std::string_view origin, std::string_view proto) override;
  WsRecv websocket_recv(std::string* msg, bool* binary, bool nonblocking) override;
  bool websocket_send(const void* data, size_t n, bool binary) override;
  bool websocket_close(unsigned code, std::string_view reason) override;

 private:
  // kDeferred: no length known and nothing written yet (becomes kChunked at the first write).
  enum class Framing { kNone, kIdentity, kDeferred, kChunked };
  enum class HeadStatus { kOk, kClosed, kIdle };

  HeadStatus read_head(bool between_requests);
  HeadStatus read_head_until_deadline(bool between_requests);
  void handle_one();
  void reset_request();
  bool finish_response();
  void drain_body();
  void send_error(int status, const char* reason, const std::string& log_msg);
  void close_after_last_response();
  bool next_request_waiting();
  void log_request();
  [[gnu::noinline]] bool route_before_app();

  ssize_t recv_some(char* p, size_t n);
  bool send_iov(struct iovec* iov, int cnt, int flags = 0);
  bool send_str(const std::string& s);
  bool offload_body(int in_fd, off_t offset, size_t len);
  bool copy_file_body(int in_fd, off_t offset, size_t len, bool chunk);
  bool route_error_status(int status);
  bool flush_headers(const char* framing_header, const void* body, size_t n, bool chunk, int flags = 0);
  void fail(const std::string& why);
  void fail_read(const std::string& why);  // fail() on the reading side (%(rerr) of the request log)
  void compact_input();
  [[gnu::noinline]] void reject_too_large();
  [[gnu::noinline]] void reject_too_many_vars();
  [[gnu::noinline]] void reject_chunked_body(int status, const char* reason, const std::string& why);
  void linger_after_error();
  bool answer_error_page(std::string_view status, const std::string& page);
  void linger_then_close_read(size_t max_bytes, int max_ms);
  [[gnu::noinline]] void answer_plain(const char* status, const char* body);
  size_t full_input_size() const;
  void grow_input();
  static constexpr size_t kInitialInput = 512;
  void lookup_peer(int fd);
  bool ws_send_frame(ws::Opcode op, const void* data, size_t n);
  WsRecv ws_event(ws::FrameParser::Event e, std::string* msg, bool* binary);
  WsRecv ws_fail(const std::string& why);
  void websocket_end();

  const ServeSettings& settings_;
  HostImpl& host_;
  WorkerCounters& counters_;
  LoopEngine* loop_ = nullptr;
  const std::function<bool()>* should_close_ = nullptr;  // valid during serve()

  int fd_ = -1;
  int core_id_ = 0;
  const Listener* listener_ = nullptr;
  std::string remote_addr_, remote_port_;

  // Input buffer: [in_pos_, in_len_) are unconsumed bytes (the head, then body, then pipelined).
  std::vector<char> in_;
  size_t in_pos_ = 0, in_len_ = 0;
  RequestHead head_;

  // Body state.
  long long body_left_ = 0;
  bool body_done_ = true;
  // A chunked body's decoding state, made at this connection's first chunked request: most
  // never see one, and every in-flight request keeps its Connection.
  struct ChunkedBody {
    ChunkedDecoder decoder;
    std::string decoded;
    size_t pos = 0;  // next unread byte of decoded
    long long total = 0;  // bytes decoded so far, held to --limit-post
  };
  std::unique_ptr<ChunkedBody> chunked_;
  uint64_t head_deadline_us_ = 0;  // while a request head is read: when --socket-timeout ends it
  bool head_detached_ = false;  // head_ owns its bytes (see read())
  bool continue_sent_ = false;

  // Response state.
  std::string out_;       // status line + headers, without the final CRLF
  Framing framing_ = Framing::kNone;
  bool started_ = false;  // start_response() called
  bool body_started_ = false;
  bool headers_flushed_ = false;
  bool no_body_ = false;
  bool keep_alive_ = false;
  bool aborted_ = false;   // the response cannot be completed: close after it
  bool failed_ = false;    // a socket error or timeout
  bool read_failed_ = false;  // ... while reading the request (else while writing the response)
  bool answered_error_ = false;  // a 4xx for the request body went out (the log keeps its status)
  bool exception_ = false;
  bool offloaded_ = false;  // an offload thread sends the body and owns fd_ (--offload-threads)
  bool error_answered_ = false;  // an --error-route rule answered: the app's response is dropped
  bool managed_ = false;  // the next start_response() is the server's own answer (--error-page-NNN)
  long long declared_length_ = -1;
  long long body_written_ = 0;
  int status_code_ = 0;
  long long head_bytes_ = 0;  // the response head as sent (%(hsize))
  int header_count_ = 0;      // response headers the app gave (%(headers))
  uint64_t start_us_ = 0;
  std::string error_;
  std::unique_ptr<WebSocketState> ws_;  // after a websocket handshake (the connection's last request)
  RouteState route_state_;  // what the routing rules left for this request
};

}  // namespace uwsgi
