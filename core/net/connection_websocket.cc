// A Connection after a websocket handshake: frames in and out on the same non-blocking socket,
// waiting through the loop engine like every other read and write.
#include <sys/socket.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include "log/log.h"
#include "net/connection.h"

namespace uwsgi {

static uint64_t ws_now_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

// Where frames are received: shared by the thread's connections, and never holding bytes across
// a suspension (what an event leaves unparsed moves to the connection's own buffer first).
static char* ws_scratch(size_t n) {
  thread_local std::vector<char> scratch;
  if (scratch.size() < n) scratch.resize(n);
  return scratch.data();
}
static constexpr size_t kWsRead = 64 * 1024;

static bool has_line_break(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

bool Connection::websocket_handshake(std::string_view key, std::string_view origin, std::string_view proto) {
  if (ws_) {
    error_ = "the websocket handshake was already done";
    return false;
  }
  if (headers_flushed_ || body_started_) {
    error_ = "the response already started: too late for a websocket handshake";
    return false;
  }
  if (key.empty() || has_line_break(key) || has_line_break(origin) || has_line_break(proto)) {
    error_ = key.empty() ? "no Sec-WebSocket-Key in the request" : "invalid websocket handshake value";
    return false;
  }
  std::string resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: " + ws::accept_key(key) + "\r\n";
  if (!origin.empty()) resp.append("Sec-WebSocket-Origin: ").append(origin).append("\r\n");
  if (!proto.empty()) resp.append("Sec-WebSocket-Protocol: ").append(proto).append("\r\n");
  resp.append("\r\n");
  // The response is complete as far as HTTP goes: what the app returns afterwards is dropped,
  // and the connection closes when the request ends.
  status_code_ = 101;
  started_ = body_started_ = headers_flushed_ = true;
  framing_ = Framing::kNone;
  keep_alive_ = false;
  head_bytes_ = (long long)resp.size();
  body_done_ = true;
  // Frames are received into the input buffer the head's views point into: the log line at the
  // end still needs them.
  if (!head_detached_) {
    head_.detach(in_.data(), in_.data() + in_.size());
    head_detached_ = true;
  }
  if (!send_str(resp)) return false;
  ws_ = std::make_unique<WebSocketState>(settings_.websocket.max_size);
  ws_->next_ping_us = ws_now_us() + (uint64_t)settings_.websocket.ping_freq_s * 1000000;
  return true;
}

bool Connection::ws_send_frame(ws::Opcode op, const void* data, size_t n) {
  WebSocketState& ws = *ws_;
  uint8_t h[10];
  size_t hl = ws::frame_header(h, op, n);
  std::unique_lock<std::mutex> lk(ws.send_mu);
  if (ws.failed || ws.close_sent) {
    error_ = ws.failed ? ws.why : "the websocket is closing (a close frame was sent)";
    return false;
  }
  if (op == ws::kClose) ws.close_sent = true;
  if (ws.sending) {  // another core or thread is writing: it sends this too, after its own frame
    ws.queued.append(reinterpret_cast<char*>(h), hl);
    ws.queued.append(static_cast<const char*>(data), n);
    return true;
  }
  ws.sending = true;
  lk.unlock();
  iovec v[2] = {{h, hl}, {const_cast<void*>(data), n}};
  bool ok = send_iov(v, n ? 2 : 1);
  lk.lock();
  while (ok && !ws.queued.empty()) {
    std::string q;
    q.swap(ws.queued);
    lk.unlock();
    ok = send_str(q);
    lk.lock();
  }
  if (!ok) {
    ws.failed = true;
    ws.why = error_;
    ws.queued.clear();
  }
  ws.sending = false;
  return ok;
}

Request::WsRecv Connection::ws_fail(const std::string& why) {
  WebSocketState& ws = *ws_;
  {
    std::lock_guard<std::mutex> lk(ws.send_mu);
    ws.failed = true;
    ws.why = why;
  }
  error_ = why;
  return WsRecv::kError;
}

// One parser event: kNone when it was handled here (a ping answered, a pong noted).
Request::WsRecv Connection::ws_event(ws::FrameParser::Event e, std::string* msg, bool* binary) {
  WebSocketState& ws = *ws_;
  using Ev = ws::FrameParser::Event;
  switch (e) {
    case Ev::kMessage:
      *binary = ws.parser.binary();
      *msg = ws.parser.take_payload();
      return WsRecv::kMessage;
    case Ev::kPing: {
      std::string p = ws.parser.take_payload();
      if (!ws.close_sent && !ws_send_frame(ws::kPong, p.data(), p.size())) return ws_fail(error_);
      return WsRecv::kNone;
    }
    case Ev::kPong:
      ws.pong_deadline_us = 0;
      return WsRecv::kNone;
    case Ev::kClose: {
      unsigned code = ws.parser.close_code();
      std::string reason = ws.parser.take_payload();
      ws.close_received = true;
      // Answered with the same code (none if it gave none), unless we closed first.
      std::string p = code == ws::kCloseNoStatus ? std::string() : ws::close_payload(code, "");
      if (!ws.close_sent) ws_send_frame(ws::kClose, p.data(), p.size());
      ws.why = "websocket closed by the peer (code " + std::to_string(code) + (reason.empty() ? "" : ", ") + reason + ")";
      error_ = ws.why;
      return WsRecv::kClosed;
    }
    case Ev::kError: {
      const std::string& why = ws.parser.error();
      log_line("websocket from %s: %s: closing with %u", remote_addr_.empty() ? "unix" : remote_addr_.c_str(),
               why.c_str(), ws.parser.error_code());
      std::string p = ws::close_payload(ws.parser.error_code(), why);
      if (!ws.close_sent) ws_send_frame(ws::kClose, p.data(), p.size());
      return ws_fail("websocket protocol error: " + why);
    }
    case Ev::kNeedMore:
      break;
  }
  return WsRecv::kNone;
}

Request::WsRecv Connection::websocket_recv(std::string* msg, bool* binary, bool nonblocking) {
  if (!ws_) {
    error_ = "no websocket handshake was done on this request";
    return WsRecv::kError;
  }
  WebSocketState& ws = *ws_;
  const WebSocketSettings& st = settings_.websocket;
  // Sleep until data, the next ping or the pong deadline (never 0: poll would not wait).
  auto wait_readable = [&](uint64_t now) {
    uint64_t until = UINT64_MAX;
    if (st.ping_freq_s > 0) until = ws.next_ping_us;
    if (ws.pong_deadline_us) until = std::min(until, ws.pong_deadline_us);
    int timeout_ms = until == UINT64_MAX ? -1 : (int)std::max<uint64_t>(1, (until - std::min(until, now) + 999) / 1000);
    return loop_->wait_fd(fd_, kIoRead, timeout_ms) >= 0;
  };
  for (;;) {
    if (ws.failed || ws.close_received) {
      error_ = ws.why;
      return ws.failed ? WsRecv::kError : WsRecv::kClosed;
    }
    // Bytes already here: what followed the request head, or what an earlier event left.
    while (in_pos_ < in_len_) {
      size_t used = 0;
      auto e = ws.parser.feed(in_.data() + in_pos_, in_len_ - in_pos_, &used);
      in_pos_ += used;
      if (e == ws::FrameParser::Event::kNeedMore) break;
      WsRecv r = ws_event(e, msg, binary);
      if (r != WsRecv::kNone) return r;
    }
    uint64_t now = ws_now_us();
    if (ws.pong_deadline_us && now >= ws.pong_deadline_us)
      return ws_fail("no PONG received in " + std::to_string(st.pong_tolerance_s) + " seconds");
    if (st.ping_freq_s > 0 && now >= ws.next_ping_us) {
      if (!ws_send_frame(ws::kPing, "", 0)) return ws_fail(error_);
      ws.next_ping_us = now + (uint64_t)st.ping_freq_s * 1000000;
      if (!ws.pong_deadline_us && st.pong_tolerance_s > 0)
        ws.pong_deadline_us = now + (uint64_t)st.pong_tolerance_s * 1000000;
    }
    if (ws.drained && !nonblocking) {  // saves a read that would find nothing, per message
      ws.drained = false;
      if (!wait_readable(now)) return ws_fail("error waiting for websocket data");
      continue;
    }
    char* buf = ws_scratch(kWsRead);
    ssize_t r = ::recv(fd_, buf, kWsRead, MSG_DONTWAIT);
    ws.drained = r > 0 && (size_t)r < kWsRead;
    if (r > 0) {
      size_t pos = 0;
      while (pos < (size_t)r) {
        size_t used = 0;
        auto e = ws.parser.feed(buf + pos, r - pos, &used);
        pos += used;
        if (e == ws::FrameParser::Event::kNeedMore) break;
        // Keep the rest in the connection's buffer before anything may suspend.
        size_t rest = r - pos;
        if (in_.size() < rest) in_.resize(rest);
        memcpy(in_.data(), buf + pos, rest);
        in_pos_ = 0;
        in_len_ = rest;
        pos = r;
        WsRecv x = ws_event(e, msg, binary);
        if (x != WsRecv::kNone) return x;
      }
      continue;
    }
    if (r == 0) return ws_fail("the peer closed the connection without a close frame");
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return ws_fail(std::string("websocket read error: ") + strerror(errno));
    if (nonblocking) return WsRecv::kNone;
    if (!wait_readable(now)) return ws_fail("error waiting for websocket data");
  }
}

bool Connection::websocket_send(const void* data, size_t n, bool binary) {
  if (!ws_) {
    error_ = "no websocket handshake was done on this request";
    return false;
  }
  return ws_send_frame(binary ? ws::kBinary : ws::kText, data, n);
}

bool Connection::websocket_close(unsigned code, std::string_view reason) {
  if (!ws_) {
    error_ = "no websocket handshake was done on this request";
    return false;
  }
  if (ws_->close_sent) return true;
  std::string p = ws::close_payload(code, reason);
  return ws_send_frame(ws::kClose, p.data(), p.size());
}

// The request ended: close the websocket properly (our close frame unless one went, then wait a
// little for the peer's, which ends the handshake) before the connection is closed.
void Connection::websocket_end() {
  WebSocketState& ws = *ws_;
  if (ws.failed) return;
  if (!ws.close_sent) {
    std::string p = ws::close_payload(ws::kCloseNormal, "");
    if (!ws_send_frame(ws::kClose, p.data(), p.size())) return;
  }
  if (!ws.close_received) linger_then_close_read(64 * 1024, 1000);
}

}  // namespace uwsgi
