// The plugin loader: canonical names, search paths, and refusal (with a message naming the file
// and the reason) of files that are missing, not plugins, or built for another ABI. The .so
// fixtures are compiled at test time into a temp dir.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "plugin_loader.h"

namespace {

namespace fs = std::filesystem;
using uwsgi::PluginInfo;
using uwsgi::PluginLoader;

// The repo's include/ directory, found from this source file's path.
std::string include_dir() {
  fs::path src(__FILE__);
  if (src.is_relative()) src = fs::current_path() / src;
  return (src.parent_path().parent_path().parent_path() / "include").string();
}

class PluginLoaderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/uwsgi-plugins-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // A real plugin: registers nothing, counts its creation.
    write("good.cc",
          "#include <uwsgi/plugin.h>\n"
          "extern \"C\" int fixture_created = 0;\n"
          "class P : public uwsgi::Plugin { public: P() { fixture_created++; } };\n"
          "UWSGI_PLUGIN(fixture, P)\n");
    build("g++ -std=c++20 -shared -fPIC -I" + include_dir() + " -o " + dir_ + "/fixture_plugin.so " + dir_ +
          "/good.cc");
    // A shared object with no plugin table.
    write("nosym.c", "int not_a_plugin = 1;\n");
    build("gcc -shared -fPIC -o " + dir_ + "/nosym_plugin.so " + dir_ + "/nosym.c");
    // Tables with the right shape but another ABI number / build fingerprint. create() aborts:
    // the loader must refuse them before calling anything.
    std::string table =
        "#include <stdlib.h>\n"
        "struct info { unsigned abi; const char* build; const char* name; void* (*create)(void); };\n"
        "static void* create(void) { abort(); }\n";
    write("badabi.c", table + "const struct info badabi_uwsgi_plugin = {999, \"" UWSGI_PLUGIN_BUILD_ID
                              "\", \"badabi\", create};\n");
    build("gcc -shared -fPIC -o " + dir_ + "/badabi_plugin.so " + dir_ + "/badabi.c");
    write("badbuild.c", table + "const struct info badbuild_uwsgi_plugin = {" UWSGI_STR(UWSGI_PLUGIN_ABI_VERSION)
                                ", \"clang99-cxx11abi0\", \"badbuild\", create};\n");
    build("gcc -shared -fPIC -o " + dir_ + "/badbuild_plugin.so " + dir_ + "/badbuild.c");
    write("noname.c", table + "const struct info noname_uwsgi_plugin = {" UWSGI_STR(UWSGI_PLUGIN_ABI_VERSION)
                              ", \"" UWSGI_PLUGIN_BUILD_ID "\", 0, create};\n");
    build("gcc -shared -fPIC -o " + dir_ + "/noname_plugin.so " + dir_ + "/noname.c");
    // Not an ELF file at all.
    write("junk_plugin.so", "this is not a shared object\n");
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }
  static void build(const std::string& cmd) {
    int rc = system((cmd + " 2>" + dir_ + "/cc.log").c_str());
    ASSERT_EQ(rc, 0) << cmd;
  }

  static std::string dir_;
  std::string err;
};
std::string PluginLoaderTest::dir_;

TEST(CanonicalPluginName, DebianSpellings) {
  EXPECT_EQ(uwsgi::canonical_plugin_name("python3"), "python");
  EXPECT_EQ(uwsgi::canonical_plugin_name("python311"), "python");
  EXPECT_EQ(uwsgi::canonical_plugin_name("python"), "python");
  EXPECT_EQ(uwsgi::canonical_plugin_name("gevent_python3"), "gevent");
  EXPECT_EQ(uwsgi::canonical_plugin_name("greenlet_python3"), "greenlet");
  EXPECT_EQ(uwsgi::canonical_plugin_name("greenlet_python"), "greenlet");
  EXPECT_EQ(uwsgi::canonical_plugin_name("ugreen"), "ugreen");
  EXPECT_EQ(uwsgi::canonical_plugin_name("libev"), "libev");
}

TEST(CheckPluginInfo, AcceptsAMatchingTable) {
  PluginInfo info{UWSGI_PLUGIN_ABI_VERSION, UWSGI_PLUGIN_BUILD_ID, "x", [] { return (uwsgi::Plugin*)nullptr; }};
  std::string err;
  EXPECT_TRUE(uwsgi::check_plugin_info(&info, "x", &err)) << err;
}

