// The function store: atomic deploys, restart, repair, and a write failure
// injected at every step (a full disk or read-only directory) losing nothing.
#include "platform/store.hpp"

#include <blueprint/faas/packaging.hpp>

#include <gtest/gtest.h>

#include <cerrno>
#include <fstream>
#include <random>
#include <sstream>

namespace {
using namespace blueprint::platform;
namespace fs = std::filesystem;
namespace pkg = blueprint::faas::packaging;

struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::temp_directory_path() / ("bpfaas-store-" + random_uuid());
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

std::vector<std::uint8_t> lambda_zip(std::string_view script) {
    std::vector<std::uint8_t> bin(script.begin(), script.end());
    auto zip = pkg::package_lambda(std::span<const std::uint8_t>(bin));
    EXPECT_TRUE(zip) << (zip ? "" : zip.error().message);
    return zip ? *zip : std::vector<std::uint8_t>{};
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

FunctionConfig config(std::string name, unsigned memory = 128) {
    FunctionConfig c;
    c.name = std::move(name);
    c.memory_mb = memory;
    c.revision_id = random_uuid();
    return c;
}

bool empty_dir(const fs::path& p) { return fs::is_empty(p); }

TEST(PlatformStore, CreateLoadReplaceRemove) {
    TempDir dir;
    FunctionStore store({.data_dir = dir.path});
    ASSERT_TRUE(store.open());
    auto v1 = lambda_zip("#!/bin/sh\necho v1\n");
    auto created = store.create(config("f"), v1);
    ASSERT_TRUE(created) << created.error().message;
    EXPECT_TRUE(fs::is_regular_file(created->code_dir / "bootstrap"));
    EXPECT_EQ(slurp(created->code_dir / "bootstrap"), "#!/bin/sh\necho v1\n");
    EXPECT_NE(fs::status(created->code_dir / "bootstrap").permissions() & fs::perms::owner_exec, fs::perms::none);

    auto again = store.create(config("f"), v1);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, store_errc::already_exists);

    auto v2 = lambda_zip("#!/bin/sh\necho v2\n");
    auto replaced = store.replace_code(config("f", 256), v2);
    ASSERT_TRUE(replaced) << replaced.error().message;
    EXPECT_EQ(slurp(replaced->code_dir / "bootstrap"), "#!/bin/sh\necho v2\n");

    auto c3 = config("f", 512);
    ASSERT_TRUE(store.write_config(c3));

    // A second store over the same directory sees it all (a restart).
    FunctionStore reopened({.data_dir = dir.path});
    ASSERT_TRUE(reopened.open());
    std::vector<std::string> warnings;
    auto all = reopened.load_all(warnings);
    EXPECT_TRUE(warnings.empty());
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].config.name, "f");
    EXPECT_EQ(all[0].config.memory_mb, 512u);
    EXPECT_EQ(all[0].config.revision_id, c3.revision_id);
    EXPECT_EQ(slurp(all[0].code_dir / "bootstrap"), "#!/bin/sh\necho v2\n");

    ASSERT_TRUE(reopened.remove("f"));
    EXPECT_FALSE(fs::exists(dir.path / "functions" / "f"));
    auto missing = reopened.remove("f");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, store_errc::not_found);
    EXPECT_EQ(reopened.replace_code(config("f"), v2).error().code, store_errc::not_found);
    EXPECT_EQ(reopened.write_config(config("f")).error().code, store_errc::not_found);
    EXPECT_TRUE(empty_dir(dir.path / "tmp"));
    EXPECT_TRUE(empty_dir(dir.path / "trash"));
}

TEST(PlatformStore, BadPackagesAreRefusedAndLeaveNothing) {
    TempDir dir;
    FunctionStore store({.data_dir = dir.path});
    ASSERT_TRUE(store.open());
    std::vector<std::uint8_t> garbage(1000);
    std::mt19937 rng(7);
    for (auto& b : garbage) b = static_cast<std::uint8_t>(rng());
    auto r = store.create(config("g"), garbage);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, store_errc::invalid_package);

    // A valid zip, truncated.
    auto zip = lambda_zip("#!/bin/sh\n");
    zip.resize(zip.size() / 2);
    r = store.create(config("g"), zip);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, store_errc::invalid_package);

    // A valid archive without bootstrap: an empty one (end-of-central-directory record only).
    static const std::uint8_t empty_zip[] = {0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    r = store.create(config("g"), empty_zip);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, store_errc::invalid_package);
    EXPECT_NE(r.error().message.find("bootstrap"), std::string::npos) << r.error().message;

    EXPECT_FALSE(fs::exists(dir.path / "functions" / "g"));
    EXPECT_TRUE(empty_dir(dir.path / "tmp"));
}

