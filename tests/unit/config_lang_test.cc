// uWSGI's config language: value reading (inline comments, numbers, flags), placeholders and
// math, magic variables, $(ENV) and @(file), if-*/for blocks, includes, the yaml/json/xml
// readers, getopt's prefix rule, and one-line errors naming file and line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/config_lang.h"
#include "config/core_options.h"
#include "config/options.h"
#include "host.h"

namespace {

namespace fs = std::filesystem;

class ConfigLangTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/uwsgi-cfg-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
    uwsgi::register_core_options(host);
  }
  void TearDown() override { fs::remove_all(dir); }

  std::string write(const std::string& name, const std::string& text) {
    std::string p = dir + "/" + name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

  bool parse(std::vector<std::string> args) {
    args.insert(args.begin(), "uwsgi");
    std::vector<char*> p;
    for (auto& x : args) p.push_back(x.data());
    p.push_back(nullptr);
    err.clear();
    return uwsgi::parse_config((int)args.size(), p.data(), host.registry(), &host.store(), &err);
  }
  bool ini(const std::string& body) { return parse({"--ini", write("t.ini", "[uwsgi]\n" + body)}); }

  // The logging issue's option (not in the core yet): its value holds per-request %(vars).
  void add_log_format() {
    uwsgi::OptionDef d;
    d.name = "log-format";
    d.aliases = {"logformat"};
    host.add_option(std::move(d));
  }

  const uwsgi::Config& cfg() { return host.config(); }
  std::vector<std::string>& warnings() { return host.store().warnings(); }

  std::string dir, err;
  uwsgi::HostImpl host;
};

// ---- value reading ----

TEST_F(ConfigLangTest, InlineHashCommentIsNotPartOfTheValue) {
  ASSERT_TRUE(ini("chdir = /srv/app  # the code\nenv = A=b#c\n")) << err;
  EXPECT_EQ(cfg().get("chdir"), "/srv/app");
  EXPECT_EQ(cfg().get("env"), "A=b#c");  // no whitespace before '#': part of the value
}

TEST_F(ConfigLangTest, NumbersAndFlagsTakeATrailingComment) {
  ASSERT_TRUE(ini("max-requests = 1000 ; recycle\nlisten = 64 # queue\nmaster = true ; yes\nvacuum = 1 ;\n")) << err;
  EXPECT_EQ(cfg().get_int("max-requests", 0), 1000);
  EXPECT_EQ(cfg().get("max-requests"), "1000");
  EXPECT_EQ(cfg().get_int("listen", 0), 64);
  EXPECT_TRUE(cfg().get_bool("master"));
  EXPECT_TRUE(cfg().get_bool("vacuum"));
}

TEST_F(ConfigLangTest, BooleanWordsAsNumbers) {
  ASSERT_TRUE(ini("threads = true\nharakiri = false\n")) << err;
  EXPECT_EQ(cfg().get_int("threads", 9), 1);
  EXPECT_EQ(cfg().get_int("harakiri", 9), 0);
}

TEST_F(ConfigLangTest, FlagWordsAnyCase) {
  ASSERT_TRUE(ini("master = Yes\nvacuum = OFF\n")) << err;
  EXPECT_TRUE(cfg().get_bool("master"));
  EXPECT_FALSE(cfg().get_bool("vacuum"));
}

TEST_F(ConfigLangTest, BadNumberNamesFileAndLine) {
  EXPECT_FALSE(ini("master = true\nprocesses = lots\n"));
  EXPECT_NE(err.find("t.ini:3"), std::string::npos) << err;
  EXPECT_NE(err.find("lots"), std::string::npos) << err;
}

// ---- placeholders, math, magic, env, files ----

TEST_F(ConfigLangTest, PlaceholderFromAnOptionSetEarlier) {
  ASSERT_TRUE(ini("chdir = /srv\nlogto = %(chdir)/log\n")) << err;
  EXPECT_EQ(cfg().get("logto"), "/srv/log");
}

TEST_F(ConfigLangTest, PlaceholderFromTheCommandLine) {
  std::string p = write("c.ini", "[uwsgi]\nlogto = %(chdir)/x.log\n");
  ASSERT_TRUE(parse({"--chdir", "/cmd", "--ini", p})) << err;
  EXPECT_EQ(cfg().get("logto"), "/cmd/x.log");
}

