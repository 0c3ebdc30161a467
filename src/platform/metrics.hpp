// The platform's Prometheus metrics (text exposition format 0.0.4).
// Not thread-safe: updated and rendered on the platform's thread. Private header.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace blueprint::platform {

class Metrics {
public:
    /// Upper bounds of the latency histogram, in seconds.
    static constexpr std::array<double, 15> buckets = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                       1,     2.5,   5,    10,    30,    120,  900};

    void invocation(std::string_view function, std::chrono::microseconds duration, bool error, bool cold_start,
                    bool timed_out);
    void throttle(std::string_view function);
    void api_request(std::string_view api, unsigned status);
    /// Instances of a function by state ("starting", "idle", "busy").
    void set_instances(std::string_view function, std::string_view state, std::uint64_t count);
    void forget(std::string_view function);

    /// The exposition text: bpfaas_invocations_total, bpfaas_invocation_errors_total,
    /// bpfaas_cold_starts_total, bpfaas_timeouts_total, bpfaas_throttles_total,
    /// bpfaas_instances, bpfaas_invocation_duration_seconds (histogram),
    /// bpfaas_api_requests_total.
    std::string render() const;

private:
    struct PerFunction {
        std::uint64_t invocations = 0, errors = 0, cold_starts = 0, timeouts = 0, throttles = 0;
        std::array<std::uint64_t, buckets.size()> bucket_counts{};
        double duration_sum = 0;
        std::map<std::string, std::uint64_t, std::less<>> instances;
    };
    PerFunction& at(std::string_view function);
    std::map<std::string, PerFunction, std::less<>> functions_;
    std::map<std::pair<std::string, unsigned>, std::uint64_t> api_requests_;
};

/// A label value escaped for the exposition format (\\, \", \n).
std::string escape_label(std::string_view value);

}  // namespace blueprint::platform