// Every write step fails in turn (as on a full disk or a read-only
// directory), under every operation: a failed operation reports io_failed
// with the OS reason, leaves the stored function exactly as it was and no
// staging leftovers, and the function still loads after a restart.
TEST(PlatformStore, AWriteFailureAtAnyStepLosesNothing) {
    const char* steps[] = {"mkdir", "write code.zip", "extract", "write config.json", "fsync", "rename", "exchange", "remove"};
    const char* ops[] = {"replace_code", "write_config", "remove", "create"};
    const auto v1 = lambda_zip("#!/bin/sh\necho v1\n");
    const auto v2 = lambda_zip("#!/bin/sh\necho v2\n");
    int failures = 0;
    for (const char* failing : steps) {
        for (const char* op : ops) {
            SCOPED_TRACE(std::string(op) + " failing at " + failing);
            TempDir dir;
            std::string armed;
            FunctionStore store({.data_dir = dir.path, .fault = [&](std::string_view step) {
                                     return step == armed ? ENOSPC : 0;
                                 }});
            ASSERT_TRUE(store.open());
            ASSERT_TRUE(store.create(config("f"), v1));
            const auto fdir = dir.path / "functions" / "f";
            const std::string zip_before = slurp(fdir / "code.zip");
            const std::string config_before = slurp(fdir / "config.json");

            armed = failing;
            std::optional<blueprint::Error> error;
            const std::string o = op;
            if (o == "replace_code") {
                if (auto r = store.replace_code(config("f", 1024), v2); !r) error = r.error();
            } else if (o == "write_config") {
                if (auto r = store.write_config(config("f", 2048)); !r) error = r.error();
            } else if (o == "remove") {
                if (auto r = store.remove("f"); !r) error = r.error();
            } else {
                if (auto r = store.create(config("other"), v1); !r) error = r.error();
                if (error) EXPECT_FALSE(fs::exists(dir.path / "functions" / "other"));
            }
            armed.clear();
            if (!error) continue;  // this step is not part of this operation
            ++failures;
            EXPECT_EQ(error->code, store_errc::io_failed);
            EXPECT_NE(error->message.find("No space left on device"), std::string::npos) << error->message;
            EXPECT_EQ(slurp(fdir / "code.zip"), zip_before);
            EXPECT_EQ(slurp(fdir / "config.json"), config_before);
            EXPECT_EQ(slurp(fdir / "code" / "bootstrap"), "#!/bin/sh\necho v1\n");
            EXPECT_TRUE(empty_dir(dir.path / "tmp"));

            FunctionStore reopened({.data_dir = dir.path});
            ASSERT_TRUE(reopened.open());
            std::vector<std::string> warnings;
            auto all = reopened.load_all(warnings);
            EXPECT_TRUE(warnings.empty());
            ASSERT_EQ(all.size(), 1u);
            EXPECT_EQ(all[0].config.memory_mb, 128u);
        }
    }
    // mkdir, write code.zip, extract, write config.json, fsync: create and
    // replace_code; write config.json, rename: write_config; rename: create;
    // exchange: replace_code; remove: remove.
    EXPECT_EQ(failures, 5 * 2 + 2 + 1 + 1 + 1);
}

TEST(PlatformStore, LoadSkipsDamageAndRepairsMissingCode) {
    TempDir dir;
    {
        FunctionStore store({.data_dir = dir.path});
        ASSERT_TRUE(store.open());
        ASSERT_TRUE(store.create(config("good"), lambda_zip("#!/bin/sh\necho good\n")));
        ASSERT_TRUE(store.create(config("broken"), lambda_zip("#!/bin/sh\n")));
        ASSERT_TRUE(store.create(config("repairable"), lambda_zip("#!/bin/sh\necho again\n")));
    }
    // Damage: a truncated config.json, and an unpacked tree deleted.
    std::ofstream(dir.path / "functions" / "broken" / "config.json", std::ios::trunc) << "{\"name\":\"bro";
    fs::remove_all(dir.path / "functions" / "repairable" / "code");
    // A leftover of an interrupted deploy.
    fs::create_directories(dir.path / "tmp" / "half.123" / "code");

    FunctionStore store({.data_dir = dir.path});
    ASSERT_TRUE(store.open());
    EXPECT_TRUE(empty_dir(dir.path / "tmp"));
    std::vector<std::string> warnings;
    auto all = store.load_all(warnings);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("broken"), std::string::npos) << warnings[0];
    std::map<std::string, fs::path> by_name;
    for (auto& f : all) by_name[f.config.name] = f.code_dir;
    EXPECT_EQ(by_name.size(), 2u);
    ASSERT_TRUE(by_name.contains("repairable"));
    EXPECT_EQ(slurp(by_name["repairable"] / "bootstrap"), "#!/bin/sh\necho again\n");
    // The damaged function is left on disk for a person to look at.
    EXPECT_TRUE(fs::exists(dir.path / "functions" / "broken" / "code.zip"));
}

TEST(PlatformStore, UnusableDataDirIsAClearError) {
    TempDir dir;
    // A file where the data directory should be.
    std::ofstream(dir.path / "file") << "x";
    FunctionStore store({.data_dir = dir.path / "file" / "data"});
    auto r = store.open();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, store_errc::io_failed);
    EXPECT_NE(r.error().message.find("file/data"), std::string::npos) << r.error().message;
}

}  // namespace
