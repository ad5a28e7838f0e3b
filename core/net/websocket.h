// A connection's websocket state after the 101 (the Connection's websocket_* methods in
// connection_websocket.cc drive it): the frame parser, the send queue that keeps frames whole
// when several cores or threads send, and the ping/pong clock.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include "net/websocket_frame.h"

namespace uwsgi {

struct WebSocketSettings {
  size_t max_size = 1024 * 1024;  // --websocket-max-size (KiB in the option): larger messages get 1009
  int ping_freq_s = 30;           // --websocket-ping-freq: a ping every this many seconds
  int pong_tolerance_s = 3;       // --websocket-pong-tolerance: no pong this long after a ping = dead
};

struct WebSocketState {
  explicit WebSocketState(size_t max_size) : parser(max_size) {}
  ws::FrameParser parser;
  // Sending: one sender writes at a time; frames others send meanwhile wait in `queued` and go
  // out, whole, before that sender returns.
  std::mutex send_mu;
  std::string queued;
  bool sending = false;
  bool close_sent = false;      // our close frame went out (nothing may follow it)
  bool close_received = false;  // the peer's close frame came (recv fails from then on)
  bool failed = false;          // protocol error, timeout or socket error: no more I/O
  uint64_t next_ping_us = 0;    // when recv sends the next ping
  uint64_t pong_deadline_us = 0;  // 0 = no ping awaiting its pong
  std::string why;              // why recv fails from now on
  // The last read left the socket empty: the next recv waits for readiness before reading (a
  // client mostly answers our last message first, so reading at once would find nothing).
  bool drained = false;
};

}  // namespace uwsgi