TEST_F(ConfigLangTest, Math) {
  ASSERT_TRUE(ini("base = 5\nprocesses = %(base + 3)\nlisten = %(%k * 2)\nthreads = %(base * 2 - 1)\n")) << err;
  EXPECT_EQ(cfg().get_int("processes", 0), 8);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  EXPECT_EQ(cfg().get_int("listen", 0), 2 * cpus);
  EXPECT_EQ(cfg().get_int("threads", 0), 9);  // left to right
}

TEST_F(ConfigLangTest, MathOnTextIsAnErrorNamingTheLine) {
  EXPECT_FALSE(ini("name = abc\nprocesses = %(name + 1)\n"));
  EXPECT_NE(err.find("t.ini:3"), std::string::npos) << err;
}

TEST_F(ConfigLangTest, SetPlaceholder) {
  ASSERT_TRUE(ini("set-placeholder = root=/opt\nchdir = %(root)/app\n")) << err;
  EXPECT_EQ(cfg().get("chdir"), "/opt/app");
  EXPECT_TRUE(warnings().empty());
}

TEST_F(ConfigLangTest, LogFormatKeepsItsVariablesSilently) {
  add_log_format();
  ASSERT_TRUE(ini("log-format = %(addr) %(status) %%\n")) << err;
  EXPECT_TRUE(warnings().empty());
  EXPECT_EQ(cfg().get("log-format"), "%(addr) %(status) %");
}

TEST_F(ConfigLangTest, StrictMakesUnknownPlaceholdersErrors) {
  EXPECT_FALSE(ini("strict = true\nchdir = %(nope)\n"));
  EXPECT_NE(err.find("nope"), std::string::npos) << err;
  EXPECT_NE(err.find("t.ini:3"), std::string::npos) << err;
}

TEST_F(ConfigLangTest, MagicVariablesOfTheFile) {
  fs::create_directories(dir + "/etc/site");
  std::string p = write("etc/site/app.ini",
                        "[uwsgi]\na = %d|%p|%s|%n|%e|%c|%o\nb = %x|%j|%k|%%|%q\n");
  std::vector<uwsgi::RawOption> out;
  ASSERT_TRUE(uwsgi::read_ini(p, &out, &err)) << err;
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].value, dir + "/etc/site/|" + p + "|app.ini|app|ini|site|" + p);
  unsigned h = uwsgi::djb33x_hash(p);
  char hex[16];  // least significant byte first, as uWSGI prints it
  snprintf(hex, sizeof hex, "%02X%02X%02X%02X", h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff, h >> 24);
  EXPECT_EQ(out[1].value, std::string("|") + hex + "|" + std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + "|%|%q");
}

TEST_F(ConfigLangTest, PathComponents) {
  fs::create_directories(dir + "/x/y");
  std::string p = write("x/y/z.ini", "[uwsgi]\na = %0\n");
  std::vector<uwsgi::RawOption> out;
  ASSERT_TRUE(uwsgi::read_ini(p, &out, &err)) << err;
  EXPECT_EQ(out[0].value, "tmp");
}

TEST_F(ConfigLangTest, FileAndExecValues) {
  write("name.txt", "from-file\n");
  ASSERT_TRUE(ini("chdir = @(" + dir + "/name.txt)\nlogto = @(exec://echo hi)\n")) << err;
  EXPECT_EQ(cfg().get("chdir"), "from-file");
  EXPECT_EQ(cfg().get("logto"), "hi");
}

TEST_F(ConfigLangTest, MissingFileValueNamesFileAndLine) {
  EXPECT_FALSE(ini("master = 1\nchdir = @(" + dir + "/missing.txt)\n"));
  EXPECT_NE(err.find("t.ini:3"), std::string::npos) << err;
  EXPECT_NE(err.find("missing.txt"), std::string::npos) << err;
}

// ---- conditionals and loops ----

