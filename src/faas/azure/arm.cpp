// ARM URLs, bodies and replies (pure; see protocol.hpp).
#include "faas/azure/protocol.hpp"

#include <boost/json.hpp>

namespace blueprint::faas::azure::detail {
namespace json = boost::json;

namespace {

std::string with_version(std::string url, std::string_view version) {
    url += "?api-version=";
    url += version;
    return url;
}

std::string subscription_path(const ArmTarget& t) { return t.arm + "/subscriptions/" + percent_encode(t.subscription); }

std::string web_path(const ArmTarget& t) {
    return subscription_path(t) + "/resourceGroups/" + percent_encode(t.resource_group) + "/providers/Microsoft.Web";
}

std::string string_field(const json::object& o, std::string_view key) {
    if (const auto* v = o.if_contains(key); v && v->is_string()) return std::string(v->get_string());
    return {};
}

std::expected<json::value, FaasError> parse_json(std::string_view body, std::string_view what) {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec) return std::unexpected(FaasError::make(faas_errc::serialization, std::string(what) + ": reply is not JSON"));
    return v;
}

}  // namespace

std::string resource_group_url(const ArmTarget& t) {
    return with_version(subscription_path(t) + "/resourcegroups/" + percent_encode(t.resource_group),
                        resource_group_api_version);
}
std::string plan_name(const ArmTarget& t) { return t.app + "-plan"; }
std::string plan_id(const ArmTarget& t) {
    return "/subscriptions/" + t.subscription + "/resourceGroups/" + t.resource_group +
           "/providers/Microsoft.Web/serverfarms/" + plan_name(t);
}
std::string plan_url(const ArmTarget& t) {
    return with_version(web_path(t) + "/serverfarms/" + percent_encode(plan_name(t)), web_api_version);
}
std::string site_url(const ArmTarget& t) {
    return with_version(web_path(t) + "/sites/" + percent_encode(t.app), web_api_version);
}
std::string functions_url(const ArmTarget& t) {
    return with_version(web_path(t) + "/sites/" + percent_encode(t.app) + "/functions", web_api_version);
}
std::string function_url(const ArmTarget& t, std::string_view function) {
    return with_version(web_path(t) + "/sites/" + percent_encode(t.app) + "/functions/" + percent_encode(function),
                        web_api_version);
}
std::string list_keys_url(const ArmTarget& t) {
    return with_version(web_path(t) + "/sites/" + percent_encode(t.app) + "/host/default/listKeys", web_api_version);
}

std::string resource_group_body(std::string_view region) {
    json::object o;
    o["location"] = region;
    return json::serialize(o);
}

std::string plan_body(std::string_view region, PlanKind plan, std::string_view sku) {
    json::object o;
    o["location"] = region;
    json::object s;
    if (plan == PlanKind::premium) {
        o["kind"] = "elastic";
        s["name"] = sku.empty() ? "EP1" : sku;
        s["tier"] = "ElasticPremium";
    } else {
        o["kind"] = "functionapp";
        s["name"] = sku.empty() ? "Y1" : sku;
        s["tier"] = "Dynamic";
    }
    o["sku"] = std::move(s);
    json::object props;
    props["reserved"] = true;  // Linux
    o["properties"] = std::move(props);
    return json::serialize(o);
}

std::string site_body(const ArmTarget& t, std::string_view region, std::string_view storage,
                      const std::map<std::string, std::string>& env) {
    json::array settings;
    auto add = [&](std::string_view name, std::string_view value) {
        json::object s;
        s["name"] = name;
        s["value"] = value;
        settings.push_back(std::move(s));
    };
    add("FUNCTIONS_WORKER_RUNTIME", "Custom");
    add("FUNCTIONS_EXTENSION_VERSION", "~4");
    if (!storage.empty()) add("AzureWebJobsStorage", storage);
    for (const auto& [name, value] : env) {
        if (name == "FUNCTIONS_WORKER_RUNTIME" || name == "FUNCTIONS_EXTENSION_VERSION" ||
            (name == "AzureWebJobsStorage" && !storage.empty()))
            continue;
        add(name, value);
    }
    json::object site_config;
    site_config["appSettings"] = std::move(settings);
    json::object props;
    props["serverFarmId"] = plan_id(t);
    props["reserved"] = true;
    props["httpsOnly"] = true;
    props["siteConfig"] = std::move(site_config);
    json::object o;
    o["location"] = region;
    o["kind"] = "functionapp,linux";
    o["properties"] = std::move(props);
    return json::serialize(o);
}