TEST(CheckPluginInfo, AbiMismatchNamesBothVersions) {
  PluginInfo info{UWSGI_PLUGIN_ABI_VERSION + 41, UWSGI_PLUGIN_BUILD_ID, "x",
                  [] { return (uwsgi::Plugin*)nullptr; }};
  std::string err;
  EXPECT_FALSE(uwsgi::check_plugin_info(&info, "\"x\" (/p/x_plugin.so)", &err));
  EXPECT_NE(err.find(std::to_string(UWSGI_PLUGIN_ABI_VERSION + 41)), std::string::npos) << err;
  EXPECT_NE(err.find("ABI " + std::to_string(UWSGI_PLUGIN_ABI_VERSION)), std::string::npos) << err;
  EXPECT_NE(err.find("/p/x_plugin.so"), std::string::npos) << err;
}

TEST(CheckPluginInfo, BuildIdMismatchNamesBothBuilds) {
  PluginInfo info{UWSGI_PLUGIN_ABI_VERSION, "clang17-cxx11abi0-abi1", "x", [] { return (uwsgi::Plugin*)nullptr; }};
  std::string err;
  EXPECT_FALSE(uwsgi::check_plugin_info(&info, "x", &err));
  EXPECT_NE(err.find("clang17-cxx11abi0-abi1"), std::string::npos) << err;
  EXPECT_NE(err.find(UWSGI_PLUGIN_BUILD_ID), std::string::npos) << err;
}

TEST(CheckPluginInfo, NullBuildIdAndIncompleteTables) {
  std::string err;
  PluginInfo no_build{UWSGI_PLUGIN_ABI_VERSION, nullptr, "x", [] { return (uwsgi::Plugin*)nullptr; }};
  EXPECT_FALSE(uwsgi::check_plugin_info(&no_build, "x", &err));
  PluginInfo no_create{UWSGI_PLUGIN_ABI_VERSION, UWSGI_PLUGIN_BUILD_ID, "x", nullptr};
  EXPECT_FALSE(uwsgi::check_plugin_info(&no_create, "x", &err));
  EXPECT_NE(err.find("incomplete"), std::string::npos) << err;
  PluginInfo no_name{UWSGI_PLUGIN_ABI_VERSION, UWSGI_PLUGIN_BUILD_ID, nullptr, [] { return (uwsgi::Plugin*)nullptr; }};
  EXPECT_FALSE(uwsgi::check_plugin_info(&no_name, "x", &err));
}

TEST_F(PluginLoaderTest, LoadsByNameFromAPluginDir) {
  PluginLoader loader({dir_});
  ASSERT_TRUE(loader.load("fixture", &err)) << err;
  ASSERT_TRUE(loader.loaded("fixture"));
  auto& ps = loader.plugins();
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0].name, "fixture");
  EXPECT_EQ(ps[0].path, dir_ + "/fixture_plugin.so");
  ASSERT_NE(ps[0].plugin, nullptr);
  // Naming it again (or by path) is a no-op, not a second instance.
  ASSERT_TRUE(loader.load("fixture", &err)) << err;
  ASSERT_TRUE(loader.load(dir_ + "/fixture_plugin.so", &err)) << err;
  EXPECT_EQ(loader.plugins().size(), 1u);
}

TEST_F(PluginLoaderTest, LoadsByPath) {
  PluginLoader loader({});
  ASSERT_TRUE(loader.load(dir_ + "/fixture_plugin.so", &err)) << err;
  EXPECT_TRUE(loader.loaded("fixture"));
}

TEST_F(PluginLoaderTest, MissingPluginErrorNamesItAndWhereItLooked) {
  PluginLoader loader({dir_});
  EXPECT_FALSE(loader.load("doesnotexist", &err));
  EXPECT_NE(err.find("doesnotexist"), std::string::npos) << err;
  EXPECT_NE(err.find("not found"), std::string::npos) << err;
  EXPECT_NE(err.find(dir_ + "/doesnotexist_plugin.so"), std::string::npos) << err;
  EXPECT_TRUE(loader.plugins().empty());
}

