// FaasRegistry: job id -> executor.
#include <blueprint/faas/registry.hpp>

#include <algorithm>

namespace blueprint::faas {

void FaasRegistry::register_job(JobId job_id, std::shared_ptr<FaasExecutor> executor) {
    executors_.insert_or_assign(job_id, std::move(executor));
}

std::shared_ptr<FaasExecutor> FaasRegistry::get(const JobId& job_id) const {
    auto it = executors_.find(job_id);
    return it == executors_.end() ? nullptr : it->second;
}

FaasExecutor* FaasRegistry::find(const JobId& job_id) const {
    auto it = executors_.find(job_id);
    return it == executors_.end() ? nullptr : it->second.get();
}

std::vector<JobId> FaasRegistry::job_ids() const {
    std::vector<JobId> ids;
    ids.reserve(executors_.size());
    for (const auto& [id, _] : executors_) ids.push_back(id);
    std::sort(ids.begin(), ids.end());
    return ids;
}

}  // namespace blueprint::faas
