// Deterministic function packages (zip) per provider, and safe unpacking.
//
// Every package holds the function's native executable as `bootstrap` (unix
// mode 0100755) plus whatever the provider needs around it. The same input
// always gives byte-identical zips: entries are written in a fixed order with
// a fixed timestamp (`kZipTimestamp`), fixed attributes and deflate, and
// nothing of the input file but its bytes (no mtime, owner or name) is used.
// libzip stays behind this header (ARCHITECTURE.md §1, STYLE.md habit 2).
#pragma once

#include <blueprint/error.hpp>
#include <blueprint/job.hpp>

#include <cstdint>
#include <expected>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace blueprint::faas::packaging {

/// Why a package could not be built, read or unpacked.
enum class packaging_errc {
    /// The function binary does not exist or is not a regular file.
    binary_missing = 1,
    /// The function binary has no execute permission (or is empty).
    not_executable,
    /// The binary or package is over a provider limit, or an archive being
    /// read is over its entry-count or size limit; the message names the limit.
    too_large,
    /// Reading the binary or writing unpacked files failed.
    io_error,
    /// libzip failed, or an archive is corrupt or holds an unsafe entry
    /// (absolute path, "..", a duplicate name, a symlink when extracting).
    zip_error,
    /// The job list is unusable: empty for Azure, or holds a duplicate.
    invalid_job,
};

const boost::system::error_category& packaging_category() noexcept;
inline error_code make_error_code(packaging_errc e) noexcept { return {static_cast<int>(e), packaging_category()}; }

/// Where a package will be deployed.
enum class Provider { aws, gcp, azure, custom };

/// "aws", "gcp", "azure", "custom".
std::string_view to_string(Provider provider) noexcept;
/// Parses the names above (ASCII case-insensitive); nullopt for anything else.
std::optional<Provider> parse_provider(std::string_view text) noexcept;

/// Size limits a package is checked against before it is returned.
struct Limits {
    /// Largest zip accepted, in bytes.
    std::uint64_t max_zip_bytes = 0;
    /// Largest sum of the entries' uncompressed sizes, in bytes.
    std::uint64_t max_unzipped_bytes = 0;
};

/// The documented limits of each provider (1 MB = 1 MiB here):
/// - aws: 50 MB zip for a direct upload (CreateFunction `ZipFile`), 250 MB unzipped.
/// - gcp: 100 MB zipped source, 500 MB unzipped (Cloud Functions 2nd gen quotas).
/// - azure: no small zip-deploy limit is documented; 1 GB both ways as a sanity cap.
/// - custom: the custom platform API's advisory 250 MB package (§10), both ways.
Limits default_limits(Provider provider) noexcept;

/// The DOS timestamp every entry carries: 1980-01-01 00:00:00, the earliest a
/// zip can hold. Written as local time by libzip, so it is the same in every
/// time zone.
inline constexpr std::string_view kZipTimestamp = "1980-01-01 00:00:00";

/// The caret range of @google-cloud/functions-framework in the GCP package's
/// package.json (scripts/setup-npm.sh installs the same major for the tests).
inline constexpr std::string_view kFunctionsFrameworkRange = "^5.0.0";

/// Reads a function binary: it must exist, be a regular file (symlinks are
/// followed), have an execute bit, and be at most `max_bytes` long. The size
/// is checked before anything is read.
std::expected<Bytes, Error> read_binary(const std::filesystem::path& path, std::uint64_t max_bytes);

/// AWS Lambda (`provided.al2023`): `bootstrap` at the root.
std::expected<Bytes, Error> package_lambda(const std::filesystem::path& binary,
                                           const Limits& limits = default_limits(Provider::aws));
std::expected<Bytes, Error> package_lambda(std::span<const std::uint8_t> binary,
                                           const Limits& limits = default_limits(Provider::aws));

/// Google Cloud Functions 2nd gen: a Node.js 20 source for the Functions
/// Framework, `package.json` + `index.js` (a shim that runs `bootstrap` in HTTP
/// mode on loopback and forwards every request to it; entry point `blueprint`)
/// + `bootstrap`. See src/faas/packaging/gcp_shim.js.
std::expected<Bytes, Error> package_gcp(const std::filesystem::path& binary,
                                        const Limits& limits = default_limits(Provider::gcp));
std::expected<Bytes, Error> package_gcp(std::span<const std::uint8_t> binary,
                                        const Limits& limits = default_limits(Provider::gcp));

/// Azure Functions custom handler: `host.json`, one folder `job{id}` with a
/// `function.json` (HTTP trigger, POST, authLevel function) per job, and
/// `bootstrap`. Ids are decimal when they fit in u64, else 0x-hex, never
/// truncated (`JobId::to_string`). At least one job; no duplicates.
std::expected<Bytes, Error> package_azure(const std::filesystem::path& binary, std::span<const JobId> jobs,
                                          const Limits& limits = default_limits(Provider::azure));
std::expected<Bytes, Error> package_azure(std::span<const std::uint8_t> binary, std::span<const JobId> jobs,
                                          const Limits& limits = default_limits(Provider::azure));

/// The Blueprint custom platform API (§10): `bootstrap` at the root.
std::expected<Bytes, Error> package_custom(const std::filesystem::path& binary,
                                           const Limits& limits = default_limits(Provider::custom));
std::expected<Bytes, Error> package_custom(std::span<const std::uint8_t> binary,
                                           const Limits& limits = default_limits(Provider::custom));

/// Any provider; `jobs` is used by Azure only. `limits` defaults to the provider's.
std::expected<Bytes, Error> package(Provider provider, const std::filesystem::path& binary,
                                    std::span<const JobId> jobs = {}, std::optional<Limits> limits = std::nullopt);

/// The name of a job's Azure function folder, e.g. "job7" or "job0x1f...".
std::string azure_function_name(const JobId& job);

/// One file of a zip, as read back.
struct ZipEntry {
    /// Path inside the archive, '/'-separated; directories end in '/'.
    std::string name;
    /// Unix st_mode (type and permission bits), e.g. 0100755. Archives made
    /// without unix attributes report 0100644 for files and 040755 for folders.
    std::uint32_t mode = 0;
    Bytes bytes;
};

/// Bounds on what reading or extracting an untrusted archive may cost.
struct ReadLimits {
    std::uint64_t max_entries = 10'000;
    /// Sum of all entries' uncompressed sizes (a zip bomb stops here).
    std::uint64_t max_total_bytes = 1ull << 30;
};

/// Reads every entry into memory. Refuses (zip_error) corrupt archives, CRC
/// mismatches, duplicate names, and unsafe names: empty, absolute ("/x",
/// "C:x", "\\x"), or with a ".." component (zip-slip). Refuses (too_large)
/// archives over `limits`, before inflating the entry that would cross them.
std::expected<std::vector<ZipEntry>, Error> read_zip_entries(std::span<const std::uint8_t> zip,
                                                             const ReadLimits& limits = {});

/// Unpacks into `dir` (created if missing) with the same checks as
/// `read_zip_entries`, and also refuses symlink and other non-regular
/// entries. Files get their archived permission bits (so `bootstrap` stays
/// executable); never follows a symlink already in `dir`. Everything is
/// validated before the first file is written.
std::expected<void, Error> extract_zip(std::span<const std::uint8_t> zip, const std::filesystem::path& dir,
                                       const ReadLimits& limits = {});

}  // namespace blueprint::faas::packaging

template <> struct boost::system::is_error_code_enum<blueprint::faas::packaging::packaging_errc> : std::true_type {};
