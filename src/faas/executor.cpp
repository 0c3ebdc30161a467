// Default bodies of the optional FaasExecutor operations.
#include <blueprint/faas/executor.hpp>

#include <chrono>
#include <string>

namespace blueprint::faas {
namespace {

FaasError unsupported(std::string_view provider, std::string_view op) {
    std::string msg(provider);
    msg += " does not support ";
    msg += op;
    return FaasError::make(faas_errc::unsupported, std::move(msg));
}

}  // namespace

// Only the caller's wall time is known here; the provider-reported fields
// stay empty rather than being guessed (no invented cold starts).
awaitable<Result<InvocationOutcome>> FaasExecutor::invoke_with_metrics(JobCall call) {
    auto start = std::chrono::steady_clock::now();
    auto result = co_await invoke(std::move(call));
    auto elapsed = std::chrono::steady_clock::now() - start;
    if (!result) co_return std::unexpected(std::move(result.error()));
    FaasMetrics metrics;
    metrics.total_duration = std::chrono::duration_cast<std::chrono::microseconds>(elapsed);
    co_return InvocationOutcome{std::move(*result), metrics};
}

awaitable<Result<FaasDeployment>> FaasExecutor::deploy_job(JobId, Bytes, FaasConfig) {
    co_return std::unexpected(unsupported(provider_name(), "deploy"));
}

awaitable<Result<void>> FaasExecutor::warm(JobId, std::size_t) {
    co_return std::unexpected(unsupported(provider_name(), "warm"));
}

awaitable<Result<FaasDeployment>> FaasExecutor::get_deployment(JobId) {
    co_return std::unexpected(unsupported(provider_name(), "get_deployment"));
}

awaitable<Result<void>> FaasExecutor::undeploy_job(JobId) {
    co_return std::unexpected(unsupported(provider_name(), "undeploy"));
}

}  // namespace blueprint::faas