TEST_F(ConfigLangTest, IfEnv) {
  setenv("CFG_TEST_SET", "7", 1);
  unsetenv("CFG_TEST_UNSET");
  bool ok = ini("if-env = CFG_TEST_SET\nprocesses = %(_)\nendif =\nif-not-env = CFG_TEST_SET\nprocesses = 1\nendif =\n"
                "if-env = CFG_TEST_UNSET\nlisten = 5\nendif =\nif-not-env = CFG_TEST_UNSET\nthreads = 3\nendif =\n");
  unsetenv("CFG_TEST_SET");
  ASSERT_TRUE(ok) << err;
  EXPECT_EQ(cfg().all("processes"), (std::vector<std::string>{"7"}));
  EXPECT_FALSE(cfg().has("listen"));
  EXPECT_EQ(cfg().get_int("threads", 0), 3);
}

TEST_F(ConfigLangTest, IfExistsFileDir) {
  std::string f = write("here.txt", "x");
  ASSERT_TRUE(ini("if-exists = " + f + "\nchdir = %(_)\nendif\nif-file = " + dir + "\nlogto = no\nendif\n"
                  "if-dir = " + dir + "\npidfile = d\nendif\nif-not-file = " + dir + "/none\nprocesses = 2\nendif\n"
                  "if-not-exists = " + f + "\nlisten = 1\nendif\nif-not-dir = " + f + "\nthreads = 4\nendif\n")) << err;
  EXPECT_EQ(cfg().get("chdir"), f);
  EXPECT_FALSE(cfg().has("logto"));
  EXPECT_EQ(cfg().get("pidfile"), "d");
  EXPECT_EQ(cfg().get_int("processes", 0), 2);
  EXPECT_FALSE(cfg().has("listen"));
  EXPECT_EQ(cfg().get_int("threads", 0), 4);
}

TEST_F(ConfigLangTest, IfOpt) {
  ASSERT_TRUE(ini("master = true\nif-opt = master\nprocesses = 3\nendif\nif-opt = chdir=/a\nlisten = 1\nendif\n"
                  "if-not-opt = chdir\nthreads = 2\nendif\n")) << err;
  EXPECT_EQ(cfg().get_int("processes", 0), 3);
  EXPECT_FALSE(cfg().has("listen"));
  EXPECT_EQ(cfg().get_int("threads", 0), 2);
}

TEST_F(ConfigLangTest, NestedIfs) {
  setenv("CFG_TEST_A", "1", 1);
  bool ok = ini("if-env = CFG_TEST_A\nif-not-env = CFG_TEST_NOPE\nprocesses = 2\nendif\nlisten = 9\nendif\n");
  unsetenv("CFG_TEST_A");
  ASSERT_TRUE(ok) << err;
  EXPECT_EQ(cfg().get_int("processes", 0), 2);
  EXPECT_EQ(cfg().get_int("listen", 0), 9);
}

TEST_F(ConfigLangTest, UnterminatedIfNamesFileAndLine) {
  EXPECT_FALSE(ini("master = 1\nif-env = HOME\nprocesses = 2\n"));
  EXPECT_NE(err.find("t.ini:3"), std::string::npos) << err;
  EXPECT_NE(err.find("endif"), std::string::npos) << err;
}

TEST_F(ConfigLangTest, StrayEndifIsAnError) {
  EXPECT_FALSE(ini("endif =\n"));
  EXPECT_NE(err.find("t.ini:2"), std::string::npos) << err;
}

TEST_F(ConfigLangTest, ForLoops) {
  write("a.sock", "");
  write("b.sock", "");
  write("list.txt", "one\n\ntwo\n");
  ASSERT_TRUE(ini("for = 1 2 3\nhttp-socket = :800%(_)\nendfor\nfor-glob = " + dir + "/*.sock\nsocket = %(_)\nendfor\n"
                  "for-readline = " + dir + "/list.txt\nenv = X_%(_)=1\nendfor =\n")) << err;
  EXPECT_EQ(cfg().all("http-socket"), (std::vector<std::string>{":8001", ":8002", ":8003"}));
  EXPECT_EQ(cfg().all("socket"), (std::vector<std::string>{dir + "/a.sock", dir + "/b.sock"}));
  EXPECT_EQ(cfg().all("env"), (std::vector<std::string>{"X_one=1", "X_two=1"}));
}

