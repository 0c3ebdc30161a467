// FaasRegistry: which jobs run on which executor.
#pragma once

#include <blueprint/faas/executor.hpp>

#include <memory>
#include <unordered_map>
#include <vector>

namespace blueprint::faas {

/// Maps job ids to executors. Built before the runner starts and read-only
/// while it runs, so lookups need no lock.
class FaasRegistry {
public:
    /// Registers `executor` for `job_id`, replacing any earlier one.
    void register_job(JobId job_id, std::shared_ptr<FaasExecutor> executor);
    /// The executor for the job, or null.
    std::shared_ptr<FaasExecutor> get(const JobId& job_id) const;
    FaasExecutor* find(const JobId& job_id) const;
    bool is_faas_job(const JobId& job_id) const { return executors_.contains(job_id); }
    /// Registered ids, in ascending order.
    std::vector<JobId> job_ids() const;
    std::size_t size() const noexcept { return executors_.size(); }
    bool empty() const noexcept { return executors_.empty(); }

private:
    std::unordered_map<JobId, std::shared_ptr<FaasExecutor>> executors_;
};

}  // namespace blueprint::faas
