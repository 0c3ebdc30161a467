// Router::handlers_for: which handlers a call runs.
#include <blueprint/router.hpp>

namespace blueprint {

// Order: every `route` for the id in registration order, then every `always`
// handler. The fallback stands in for the routes: it runs exactly when no
// `route` exists for the id, whether or not `always` handlers exist, since
// those observe every call and are not an answer to it. The result is empty
// only when there is no route, no `always` and no fallback (the runner turns
// that into a `job_errc::no_route` result).
std::vector<const Handler*> Router::handlers_for(const JobId& id) const {
    std::vector<const Handler*> out;
    if (auto it = routes_.find(id); it != routes_.end() && !it->second.empty()) {
        out.reserve(it->second.size() + always_.size());
        for (const auto& h : it->second) out.push_back(&h);
    } else if (fallback_) {
        out.push_back(&*fallback_);
    }
    for (const auto& h : always_) out.push_back(&h);
    return out;
}

}  // namespace blueprint