TEST_F(ConfigLangTest, UnterminatedForIsAnError) {
  EXPECT_FALSE(ini("for = a b\nsocket = %(_)\n"));
  EXPECT_NE(err.find("endfor"), std::string::npos) << err;
}

// ---- includes ----

TEST_F(ConfigLangTest, IncludeASectionOfTheSameFile) {
  std::string p = write("s.ini", "[uwsgi]\nini = :base\nprocesses = 4\n[base]\nmaster = true\nprocesses = 2\n");
  ASSERT_TRUE(parse({"--ini", p})) << err;
  EXPECT_TRUE(cfg().get_bool("master"));
  EXPECT_EQ(cfg().get_int("processes", 0), 4);
}

TEST_F(ConfigLangTest, InheritAnotherFile) {
  write("base.ini", "[uwsgi]\nmaster = true\nlisten = 7\n");
  ASSERT_TRUE(ini("inherit = " + dir + "/base.ini\nlisten = 8\n")) << err;
  EXPECT_TRUE(cfg().get_bool("master"));
  EXPECT_EQ(cfg().get_int("listen", 0), 8);
}

TEST_F(ConfigLangTest, IniGivenTwice) {
  std::string a = write("a.ini", "[uwsgi]\nsocket = :1\n");
  std::string b = write("b.ini", "[uwsgi]\nsocket = :2\n");
  ASSERT_TRUE(parse({"--ini", a, "--ini", b})) << err;
  EXPECT_EQ(cfg().all("socket"), (std::vector<std::string>{":1", ":2"}));
}

TEST_F(ConfigLangTest, IncludeLoopIsAnError) {
  std::string a = dir + "/a.ini", b = dir + "/b.ini";
  write("a.ini", "[uwsgi]\nini = " + b + "\n");
  write("b.ini", "[uwsgi]\nini = " + a + "\n");
  EXPECT_FALSE(parse({"--ini", a}));
  EXPECT_NE(err.find("includes itself"), std::string::npos) << err;
}

// ---- other formats ----

TEST_F(ConfigLangTest, Yaml) {
  std::string p = write("a.yaml", "uwsgi:\n  socket: [':1', ':2']\n  master: true\n  processes: 3\n"
                                  "  chdir: '%d'\n  vacuum:\nother:\n  processes: 9\n");
  ASSERT_TRUE(parse({p})) << err;
  EXPECT_EQ(cfg().all("socket"), (std::vector<std::string>{":1", ":2"}));
  EXPECT_TRUE(cfg().get_bool("master"));
  EXPECT_TRUE(cfg().get_bool("vacuum"));
  EXPECT_EQ(cfg().get_int("processes", 0), 3);
  EXPECT_EQ(cfg().get("chdir"), dir + "/");
  ASSERT_TRUE(parse({"--yml", p + ":other"})) << err;
  EXPECT_EQ(cfg().get_int("processes", 0), 9);
}

TEST_F(ConfigLangTest, YamlErrorNamesFileAndLine) {
  std::string p = write("bad.yaml", "uwsgi:\n  socket: ':1'\n   master: [\n");
  EXPECT_FALSE(parse({"--yaml", p}));
  EXPECT_NE(err.find(p + ":"), std::string::npos) << err;
}

TEST_F(ConfigLangTest, Json) {
  std::string p = write("a.json", R"({"uwsgi": {"socket": [":1", ":2"], "master": true, "processes": 4,
                                      "base": "/srv", "chdir": "%(base)/x"}})");
  ASSERT_TRUE(parse({"--json", p})) << err;
  EXPECT_EQ(cfg().all("socket"), (std::vector<std::string>{":1", ":2"}));
  EXPECT_TRUE(cfg().get_bool("master"));
  EXPECT_EQ(cfg().get_int("processes", 0), 4);
  EXPECT_EQ(cfg().get("chdir"), "/srv/x");
}

TEST_F(ConfigLangTest, Xml) {
  std::string p = write("a.xml", "<?xml version=\"1.0\"?>\n<uwsgi id=\"app\">\n  <socket>:1</socket>\n  <master/>\n"
                                 "  <processes>2</processes>\n  <log-format>%(addr) %(uri)</log-format>\n</uwsgi>\n");
  add_log_format();
  ASSERT_TRUE(parse({p})) << err;
  EXPECT_EQ(cfg().get("socket"), ":1");
  EXPECT_TRUE(cfg().get_bool("master"));
  EXPECT_EQ(cfg().get_int("processes", 0), 2);
  EXPECT_TRUE(warnings().empty()) << warnings()[0];
}

