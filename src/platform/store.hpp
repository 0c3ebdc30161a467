// The function store: data_dir/functions/{name}/ holding config.json,
// code.zip and code/ (the unpacked package). Private header.
//
// Every change is staged in data_dir/tmp/, fsynced, and moved into place
// with one rename (a code update swaps whole directories with
// renameat2(RENAME_EXCHANGE)), so a crash, a full disk or an unwritable
// directory leaves either the old function or the new one, never a mix,
// and never loses what was stored. Not thread-safe: the platform calls it
// from one thread at a time (per function name, one change at a time).
#pragma once

#include "platform/model.hpp"

#include <blueprint/error.hpp>

#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace blueprint::platform {

enum class store_errc {
    /// A function of that name already exists.
    already_exists = 1,
    /// No function of that name.
    not_found,
    /// Writing, syncing or renaming failed (full disk, read-only, I/O error);
    /// the message names the path and the OS error. Nothing stored was lost.
    io_failed,
    /// The package is not a usable zip, or has no `bootstrap` at its root.
    invalid_package,
};

const boost::system::error_category& store_category() noexcept;
inline error_code make_error_code(store_errc e) noexcept { return {static_cast<int>(e), store_category()}; }

struct StoreOptions {
    std::filesystem::path data_dir;
    /// Cap on the unpacked size of a package (Lambda: 250 MB).
    std::uint64_t max_unzipped_bytes = 250ull * 1024 * 1024;
    /// Fault injection for tests: called before each write step with its
    /// name ("mkdir", "write code.zip", "extract", "write config.json",
    /// "fsync", "rename", "exchange", "remove"); a non-zero errno fails it.
    std::function<int(std::string_view step)> fault;
};

struct StoredFunction {
    FunctionConfig config;
    /// The unpacked package: LAMBDA_TASK_ROOT, holding `bootstrap`.
    std::filesystem::path code_dir;
};

class FunctionStore {
public:
    using FaultHook = std::function<int(std::string_view step)>;
    explicit FunctionStore(StoreOptions options);

    /// Creates the directories and clears leftovers of interrupted changes.
    std::expected<void, Error> open();

    /// Every stored function. A function that cannot be read is skipped with
    /// a line in `warnings` and left on disk untouched; a missing code/ is
    /// re-extracted from code.zip.
    std::vector<StoredFunction> load_all(std::vector<std::string>& warnings);

    /// Stores a new function: already_exists, invalid_package or io_failed.
    std::expected<StoredFunction, Error> create(const FunctionConfig& config, std::span<const std::uint8_t> zip);
    /// Replaces code and config of an existing function at once.
    std::expected<StoredFunction, Error> replace_code(const FunctionConfig& config, std::span<const std::uint8_t> zip);
    /// Replaces config.json only.
    std::expected<void, Error> write_config(const FunctionConfig& config);
    /// Deletes a function: it disappears with one rename.
    std::expected<void, Error> remove(std::string_view name);

    /// The stored package, for GetFunction's Code.Location.
    std::filesystem::path zip_path(std::string_view name) const;
    std::filesystem::path code_dir(std::string_view name) const;

private:
    std::expected<std::filesystem::path, Error> stage(const FunctionConfig& config, std::span<const std::uint8_t> zip);
    int fault(std::string_view step) const { return options_.fault ? options_.fault(step) : 0; }

    StoreOptions options_;
    std::filesystem::path functions_, tmp_, trash_;
};

}  // namespace blueprint::platform

template <> struct boost::system::is_error_code_enum<blueprint::platform::store_errc> : std::true_type {};
