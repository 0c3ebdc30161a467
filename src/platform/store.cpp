#include "platform/store.hpp"

#include <blueprint/faas/packaging.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

namespace blueprint::platform {
namespace fs = std::filesystem;

namespace {

class StoreCategory final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "blueprint.platform.store"; }
    std::string message(int ev) const override {
        switch (static_cast<store_errc>(ev)) {
        case store_errc::already_exists: return "function already exists";
        case store_errc::not_found: return "function not found";
        case store_errc::io_failed: return "storage failed";
        case store_errc::invalid_package: return "invalid package";
        }
        return "unknown store error";
    }
};

Error make(store_errc e, std::string message) { return Error{make_error_code(e), std::move(message)}; }

Error io_error(std::string_view what, const fs::path& path, int err) {
    return make(store_errc::io_failed,
                std::string(what) + " " + path.string() + ": " + std::strerror(err) + " (nothing stored was changed)");
}

// Writes `data` to a new file and fsyncs it, so the rename that publishes
// it never exposes a short file after a crash.
int write_file_durable(const fs::path& path, std::span<const std::uint8_t> data) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return errno;
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            ::close(fd);
            return e;
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        int e = errno;
        ::close(fd);
        return e;
    }
    if (::close(fd) != 0) return errno;
    return 0;
}

int fsync_dir(const fs::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    int rc = ::fsync(fd) == 0 ? 0 : errno;
    ::close(fd);
    return rc;
}

std::span<const std::uint8_t> as_bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::optional<std::string> read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) return std::nullopt;
    return std::move(ss).str();
}

}  // namespace

const boost::system::error_category& store_category() noexcept {
    static const StoreCategory category;
    return category;
}

FunctionStore::FunctionStore(StoreOptions options)
    : options_(std::move(options)),
      functions_(options_.data_dir / "functions"),
      tmp_(options_.data_dir / "tmp"),
      trash_(options_.data_dir / "trash") {}

fs::path FunctionStore::zip_path(std::string_view name) const { return functions_ / std::string(name) / "code.zip"; }
fs::path FunctionStore::code_dir(std::string_view name) const { return functions_ / std::string(name) / "code"; }

std::expected<void, Error> FunctionStore::open() {
    std::error_code ec;
    for (const auto& dir : {options_.data_dir, functions_, tmp_, trash_}) {
        fs::create_directories(dir, ec);
        if (ec) return std::unexpected(io_error("cannot create", dir, ec.value()));
        if (::access(dir.c_str(), R_OK | W_OK | X_OK) != 0) return std::unexpected(io_error("cannot use", dir, errno));
    }
    // Leftovers of changes interrupted by a crash: staged (never published)
    // or already replaced. Neither is part of any stored function.
    for (const auto& dir : {tmp_, trash_})
        for (const auto& entry : fs::directory_iterator(dir, ec)) fs::remove_all(entry.path(), ec);
    return {};
}

std::vector<StoredFunction> FunctionStore::load_all(std::vector<std::string>& warnings) {
    std::vector<StoredFunction> out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(functions_, ec)) {
        const auto dir = entry.path();
        auto text = read_file(dir / "config.json");
        if (!text) {
            warnings.push_back("skipping " + dir.string() + ": cannot read config.json");
            continue;
        }
        auto config = config_from_json(*text);
        if (!config) {
            warnings.push_back("skipping " + dir.string() + ": config.json: " + config.error());
            continue;
        }
        if (config->name != dir.filename().string()) {
            warnings.push_back("skipping " + dir.string() + ": config.json names '" + config->name + "'");
            continue;
        }
        std::error_code exists_ec;
        if (!fs::is_regular_file(dir / "code" / "bootstrap", exists_ec)) {
            // Repair an unpacked tree lost or damaged outside our control.
            auto zip = read_file(dir / "code.zip");
            fs::remove_all(dir / "code", exists_ec);
            if (!zip || !faas::packaging::extract_zip(as_bytes(*zip), dir / "code",
                                                       {.max_total_bytes = options_.max_unzipped_bytes})) {
                warnings.push_back("skipping " + dir.string() + ": code/ is missing and code.zip cannot be unpacked");
                continue;
            }
        }
        out.push_back({std::move(*config), dir / "code"});
    }
    if (ec) warnings.push_back("cannot list " + functions_.string() + ": " + ec.message());
    return out;
}

