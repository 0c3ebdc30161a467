// The packages of each provider: which files, in which order, with which
// modes, and the size limits they are checked against.
#include "zip.hpp"

#include "gcp_shim_js.hpp"  // generated at build time from gcp_shim.js

#include <algorithm>
#include <fstream>

namespace blueprint::faas::packaging {

using detail::FileSpec;
using detail::make_error;

namespace {

constexpr std::uint64_t MiB = 1024 * 1024;
constexpr std::uint32_t kExecutable = 0100755;
constexpr std::uint32_t kRegular = 0100644;

std::string_view display_name(Provider p) noexcept {
    switch (p) {
    case Provider::aws: return "AWS Lambda";
    case Provider::gcp: return "Google Cloud Functions";
    case Provider::azure: return "Azure Functions";
    case Provider::custom: return "the Blueprint custom platform";
    }
    return "the provider";
}

// "50 MB (52428800 bytes)", or just the bytes when not a whole MB.
std::string describe_size(std::uint64_t bytes) {
    if (bytes >= MiB && bytes % MiB == 0)
        return std::to_string(bytes / MiB) + " MB (" + std::to_string(bytes) + " bytes)";
    return std::to_string(bytes) + " bytes";
}

std::unexpected<Error> over_limit(Provider p, std::string_view what, std::uint64_t size, std::string_view kind,
                                  std::uint64_t limit) {
    return std::unexpected(make_error(packaging_errc::too_large,
                                      std::string(what) + " is " + std::to_string(size) + " bytes, over " +
                                          std::string(display_name(p)) + "'s " + describe_size(limit) + " " +
                                          std::string(kind) + " limit"));
}

std::expected<Bytes, Error> read_file(const std::filesystem::path& path, std::uint64_t max_bytes,
                                      std::optional<Provider> provider) {
    namespace fs = std::filesystem;
    std::error_code ec;
    auto st = fs::status(path, ec);
    if (ec || !fs::exists(st))
        return std::unexpected(make_error(packaging_errc::binary_missing,
                                          "function binary '" + path.string() + "' does not exist"));
    if (!fs::is_regular_file(st))
        return std::unexpected(make_error(packaging_errc::binary_missing,
                                          "function binary '" + path.string() + "' is not a regular file"));
    constexpr auto any_exec = fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec;
    if ((st.permissions() & any_exec) == fs::perms::none)
        return std::unexpected(make_error(packaging_errc::not_executable,
                                          "function binary '" + path.string() +
                                              "' has no execute permission (chmod +x it)"));
    auto size = fs::file_size(path, ec);
    if (ec)
        return std::unexpected(
            make_error(packaging_errc::io_error, "cannot stat '" + path.string() + "': " + ec.message()));
    // Checked before reading, so a huge (or sparse) file costs nothing.
    if (size > max_bytes) {
        if (provider) return over_limit(*provider, "function binary '" + path.string() + "'", size, "unzipped", max_bytes);
        return std::unexpected(make_error(packaging_errc::too_large,
                                          "function binary '" + path.string() + "' is " + std::to_string(size) +
                                              " bytes, over the limit of " + describe_size(max_bytes)));
    }
    if (size == 0)
        return std::unexpected(
            make_error(packaging_errc::not_executable, "function binary '" + path.string() + "' is empty"));
    std::ifstream in(path, std::ios::binary);
    Bytes bytes(static_cast<std::size_t>(size));
    if (!in || !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size())) ||
        in.peek() != std::char_traits<char>::eof())
        return std::unexpected(make_error(packaging_errc::io_error,
                                          "cannot read function binary '" + path.string() +
                                              "' (it changed size or is unreadable)"));
    return bytes;
}

