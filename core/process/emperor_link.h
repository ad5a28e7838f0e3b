// The Emperor protocol (uWSGI's): a vassal finds a stream socket to its Emperor in
// UWSGI_EMPEROR_FD. Each message is one byte. The Emperor sends kStop and kReload; the vassal's
// master answers kSpawned when it starts (again after each reload), kAccepting once its workers
// have loaded their apps, kLoyal after its first request. The same numbers as uWSGI, so the two
// ends keep uWSGI's meaning.
#pragma once

#include <cstdint>

namespace uwsgi {

namespace emperor_msg {
constexpr uint8_t kStop = 0;       // Emperor -> vassal: shut down gracefully
constexpr uint8_t kReload = 1;     // Emperor -> vassal: reload gracefully (its config file changed)
constexpr uint8_t kSpawned = 1;    // vassal -> Emperor: its master runs
constexpr uint8_t kAccepting = 5;  // vassal -> Emperor: ready to accept requests
constexpr uint8_t kLoyal = 17;     // vassal -> Emperor: it served its first request
}  // namespace emperor_msg

// The vassal's end, held by its master (closed in every process the master forks).
class EmperorLink {
 public:
  enum class Command { kNone, kStop, kReload, kLost };
  // Takes the fd from UWSGI_EMPEROR_FD (which stays set: a reload's re-exec is the same vassal);
  // false when this process is no vassal.
  bool open();
  int fd() const { return lost_ ? -1 : fd_; }  // to poll; -1 once the Emperor is gone
  void send(uint8_t msg);
  // What the Emperor asked since the last call (the last stop or reload wins over the others);
  // kLost when the Emperor is gone (the socket was closed).
  Command read();

 private:
  int fd_ = -1;
  bool lost_ = false;
};

// True when UWSGI_EMPEROR_FD is set: this process was started by an Emperor.
bool is_vassal();

}  // namespace uwsgi