TEST_F(ConfigLangTest, XmlSectionsById) {
  std::string p = write("b.xml", "<all><uwsgi id=\"a\"><processes>2</processes></uwsgi>"
                                 "<uwsgi id=\"b\"><processes>5</processes></uwsgi></all>");
  ASSERT_TRUE(parse({"--xml", p + ":b"})) << err;
  EXPECT_EQ(cfg().get_int("processes", 0), 5);
}

TEST_F(ConfigLangTest, IniIncludesYaml) {
  write("inc.yaml", "uwsgi:\n  listen: 11\n");
  ASSERT_TRUE(ini("yaml = %dinc.yaml\n")) << err;
  EXPECT_EQ(cfg().get_int("listen", 0), 11);
}

TEST_F(ConfigLangTest, YamlIncludesASectionOfItself) {
  std::string p = write("s.yaml", "uwsgi:\n  yaml: ':base'\n  listen: 3\nbase:\n  master: true\n  listen: 2\n");
  ASSERT_TRUE(parse({"--yaml", p})) << err;
  EXPECT_TRUE(cfg().get_bool("master"));
  EXPECT_EQ(cfg().get_int("listen", 0), 3);
}

TEST_F(ConfigLangTest, JsonInheritsAnIni) {
  write("base.ini", "[uwsgi]\nprocesses = 6\n");
  std::string p = write("a.json", "{\"uwsgi\": {\"inherit\": \"" + dir + "/base.ini\", \"master\": true}}");
  ASSERT_TRUE(parse({p})) << err;
  EXPECT_EQ(cfg().get_int("processes", 0), 6);
  EXPECT_TRUE(cfg().get_bool("master"));
}

// ---- the command line ----

TEST_F(ConfigLangTest, UnambiguousPrefixIsTheOption) {
  // (--http-sock is ambiguous, as in uWSGI: --http-socket-modifier1 shares the prefix.)
  ASSERT_TRUE(parse({"--process", "4", "--buffer-si", "8192"})) << err;
  EXPECT_EQ(cfg().get_int("processes", 0), 4);
  EXPECT_EQ(cfg().get_int("buffer-size", 0), 8192);
}

TEST_F(ConfigLangTest, AmbiguousPrefixListsTheCandidates) {
  EXPECT_FALSE(parse({"--re", "1"}));
  EXPECT_NE(err.find("ambiguous"), std::string::npos) << err;
  EXPECT_NE(err.find("--reload-mercy"), std::string::npos) << err;
  EXPECT_NE(err.find("--reuse-port"), std::string::npos) << err;
}

TEST_F(ConfigLangTest, PrefixDoesNotApplyInFiles) {
  // uWSGI: a file key is an option's exact name or a custom placeholder.
  ASSERT_TRUE(ini("process = 4\n")) << err;
  EXPECT_FALSE(cfg().has("processes"));
  ASSERT_EQ(warnings().size(), 1u);
}

TEST(EarlyScan, PluginsFromYamlAndIfBlocks) {
  char tmpl[] = "/tmp/uwsgi-cfg-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string d = tmpl;
  std::ofstream(d + "/p.yaml") << "uwsgi:\n  plugins: ugreen\n";
  std::ofstream(d + "/p.ini") << "[uwsgi]\nif-not-env = CFG_TEST_NOPE\nplugins = libev\nendif\nyaml = %dp.yaml\n";
  std::vector<std::string> s = {"uwsgi", d + "/p.ini"};
  std::vector<char*> a;
  for (auto& x : s) a.push_back(x.data());
  uwsgi::EarlyConfig ec;
  std::string err;
  ASSERT_TRUE(uwsgi::scan_early((int)s.size(), a.data(), &ec, &err)) << err;
  fs::remove_all(d);
  EXPECT_EQ(ec.plugins, (std::vector<std::string>{"libev", "ugreen"}));
}

}  // namespace
