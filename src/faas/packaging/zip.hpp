// The libzip layer of packaging: write a deterministic zip from a list of
// files, and read one back with safety checks. Private header.
#pragma once

#include <blueprint/faas/packaging.hpp>

#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>

namespace blueprint::faas::packaging::detail {

/// One file to store.
struct FileSpec {
    std::string name;
    /// Unix st_mode, e.g. 0100755.
    std::uint32_t mode = 0100644;
    std::span<const std::uint8_t> data;
};

/// Writes `files` in the given order, each deflated, with `kZipTimestamp`
/// and unix attributes `mode`. Same files, same bytes.
std::expected<Bytes, Error> write_zip(std::span<const FileSpec> files);

/// Empty when `name` is a safe relative archive path, else why not.
std::string unsafe_name_reason(std::string_view name);

Error make_error(packaging_errc code, std::string message);

}  // namespace blueprint::faas::packaging::detail
