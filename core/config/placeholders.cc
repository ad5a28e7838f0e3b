// Value expansion, one left-to-right pass (results are not scanned again):
//   %%            a percent sign
//   %X            a magic variable (magic_vars.cc); an unknown letter stays as written
//   %(name)       the last value set for name (option or custom key) so far; unknown: kept as written
//   %(a OP b ...) integer math, OP in + - * /, operands numbers, placeholders or %X
//   $(VAR)        the environment variable (unset: kept as written, as uWSGI does)
//   @(path)       the file's content (trailing newline dropped); @(exec://cmd) a command's output
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>

#include "config/config_lang.h"

namespace uwsgi {

static bool read_whole(const std::string& path, std::string* out, std::string* err) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    *err = "@(" + path + "): cannot read the file: " + strerror(errno);
    return false;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

static bool run_command(const std::string& cmd, std::string* out, std::string* err) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    *err = "@(exec://" + cmd + "): cannot run the command";
    return false;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  int st = pclose(p);
  if (st != 0) {
    *err = "@(exec://" + cmd + "): the command failed (status " + std::to_string(st) + ")";
    return false;
  }
  return true;
}

static ExecIncludes g_exec_mode = ExecIncludes::kRun;
static std::deque<std::pair<std::string, std::string>> g_exec_outputs;  // (command, output), in order

void set_exec_includes(ExecIncludes mode) {
  g_exec_mode = mode;
  if (mode != ExecIncludes::kReplay) g_exec_outputs.clear();
}

static bool exec_include(const std::string& cmd, std::string* out, std::string* err) {
  if (g_exec_mode == ExecIncludes::kReplay && !g_exec_outputs.empty() && g_exec_outputs.front().first == cmd) {
    *out = std::move(g_exec_outputs.front().second);
    g_exec_outputs.pop_front();
    return true;
  }
  if (!run_command(cmd, out, err)) return false;
  if (g_exec_mode == ExecIncludes::kRecord) g_exec_outputs.emplace_back(cmd, *out);
  return true;
}

static bool include_value(const std::string& what, std::string* out, std::string* err) {
  std::string v;
  if (what.rfind("exec://", 0) == 0) {
    if (!exec_include(what.substr(7), &v, err)) return false;
  } else if (what.find("://") != std::string::npos) {
    *err = "@(" + what + "): only files and exec:// can be read here";
    return false;
  } else if (!read_whole(what, &v, err)) {
    return false;
  }
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
  out->append(v);
  return true;
}

static bool is_math_op(const std::string& t) { return t == "+" || t == "-" || t == "*" || t == "/"; }

// One operand of %( ) math: a number, %X, or a placeholder name.
static bool operand(const std::string& t, const ExpandScope& sc, long long* v, std::string* err) {
  std::string s = t;
  if (s.size() == 2 && s[0] == '%' && sc.magic) {
    auto it = sc.magic->table.find(s[1]);
    if (it != sc.magic->table.end()) s = it->second;
  } else if (sc.vars) {
    auto it = sc.vars->find(s);
    if (it != sc.vars->end()) {
      if (sc.used) sc.used->insert(s);
      s = it->second;
    }
  }
  char* end = nullptr;
  errno = 0;
  *v = strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != 0 || errno) {
    *err = "%(" + t + " ...): \"" + s + "\" is not a number";
    return false;
  }
  return true;
}

// "a + b * c" (left to right, as uWSGI does). Returns false with *err empty when it is not math.
static bool math(const std::string& expr, const ExpandScope& sc, std::string* out, std::string* err) {
  std::vector<std::string> toks;
  std::istringstream in(expr);
  for (std::string t; in >> t;) toks.push_back(t);
  if (toks.size() < 3 || toks.size() % 2 == 0) return false;
  for (size_t i = 1; i < toks.size(); i += 2)
    if (!is_math_op(toks[i])) return false;
  long long acc;
  if (!operand(toks[0], sc, &acc, err)) return false;
  for (size_t i = 1; i < toks.size(); i += 2) {
    long long b;
    if (!operand(toks[i + 1], sc, &b, err)) return false;
    char op = toks[i][0];
    if (op == '+') acc += b;
    else if (op == '-') acc -= b;
    else if (op == '*') acc *= b;
    else if (b == 0) {
      *err = "%(" + expr + "): division by zero";
      return false;
    } else {
      acc /= b;
    }
  }
  *out = std::to_string(acc);
  return true;
}

bool expand_value(const std::string& in, const ExpandScope& sc, std::string* out, std::string* err) {
  out->clear();
  for (size_t i = 0; i < in.size(); i++) {
    char c = in[i];
    char n = i + 1 < in.size() ? in[i + 1] : 0;
    if (c == '%' && n == '%') {
      out->push_back('%');
      i++;
      continue;
    }
    if (c == '%' && n == '(') {
      size_t close = in.find(')', i + 2);
      if (close == std::string::npos) {
        *err = "unterminated %( placeholder in \"" + in + "\"";
        return false;
      }
      std::string key = in.substr(i + 2, close - i - 2);
      auto it = sc.vars ? sc.vars->find(key) : std::map<std::string, std::string>::const_iterator();
      if (sc.vars && it != sc.vars->end()) {
        out->append(it->second);
        if (sc.used) sc.used->insert(key);
      } else {
        std::string r;
        if (math(key, sc, &r, err)) {
          out->append(r);
        } else if (!err->empty()) {
          return false;
        } else {
          out->append(in, i, close - i + 1);
          if (sc.unknown) sc.unknown->push_back(key);
        }
      }
      i = close;
      continue;
    }
    if (c == '%' && n && sc.magic) {
      auto it = sc.magic->table.find(n);
      if (it != sc.magic->table.end()) {
        out->append(it->second);
        i++;
        continue;
      }
    }
    if ((c == '$' || c == '@') && n == '(') {
      size_t close = in.find(')', i + 2);
      if (close != std::string::npos) {
        std::string what = in.substr(i + 2, close - i - 2);
        if (c == '$') {
          const char* v = getenv(what.c_str());
          if (v) out->append(v);
          else out->append(in, i, close - i + 1);
        } else if (!include_value(what, out, err)) {
          return false;
        }
        i = close;
        continue;
      }
    }
    out->push_back(c);
  }
  return true;
}

}  // namespace uwsgi
