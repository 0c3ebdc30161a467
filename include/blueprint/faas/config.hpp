// FaasConfig, FaasDeployment and FaasMetrics: plain values shared by every provider.
#pragma once

#include <blueprint/job.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace blueprint::faas {

/// How a job's function is deployed and invoked.
struct FaasConfig {
    /// Memory of each instance, in MB.
    std::uint32_t memory_mb = 512;
    /// Deadline of every invocation, in seconds; also the function's own timeout.
    std::uint32_t timeout_secs = 300;
    /// Environment of the function.
    std::map<std::string, std::string> env_vars;
    /// Most instances running at once; none means the provider's default.
    std::optional<std::uint32_t> max_concurrency;
    /// Keep this many instances warm; 0 for none.
    std::uint32_t keep_warm = 0;
    /// Provider-specific options, e.g. {"architecture","arm64"}.
    std::map<std::string, std::string> provider_options;

    std::chrono::milliseconds timeout() const noexcept { return std::chrono::seconds(timeout_secs); }
};

/// What is deployed for a job.
struct FaasDeployment {
    /// The provider's name for the function (e.g. "blueprint-job-7").
    std::string function_id;
    JobId job_id;
    /// Where the function is invoked.
    std::string endpoint;
    /// Cold start of the function's first instance, when the provider reports one.
    std::uint64_t cold_start_ms = 0;
    std::uint32_t memory_mb = 0;
    std::uint32_t timeout_secs = 0;
};

/// How one invocation went. Durations the provider does not report are
/// absent, never invented.
struct FaasMetrics {
    /// Wall time seen by the caller, request to reply.
    std::chrono::microseconds total_duration{0};
    /// Time the function itself ran, as the provider reports it.
    std::optional<std::chrono::microseconds> execution_duration;
    /// Duration billed by the provider.
    std::optional<std::chrono::microseconds> billed_duration;
    /// True when this invocation started a new instance; absent when unknown.
    std::optional<bool> cold_start;
    /// Peak memory of the instance, in MB.
    std::optional<std::uint32_t> memory_used_mb;
};

}  // namespace blueprint::faas