FaasError arm_error(const http::Response& response, std::string_view what) {
    const int status = response.status;
    faas_errc kind = faas_errc::invocation_failed;
    if (status == 401 || status == 403) kind = faas_errc::unauthorized;
    else if (status == 404) kind = faas_errc::not_found;
    else if (status == 429) kind = faas_errc::throttled;
    else if (status >= 500) kind = faas_errc::infrastructure;
    std::string message = std::string(what) + ": HTTP " + std::to_string(status);
    boost::system::error_code ec;
    json::value doc = json::parse(response.body, ec);
    if (!ec && doc.is_object()) {
        if (const auto* e = doc.as_object().if_contains("error"); e && e->is_object()) {
            const auto code = string_field(e->as_object(), "code");
            const auto msg = string_field(e->as_object(), "message");
            if (!code.empty()) message += " " + code;
            if (!msg.empty()) message += ": " + msg.substr(0, 500);
        }
    } else if (!response.body.empty()) {
        message += ": " + response.body.substr(0, 200);
    }
    FaasError out = FaasError::make(kind, std::move(message));
    out.http_status = status;
    out.request_id = std::string(response.header("x-ms-request-id"));
    if (status == 429 || status == 503)
        out.retry_after = http::parse_retry_after(response.header("Retry-After"), std::chrono::system_clock::now());
    return out;
}

std::expected<std::string, FaasError> parse_site_state(std::string_view body) {
    auto doc = parse_json(body, "azure: site");
    if (!doc) return std::unexpected(doc.error());
    if (!doc->is_object()) return std::unexpected(FaasError::make(faas_errc::serialization, "azure: site is not an object"));
    const auto* props = doc->as_object().if_contains("properties");
    if (!props || !props->is_object()) return std::string();
    return string_field(props->as_object(), "state");
}

std::expected<FunctionList, FaasError> parse_function_list(std::string_view body) {
    auto doc = parse_json(body, "azure: functions list");
    if (!doc) return std::unexpected(doc.error());
    const auto* value = doc->is_object() ? doc->as_object().if_contains("value") : nullptr;
    if (!value || !value->is_array())
        return std::unexpected(FaasError::make(faas_errc::serialization, "azure: functions list has no 'value' array"));
    FunctionList out;
    for (const auto& item : value->as_array()) {
        if (!item.is_object()) continue;
        std::string name;
        if (const auto* p = item.as_object().if_contains("properties"); p && p->is_object())
            name = string_field(p->as_object(), "name");
        if (name.empty()) {
            // ARM's own name is "{app}/{function}".
            name = string_field(item.as_object(), "name");
            if (auto slash = name.rfind('/'); slash != std::string::npos) name = name.substr(slash + 1);
        }
        if (!name.empty()) out.names.push_back(std::move(name));
    }
    out.next_link = string_field(doc->as_object(), "nextLink");
    return out;
}

std::expected<std::string, FaasError> parse_host_keys(std::string_view body) {
    auto doc = parse_json(body, "azure: listKeys");
    if (!doc) return std::unexpected(doc.error());
    if (!doc->is_object()) return std::unexpected(FaasError::make(faas_errc::serialization, "azure: listKeys reply is not an object"));
    const auto& o = doc->as_object();
    if (const auto* fk = o.if_contains("functionKeys"); fk && fk->is_object()) {
        if (auto d = string_field(fk->as_object(), "default"); !d.empty()) return d;
        for (const auto& [name, value] : fk->as_object())
            if (value.is_string() && !value.get_string().empty()) return std::string(value.get_string());
    }
    if (auto master = string_field(o, "masterKey"); !master.empty()) return master;
    return std::unexpected(FaasError::make(faas_errc::serialization, "azure: listKeys reply holds no key"));
}

ArmAsyncStep arm_async_start(const http::Response& response) {
    ArmAsyncStep step;
    if (response.status == 202) {
        step.step = ArmAsync::poll;
        step.poll_url = std::string(response.header("Azure-AsyncOperation"));
        if (step.poll_url.empty()) step.poll_url = std::string(response.header("Location"));
        if (step.poll_url.empty()) step.step = ArmAsync::done;  // accepted, nothing to watch
        return step;
    }
    if (response.status >= 200 && response.status <= 299) return step;
    step.step = ArmAsync::failed;
    step.message = "HTTP " + std::to_string(response.status);
    return step;
}

ArmAsyncStep arm_async_poll(const http::Response& response, bool azure_async_operation) {
    ArmAsyncStep step;
    if (response.status == 202) {
        step.step = ArmAsync::poll;
        return step;
    }
    if (response.status < 200 || response.status > 299) {
        step.step = ArmAsync::failed;
        step.message = "HTTP " + std::to_string(response.status);
        return step;
    }
    if (!azure_async_operation) return step;
    boost::system::error_code ec;
    json::value doc = json::parse(response.body, ec);
    if (ec || !doc.is_object()) {
        step.step = ArmAsync::failed;
        step.message = "the operation status is not JSON";
        return step;
    }
    const auto status = string_field(doc.as_object(), "status");
    if (status == "Succeeded") return step;
    if (status == "Failed" || status == "Canceled") {
        step.step = ArmAsync::failed;
        step.message = "operation " + status;
        if (const auto* e = doc.as_object().if_contains("error"); e && e->is_object())
            if (auto m = string_field(e->as_object(), "message"); !m.empty()) step.message += ": " + m;
        return step;
    }
    step.step = ArmAsync::poll;
    return step;
}

}  // namespace blueprint::faas::azure::detail