TEST_F(PluginLoaderTest, MissingDebianSpelledPluginIsNamedAsWritten) {
  PluginLoader loader({dir_});
  EXPECT_FALSE(loader.load("nosuchloop_python3", &err));
  EXPECT_NE(err.find("nosuchloop_python3"), std::string::npos) << err;
  EXPECT_NE(err.find("nosuchloop_plugin.so"), std::string::npos) << err;  // searched canonically
}

TEST_F(PluginLoaderTest, MissingPathIsNamed) {
  PluginLoader loader({});
  EXPECT_FALSE(loader.load(dir_ + "/absent_plugin.so", &err));
  EXPECT_NE(err.find("absent_plugin.so"), std::string::npos) << err;
}

TEST_F(PluginLoaderTest, SharedObjectWithoutTheSymbolIsRefused) {
  PluginLoader loader({dir_});
  EXPECT_FALSE(loader.load("nosym", &err));
  EXPECT_NE(err.find("nosym_uwsgi_plugin"), std::string::npos) << err;
  EXPECT_NE(err.find(dir_ + "/nosym_plugin.so"), std::string::npos) << err;
  EXPECT_FALSE(loader.loaded("nosym"));
}

TEST_F(PluginLoaderTest, RenamedPluginIsRefused) {
  // The symbol is derived from the file name: fixture's table is not "renamed_uwsgi_plugin".
  fs::copy_file(dir_ + "/fixture_plugin.so", dir_ + "/renamed_plugin.so", fs::copy_options::overwrite_existing);
  PluginLoader loader({});
  EXPECT_FALSE(loader.load(dir_ + "/renamed_plugin.so", &err));
  EXPECT_NE(err.find("renamed_uwsgi_plugin"), std::string::npos) << err;
}

TEST_F(PluginLoaderTest, AbiMismatchedPluginIsRefusedNamingVersions) {
  PluginLoader loader({dir_});
  EXPECT_FALSE(loader.load("badabi", &err));  // create() would abort if called
  EXPECT_NE(err.find("999"), std::string::npos) << err;
  EXPECT_NE(err.find("ABI " + std::to_string(UWSGI_PLUGIN_ABI_VERSION)), std::string::npos) << err;
  EXPECT_NE(err.find("badabi"), std::string::npos) << err;
  EXPECT_FALSE(loader.loaded("badabi"));
}

TEST_F(PluginLoaderTest, BuildMismatchedPluginIsRefused) {
  PluginLoader loader({dir_});
  EXPECT_FALSE(loader.load("badbuild", &err));
  EXPECT_NE(err.find("clang99-cxx11abi0"), std::string::npos) << err;
  EXPECT_NE(err.find(UWSGI_PLUGIN_BUILD_ID), std::string::npos) << err;
  EXPECT_FALSE(loader.loaded("badbuild"));
}

TEST_F(PluginLoaderTest, TableWithoutNameIsRefused) {
  PluginLoader loader({dir_});
  EXPECT_FALSE(loader.load("noname", &err));
  EXPECT_NE(err.find("noname"), std::string::npos) << err;
}

TEST_F(PluginLoaderTest, NonElfFileIsRefused) {
  PluginLoader loader({dir_});
  EXPECT_FALSE(loader.load("junk", &err));
  EXPECT_NE(err.find("junk"), std::string::npos) << err;
  EXPECT_NE(err.find("cannot be loaded"), std::string::npos) << err;
}

TEST_F(PluginLoaderTest, BuiltinsNamedAgainAreNoOps) {
  PluginLoader loader({dir_});
  ASSERT_TRUE(loader.load_builtins(&err)) << err;
  size_t n = loader.plugins().size();
  for (const PluginInfo* const* p = uwsgi::kBuiltinPlugins; *p; p++) {
    EXPECT_TRUE(loader.loaded((*p)->name));
    ASSERT_TRUE(loader.load((*p)->name, &err)) << err;
  }
  if (loader.loaded("python")) {
    ASSERT_TRUE(loader.load("python3", &err)) << err;  // Debian's spelling of a built-in
  }
  EXPECT_EQ(loader.plugins().size(), n);
}

}  // namespace