/// Checks the binary and the finished package against `limits`, then zips.
std::expected<Bytes, Error> build(Provider p, std::span<const std::uint8_t> binary, std::span<const FileSpec> files,
                                  const Limits& limits) {
    if (binary.empty())
        return std::unexpected(make_error(packaging_errc::not_executable, "the function binary is empty"));
    std::uint64_t unzipped = 0;
    for (const auto& f : files) unzipped += f.data.size();
    if (unzipped > limits.max_unzipped_bytes)
        return over_limit(p, "the unzipped " + std::string(to_string(p)) + " package", unzipped, "unzipped",
                          limits.max_unzipped_bytes);
    auto zip = detail::write_zip(files);
    if (!zip) return zip;
    if (zip->size() > limits.max_zip_bytes)
        return over_limit(p, "the zipped " + std::string(to_string(p)) + " package", zip->size(),
                          p == Provider::aws ? "direct-upload zip" : "zip", limits.max_zip_bytes);
    return zip;
}

std::span<const std::uint8_t> as_bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// The Functions Framework major is pinned with a caret range (see
// scripts/setup-npm.sh); Node 20 is the runtime the package is built for.
const std::string& gcp_package_json() {
    static const std::string text = std::string(R"({
  "name": "blueprint-function",
  "version": "1.0.0",
  "description": "A Blueprint FaaS function: a native bootstrap behind the Functions Framework",
  "main": "index.js",
  "engines": {
    "node": ">=20"
  },
  "dependencies": {
    "@google-cloud/functions-framework": ")") + std::string(kFunctionsFrameworkRange) + R"("
  }
}
)";
    return text;
}

// No "extensionBundle": custom handlers whose functions use only HTTP
// triggers and outputs don't need one (HTTP bindings are built into the
// host); a bundle is only required for other trigger/binding types.
// https://learn.microsoft.com/azure/azure-functions/functions-custom-handlers#hostjson
constexpr std::string_view kAzureHostJson = R"({
  "version": "2.0",
  "customHandler": {
    "description": {
      "defaultExecutablePath": "bootstrap",
      "workingDirectory": "",
      "arguments": []
    },
    "enableForwardingHttpRequest": true
  }
}
)";

constexpr std::string_view kAzureFunctionJson = R"({
  "bindings": [
    {
      "type": "httpTrigger",
      "direction": "in",
      "name": "req",
      "authLevel": "function",
      "methods": ["post"]
    },
    {
      "type": "http",
      "direction": "out",
      "name": "res"
    }
  ]
}
)";

}  // namespace

std::string_view to_string(Provider provider) noexcept {
    switch (provider) {
    case Provider::aws: return "aws";
    case Provider::gcp: return "gcp";
    case Provider::azure: return "azure";
    case Provider::custom: return "custom";
    }
    return "unknown";
}

std::optional<Provider> parse_provider(std::string_view text) noexcept {
    auto eq = [&](std::string_view name) {
        return std::ranges::equal(text, name, [](char a, char b) {
            return (a >= 'A' && a <= 'Z' ? char(a - 'A' + 'a') : a) == b;
        });
    };
    for (auto p : {Provider::aws, Provider::gcp, Provider::azure, Provider::custom})
        if (eq(to_string(p))) return p;
    return std::nullopt;
}

Limits default_limits(Provider provider) noexcept {
    switch (provider) {
    // https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
    case Provider::aws: return {50 * MiB, 250 * MiB};
    // https://cloud.google.com/functions/quotas (max deployment size)
    case Provider::gcp: return {100 * MiB, 500 * MiB};
    case Provider::azure: return {1024 * MiB, 1024 * MiB};
    case Provider::custom: return {250 * MiB, 250 * MiB};
    }
    return {250 * MiB, 250 * MiB};
}

std::expected<Bytes, Error> read_binary(const std::filesystem::path& path, std::uint64_t max_bytes) {
    return read_file(path, max_bytes, std::nullopt);
}

std::string azure_function_name(const JobId& job) { return "job" + job.to_string(); }

std::expected<Bytes, Error> package_lambda(std::span<const std::uint8_t> binary, const Limits& limits) {
    const FileSpec files[] = {{"bootstrap", kExecutable, binary}};
    return build(Provider::aws, binary, files, limits);
}

