// FaasExecutor: the one interface every FaaS provider implements.
#pragma once

#include <blueprint/faas/config.hpp>
#include <blueprint/faas/error.hpp>
#include <blueprint/job.hpp>

#include <boost/asio/awaitable.hpp>

#include <expected>
#include <string_view>

namespace blueprint::faas {

template <class T> using awaitable = boost::asio::awaitable<T>;
template <class T> using Result = std::expected<T, FaasError>;

/// A job's result together with how the invocation went.
struct InvocationOutcome {
    JobResult result;
    FaasMetrics metrics;
};

/// Runs jobs on a FaaS provider.
///
/// Every method is a coroutine that runs on the caller's executor; the
/// executor object must outlive the call. Cancelling the awaiting coroutine
/// (per-operation cancellation) abandons the request and yields
/// `faas_errc::timeout` or the cancellation's error. Implementations are
/// safe to call concurrently.
class FaasExecutor {
public:
    virtual ~FaasExecutor() = default;

    /// Runs the job remotely. A failure of the job itself is an error
    /// `JobResult`; a transport or provider failure is a `FaasError`.
    virtual awaitable<Result<JobResult>> invoke(JobCall call) = 0;

    /// As `invoke`, with metrics taken from the provider where it reports
    /// them. The default measures wall time only.
    virtual awaitable<Result<InvocationOutcome>> invoke_with_metrics(JobCall call);

    /// Packages `binary` (a function-runtime executable), creates or updates
    /// the job's function, and waits until it can be invoked.
    virtual awaitable<Result<FaasDeployment>> deploy_job(JobId job_id, Bytes binary, FaasConfig config);

    /// False when the function is missing or not ready; an error only when
    /// the provider cannot be reached.
    virtual awaitable<Result<bool>> health_check(JobId job_id) = 0;

    /// Pre-warms `instances` instances with the warm-up event.
    virtual awaitable<Result<void>> warm(JobId job_id, std::size_t instances = 1);

    /// What is deployed for the job.
    virtual awaitable<Result<FaasDeployment>> get_deployment(JobId job_id);

    /// Deletes the job's function. A function that is already gone counts as done.
    virtual awaitable<Result<void>> undeploy_job(JobId job_id);

    /// "aws-lambda", "gcp-cloud-functions", "azure-functions", "custom-http".
    virtual std::string_view provider_name() const noexcept = 0;
};

}  // namespace blueprint::faas
