// socket:, syslog: and rsyslog: loggers: one datagram per line, sent with MSG_DONTWAIT on a
// non-blocking socket, so a slow or absent receiver never stalls a worker: a line that does not
// fit (full buffer, nobody listening) is counted as dropped and said once.
#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "log/loggers.h"

namespace uwsgi {

namespace {

class DatagramLogger : public Logger {
 public:
  ~DatagramLogger() override {
    if (fd_ >= 0) close(fd_);
  }
  bool stream() const override { return false; }
  // "host:port", "[v6]:port" or a unix path (anything with a '/' or without a port).
  bool open_addr(const std::string& addr, std::string* err) {
    size_t colon = addr.rfind(':');
    bool inet = addr.find('/') == std::string::npos && colon != std::string::npos && colon + 1 < addr.size();
    if (!inet) {
      sockaddr_un un{};
      un.sun_family = AF_UNIX;
      if (addr.empty() || addr.size() >= sizeof un.sun_path) {
        *err = "bad unix socket path \"" + addr + "\"";
        return false;
      }
      memcpy(un.sun_path, addr.data(), addr.size());
      memcpy(&ss_, &un, sizeof un);
      sslen_ = sizeof un;
    } else {
      std::string host = addr.substr(0, colon), port = addr.substr(colon + 1);
      if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
      if (host.empty()) host = "127.0.0.1";
      addrinfo hints{}, *res = nullptr;
      hints.ai_socktype = SOCK_DGRAM;
      int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
      if (rc != 0 || !res) {
        *err = "cannot resolve " + addr + ": " + gai_strerror(rc);
        return false;
      }
      memcpy(&ss_, res->ai_addr, res->ai_addrlen);
      sslen_ = res->ai_addrlen;
      freeaddrinfo(res);
    }
    fd_ = socket(ss_.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      *err = std::string("socket: ") + strerror(errno);
      return false;
    }
    return true;
  }
  void send_line(std::string_view data) {
    ssize_t r = sendto(fd_, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL, (const sockaddr*)&ss_, sslen_);
    if (r < 0) dropped(errno);
  }
  void write(std::string_view data) override { send_line(data); }

 private:
  int fd_ = -1;
  sockaddr_storage ss_{};
  socklen_t sslen_ = 0;
};

// syslog and rsyslog: each line framed as RFC 3164 says, without its newline.
class SyslogLogger : public DatagramLogger {
 public:
  int pri = 3 * 8 + 6;  // daemon.info
  std::string ident = "uwsgi", host;
  void write(std::string_view data) override {
    if (!data.empty() && data.back() == '\n') data.remove_suffix(1);
    send_line(syslog_frame(pri, host, ident, data, time(nullptr)));
  }
};

// "[IDENT[,FACILITY]]" into l; false with *err.
bool ident_and_facility(const std::string& args, SyslogLogger* l, std::string* err) {
  if (args.empty()) return true;
  size_t comma = args.find(',');
  if (comma != 0) l->ident = args.substr(0, comma);
  if (comma == std::string::npos) return true;
  int f = syslog_facility(args.substr(comma + 1));
  if (f < 0) {
    *err = "unknown syslog facility \"" + args.substr(comma + 1) + "\" (daemon, user, local0..local7, ...)";
    return false;
  }
  l->pri = f * 8 + 6;
  return true;
}

}  // namespace

int syslog_facility(const std::string& name) {
  static const char* names[] = {"kern", "user",     "mail", "daemon", "auth", "syslog", "lpr", "news",
                                "uucp", "cron",     "authpriv", "ftp"};
  for (int i = 0; i < (int)(sizeof names / sizeof *names); i++)
    if (name == names[i]) return i;
  if (name.size() == 6 && name.compare(0, 5, "local") == 0 && name[5] >= '0' && name[5] <= '7')
    return 16 + (name[5] - '0');
  if (!name.empty() && name.size() <= 2 && name.find_first_not_of("0123456789") == std::string::npos) {
    int n = std::stoi(name);
    return n <= 23 ? n : -1;
  }
  return -1;
}

std::string syslog_frame(int pri, const std::string& host, const std::string& ident, std::string_view msg,
                         time_t now) {
  struct tm tm;
  localtime_r(&now, &tm);
  char ts[32];
  // RFC 3164: "Mmm dd hh:mm:ss", the day padded with a space; English month names whatever the locale.
  static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  snprintf(ts, sizeof ts, "%s %2d %02d:%02d:%02d", months[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  std::string out = "<" + std::to_string(pri) + ">" + ts + " ";
  if (!host.empty()) out += host + " ";
  out += ident + "[" + std::to_string((int)getpid()) + "]: ";
  out.append(msg);
  return out;
}

std::unique_ptr<Logger> make_socket_logger(const std::string& addr, std::string* err) {
  auto l = std::make_unique<DatagramLogger>();
  if (!l->open_addr(addr, err)) return nullptr;
  return l;
}

// The local syslog daemon's datagram socket (/dev/log), as syslog(3) uses it, but never blocking.
std::unique_ptr<Logger> make_syslog_logger(const std::string& args, std::string* err) {
  auto l = std::make_unique<SyslogLogger>();
  if (!ident_and_facility(args, l.get(), err) || !l->open_addr("/dev/log", err)) return nullptr;
  return l;
}

std::unique_ptr<Logger> make_rsyslog_logger(const std::string& args, std::string* err) {
  auto l = std::make_unique<SyslogLogger>();
  size_t comma = args.find(',');
  std::string addr = args.substr(0, comma);
  if (addr.find(':') == std::string::npos) {
    *err = "rsyslog: wants HOST:PORT[,IDENT[,FACILITY]], not \"" + args + "\"";
    return nullptr;
  }
  if (comma != std::string::npos && !ident_and_facility(args.substr(comma + 1), l.get(), err)) return nullptr;
  char hn[256] = "";
  gethostname(hn, sizeof hn - 1);
  l->host = hn;
  if (!l->open_addr(addr, err)) return nullptr;
  return l;
}

}  // namespace uwsgi