std::expected<Bytes, Error> package_custom(std::span<const std::uint8_t> binary, const Limits& limits) {
    const FileSpec files[] = {{"bootstrap", kExecutable, binary}};
    return build(Provider::custom, binary, files, limits);
}

std::expected<Bytes, Error> package_gcp(std::span<const std::uint8_t> binary, const Limits& limits) {
    const FileSpec files[] = {
        {"package.json", kRegular, as_bytes(gcp_package_json())},
        {"index.js", kRegular, as_bytes(detail::kGcpShimJs)},
        {"bootstrap", kExecutable, binary},
    };
    return build(Provider::gcp, binary, files, limits);
}

std::expected<Bytes, Error> package_azure(std::span<const std::uint8_t> binary, std::span<const JobId> jobs,
                                          const Limits& limits) {
    if (jobs.empty())
        return std::unexpected(make_error(packaging_errc::invalid_job,
                                          "an Azure package needs at least one job (one function folder per job)"));
    // Sorted, so the order jobs were given in doesn't change the bytes.
    std::vector<JobId> sorted(jobs.begin(), jobs.end());
    std::ranges::sort(sorted);
    if (auto dup = std::ranges::adjacent_find(sorted); dup != sorted.end())
        return std::unexpected(
            make_error(packaging_errc::invalid_job, "job " + dup->to_string() + " is listed more than once"));
    std::vector<FileSpec> files;
    files.push_back({"host.json", kRegular, as_bytes(kAzureHostJson)});
    for (const auto& job : sorted)
        files.push_back({azure_function_name(job) + "/function.json", kRegular, as_bytes(kAzureFunctionJson)});
    files.push_back({"bootstrap", kExecutable, binary});
    return build(Provider::azure, binary, files, limits);
}

std::expected<Bytes, Error> package_lambda(const std::filesystem::path& binary, const Limits& limits) {
    auto bytes = read_file(binary, limits.max_unzipped_bytes, Provider::aws);
    if (!bytes) return bytes;
    return package_lambda(std::span<const std::uint8_t>(*bytes), limits);
}

std::expected<Bytes, Error> package_custom(const std::filesystem::path& binary, const Limits& limits) {
    auto bytes = read_file(binary, limits.max_unzipped_bytes, Provider::custom);
    if (!bytes) return bytes;
    return package_custom(std::span<const std::uint8_t>(*bytes), limits);
}

std::expected<Bytes, Error> package_gcp(const std::filesystem::path& binary, const Limits& limits) {
    auto bytes = read_file(binary, limits.max_unzipped_bytes, Provider::gcp);
    if (!bytes) return bytes;
    return package_gcp(std::span<const std::uint8_t>(*bytes), limits);
}

std::expected<Bytes, Error> package_azure(const std::filesystem::path& binary, std::span<const JobId> jobs,
                                          const Limits& limits) {
    // The job list is checked first: it is cheaper than reading the binary.
    if (jobs.empty()) return package_azure(std::span<const std::uint8_t>{}, jobs, limits);
    auto bytes = read_file(binary, limits.max_unzipped_bytes, Provider::azure);
    if (!bytes) return bytes;
    return package_azure(std::span<const std::uint8_t>(*bytes), jobs, limits);
}

std::expected<Bytes, Error> package(Provider provider, const std::filesystem::path& binary,
                                    std::span<const JobId> jobs, std::optional<Limits> limits) {
    const Limits l = limits.value_or(default_limits(provider));
    switch (provider) {
    case Provider::aws: return package_lambda(binary, l);
    case Provider::gcp: return package_gcp(binary, l);
    case Provider::azure: return package_azure(binary, jobs, l);
    case Provider::custom: return package_custom(binary, l);
    }
    return std::unexpected(make_error(packaging_errc::invalid_job, "unknown provider"));
}

}  // namespace blueprint::faas::packaging
