// uWSGI's magic variables: %d %p %s %n %e %c %o %O %x %j %0..%9 describe the config file being
// read; %k %h %v %V %u %U %g %G %t %T %P %[ need no file.
#include <grp.h>
#include <pwd.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>

#include "config/config_lang.h"
#include "version.h"

namespace uwsgi {

unsigned djb33x_hash(const std::string& s) {
  unsigned h = 5381;
  for (unsigned char c : s) h = (h * 33) ^ c;
  return h;
}

MagicVars MagicVars::global() {
  MagicVars m;
  auto& t = m.table;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  t['k'] = std::to_string(cpus > 0 ? cpus : 1);
  char buf[4096];
  if (gethostname(buf, sizeof buf) == 0) {
    buf[sizeof buf - 1] = 0;
    t['h'] = buf;
  }
  if (getcwd(buf, sizeof buf)) t['v'] = buf;
  t['V'] = UWSGI_SERVER_VERSION;
  t['['] = "\033";  // an ANSI escape, for colours
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) t['P'] = std::string(buf, (size_t)n);
  t['u'] = std::to_string(getuid());
  t['g'] = std::to_string(getgid());
  if (struct passwd* pw = getpwuid(getuid())) t['U'] = pw->pw_name;
  if (struct group* gr = getgrgid(getgid())) t['G'] = gr->gr_name;
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  t['t'] = std::to_string(tv.tv_sec);
  t['T'] = std::to_string((long long)tv.tv_sec * 1000000 + tv.tv_usec);
  return m;
}

MagicVars MagicVars::for_file(const std::string& path, const std::string& section) {
  MagicVars m = global();
  auto& t = m.table;
  std::string abs = path;
  if (abs.empty() || abs[0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd)) abs = std::string(cwd) + "/" + path;
  }
  size_t slash = abs.rfind('/');
  std::string dir = abs.substr(0, slash + 1);
  std::string file = abs.substr(slash + 1);
  size_t dot = file.rfind('.');
  t['o'] = path;
  t['O'] = path;
  t['p'] = abs;
  t['d'] = dir;
  t['s'] = file;
  t['n'] = dot == std::string::npos ? file : file.substr(0, dot);
  t['e'] = dot == std::string::npos ? "" : file.substr(dot + 1);
  t['x'] = section;
  // %j: the hash's bytes as they lie in memory, least significant first (uWSGI's digits on x86).
  unsigned h = djb33x_hash(abs);
  char hex[16];
  snprintf(hex, sizeof hex, "%02X%02X%02X%02X", h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff, h >> 24);
  t['j'] = hex;
  // %c: the directory holding the file; %0..%9: the components of its path.
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < dir.size()) {
    size_t j = dir.find('/', i);
    if (j == std::string::npos) j = dir.size();
    if (j > i) parts.push_back(dir.substr(i, j - i));
    i = j + 1;
  }
  t['c'] = parts.empty() ? "" : parts.back();
  for (size_t k = 0; k < 10 && k < parts.size(); k++) t[(char)('0' + k)] = parts[k];
  return m;
}

}  // namespace uwsgi
