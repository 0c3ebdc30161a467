// `bpfaas package`: zip a function binary for a provider, deterministically.
#include "cli.hpp"

#include <blueprint/faas/packaging.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <unistd.h>

namespace bpfaas {
namespace {

using namespace blueprint;
namespace pkg = blueprint::faas::packaging;

struct PackageArgs {
    std::string provider;
    std::vector<std::string> jobs;
    std::string binary;
    std::string output;
};

// Written next to the target and renamed over it, so a failed run never
// leaves a truncated zip where a build system would take it as up to date.
bool write_atomically(const std::filesystem::path& out, const Bytes& bytes, std::string& error) {
    auto tmp = out;
    tmp += ".tmp." + std::to_string(::getpid());
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!f || !f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size())) ||
            !f.flush()) {
            error = "cannot write " + tmp.string();
            std::error_code ec;
            std::filesystem::remove(tmp, ec);
            return false;
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, out, ec);
    if (ec) {
        error = "cannot rename " + tmp.string() + " to " + out.string() + ": " + ec.message();
        std::filesystem::remove(tmp, ec);
        return false;
    }
    return true;
}

int run_package(const PackageArgs& a) {
    auto provider = pkg::parse_provider(a.provider);
    if (!provider) {
        std::cerr << "bpfaas package: --provider must be aws, gcp, azure or custom, not '" << a.provider << "'\n";
        return 2;
    }
    std::vector<JobId> jobs;
    for (const auto& text : a.jobs) {
        auto id = JobId::parse(text);
        if (!id) {
            std::cerr << "bpfaas package: --job: '" << text << "' is not a job id (decimal, or hex with 0x)\n";
            return 2;
        }
        jobs.push_back(*id);
    }
    if (!jobs.empty() && *provider != pkg::Provider::azure)
        std::cerr << "bpfaas package: note: --job only shapes azure packages; one " << pkg::to_string(*provider)
                  << " package serves every job\n";

    auto zip = pkg::package(*provider, a.binary, jobs);
    if (!zip) {
        std::cerr << "bpfaas package: " << zip.error().to_string() << "\n";
        return 1;
    }
    std::filesystem::path out = a.output;
    if (out.has_parent_path()) {
        std::error_code ec;
        std::filesystem::create_directories(out.parent_path(), ec);
    }
    std::string error;
    if (!write_atomically(out, *zip, error)) {
        std::cerr << "bpfaas package: " << error << "\n";
        return 1;
    }
    std::cout << "wrote " << out.string() << " (" << zip->size() << " bytes, " << pkg::to_string(*provider)
              << " package of " << a.binary;
    if (*provider == pkg::Provider::azure) {
        std::cout << "; functions:";
        for (const auto& j : jobs) std::cout << ' ' << pkg::azure_function_name(j);
    }
    std::cout << ")\n";
    return 0;
}

}  // namespace

Action add_package(CLI::App& app) {
    auto args = std::make_shared<PackageArgs>();
    auto* sub = app.add_subcommand("package", "Zip a function binary as a deterministic provider package");
    sub->add_option("--provider", args->provider, "aws, gcp, azure or custom")->required();
    sub->add_option("--job", args->jobs, "Job id served (azure: one function folder each; repeatable)")
        ->allow_extra_args(false);
    sub->add_option("binary", args->binary, "The function executable (becomes `bootstrap`)")
        ->required();
    sub->add_option("-o,--output", args->output, "The zip to write")->required();
    return [args] { return run_package(*args); };
}

}  // namespace bpfaas