std::expected<fs::path, Error> FunctionStore::stage(const FunctionConfig& config, std::span<const std::uint8_t> zip) {
    const fs::path staging = tmp_ / (config.name + "." + random_uuid());
    auto fail = [&](Error e) -> std::expected<fs::path, Error> {
        std::error_code ignored;
        fs::remove_all(staging, ignored);
        return std::unexpected(std::move(e));
    };
    if (int e = fault("mkdir"); e || ::mkdir(staging.c_str(), 0755) != 0)
        return fail(io_error("cannot create", staging, e ? e : errno));
    if (int e = fault("write code.zip"); e || (e = write_file_durable(staging / "code.zip", zip)))
        return fail(io_error("cannot write", staging / "code.zip", e));
    if (int e = fault("extract"))
        return fail(io_error("cannot unpack into", staging / "code", e));
    if (auto r = faas::packaging::extract_zip(zip, staging / "code", {.max_total_bytes = options_.max_unzipped_bytes});
        !r) {
        if (r.error().code == faas::packaging::packaging_errc::io_error)
            return fail(make(store_errc::io_failed, r.error().message + " (nothing stored was changed)"));
        return fail(make(store_errc::invalid_package, "Could not unzip uploaded file: " + r.error().message));
    }
    std::error_code ec;
    if (!fs::is_regular_file(staging / "code" / "bootstrap", ec))
        return fail(make(store_errc::invalid_package,
                         "The package has no 'bootstrap' file at its root; a provided.al2023 function needs one"));
    const std::string json = to_json(config);
    if (int e = fault("write config.json"); e || (e = write_file_durable(staging / "config.json", as_bytes(json))))
        return fail(io_error("cannot write", staging / "config.json", e));
    if (int e = fault("fsync"); e || (e = fsync_dir(staging))) return fail(io_error("cannot sync", staging, e));
    return staging;
}

std::expected<StoredFunction, Error> FunctionStore::create(const FunctionConfig& config,
                                                           std::span<const std::uint8_t> zip) {
    const fs::path target = functions_ / config.name;
    std::error_code ec;
    if (fs::exists(target, ec)) return std::unexpected(make(store_errc::already_exists, "Function already exist: " + config.name));
    auto staged = stage(config, zip);
    if (!staged) return std::unexpected(staged.error());
    // renameat2(RENAME_NOREPLACE): a directory appearing meanwhile is not overwritten.
    int e = fault("rename");
    if (!e && ::renameat2(AT_FDCWD, staged->c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE) != 0) e = errno;
    if (e == EINVAL || e == ENOSYS) e = ::rename(staged->c_str(), target.c_str()) == 0 ? 0 : errno;
    if (e) {
        fs::remove_all(*staged, ec);
        if (e == EEXIST || e == ENOTEMPTY)
            return std::unexpected(make(store_errc::already_exists, "Function already exist: " + config.name));
        return std::unexpected(io_error("cannot publish", target, e));
    }
    // The rename is durable once the parent directory is synced. A failure
    // here leaves the function stored and visible, so it is only reported.
    fsync_dir(functions_);
    return StoredFunction{config, target / "code"};
}

std::expected<StoredFunction, Error> FunctionStore::replace_code(const FunctionConfig& config,
                                                                 std::span<const std::uint8_t> zip) {
    const fs::path target = functions_ / config.name;
    std::error_code ec;
    if (!fs::exists(target, ec)) return std::unexpected(make(store_errc::not_found, "Function not found: " + config.name));
    auto staged = stage(config, zip);
    if (!staged) return std::unexpected(staged.error());
    // Swap the whole directory at once; the old tree ends up in `staged`.
    int e = fault("exchange");
    if (!e && ::renameat2(AT_FDCWD, staged->c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) != 0) e = errno;
    if (e == EINVAL || e == ENOSYS) {
        // No RENAME_EXCHANGE on this file system: two renames, undone on failure.
        const fs::path aside = trash_ / (config.name + "." + random_uuid());
        e = ::rename(target.c_str(), aside.c_str()) == 0 ? 0 : errno;
        if (!e && ::rename(staged->c_str(), target.c_str()) != 0) {
            e = errno;
            ::rename(aside.c_str(), target.c_str());
        }
        if (!e) fs::rename(aside, *staged, ec);
    }
    if (e) {
        fs::remove_all(*staged, ec);
        return std::unexpected(io_error("cannot replace", target, e));
    }
    fsync_dir(functions_);
    fs::remove_all(*staged, ec);
    return StoredFunction{config, target / "code"};
}

std::expected<void, Error> FunctionStore::write_config(const FunctionConfig& config) {
    const fs::path dir = functions_ / config.name;
    std::error_code ec;
    if (!fs::exists(dir, ec)) return std::unexpected(make(store_errc::not_found, "Function not found: " + config.name));
    const fs::path tmp = dir / ("config.json." + random_uuid() + ".tmp");
    const std::string json = to_json(config);
    int e = fault("write config.json");
    if (!e) e = write_file_durable(tmp, as_bytes(json));
    if (!e) e = fault("rename");
    if (!e && ::rename(tmp.c_str(), (dir / "config.json").c_str()) != 0) e = errno;
    if (e) {
        fs::remove(tmp, ec);
        return std::unexpected(io_error("cannot write", dir / "config.json", e));
    }
    fsync_dir(dir);
    return {};
}

std::expected<void, Error> FunctionStore::remove(std::string_view name) {
    const fs::path target = functions_ / std::string(name);
    std::error_code ec;
    if (!fs::exists(target, ec))
        return std::unexpected(make(store_errc::not_found, "Function not found: " + std::string(name)));
    const fs::path aside = trash_ / (std::string(name) + "." + random_uuid());
    int e = fault("remove");
    if (!e && ::rename(target.c_str(), aside.c_str()) != 0) e = errno;
    if (e) return std::unexpected(io_error("cannot delete", target, e));
    fsync_dir(functions_);
    fs::remove_all(aside, ec);
    return {};
}

}  // namespace blueprint::platform
