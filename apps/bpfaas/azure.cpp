// The Azure Functions provider of the lifecycle verbs:
//   bpfaas deploy|invoke|health|warm|undeploy --provider azure --subscription S
//          --resource-group G --app A --region R --job N [BINARY]
// Credentials: --tenant/--client-id (or AZURE_TENANT_ID/AZURE_CLIENT_ID) with
// the secret ONLY from AZURE_CLIENT_SECRET (never a flag: it would land in
// shell history and `ps`), else a managed identity. The storage connection
// string (AzureWebJobsStorage) comes from AZURE_STORAGE_CONNECTION_STRING and
// an invoke-only function key from AZURE_FUNCTIONS_KEY, for the same reason.
//
// Options another provider already registered on a verb (e.g. --region from
// aws) are shared, not redefined: every value is read through its option.
#include "providers.hpp"

#include <blueprint/consumers.hpp>
#include <blueprint/faas/azure.hpp>
#include <blueprint/faas/packaging.hpp>

#include <boost/json.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>

namespace bpfaas {
namespace {

using namespace blueprint;
namespace azure = blueprint::faas::azure;
namespace json = boost::json;

ProviderOptions& azure_options() {
    static ProviderOptions options;
    return options;
}

void add_azure_options(CLI::App& cmd, std::string_view verb) {
    auto* g = cmd.add_option_group("azure", "Azure Functions (--provider azure); the client secret only from AZURE_CLIENT_SECRET");
    auto add = [&](const std::string& name, const std::string& help) { azure_options().add(cmd, g, verb, name, help); };
    add("--subscription", "subscription id");
    add("--resource-group", "resource group (created when missing)");
    add("--app", "function app name (one app hosts every job; each job is function job{id})");
    add("--region", "Azure region, e.g. westeurope");
    add("--tenant", "Entra tenant id (default: AZURE_TENANT_ID)");
    add("--client-id", "service principal's client id (default: AZURE_CLIENT_ID)");
    add("--authority-url", "Entra authority (default https://login.microsoftonline.com)");
    add("--arm-endpoint", "Resource Manager endpoint (default https://management.azure.com)");
    add("--scm-url-template", "Kudu URL, {app} is replaced (default https://{app}.scm.azurewebsites.net)");
    add("--site-url-template", "app URL, {app} is replaced (default https://{app}.azurewebsites.net)");
    if (verb == "deploy") add("--plan", "consumption (Y1, default), premium, or an EP sku (EP1-EP3)");
}

std::string value(const VerbArgs& v, const std::string& name) { return azure_options().value(v.verb, name); }

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

int usage(const VerbArgs& v, std::string_view message) {
    std::cerr << "bpfaas " << v.verb << " --provider azure: " << message << "\n";
    return 2;
}

std::optional<azure::AzureFunctionExecutor> make_executor(const VerbArgs& v) {
    azure::AzureOptions o;
    o.subscription_id = value(v, "--subscription");
    o.resource_group = value(v, "--resource-group");
    o.app_name = value(v, "--app");
    o.region = value(v, "--region");
    for (auto [flag, field] : {std::pair{"--subscription", &o.subscription_id}, std::pair{"--resource-group", &o.resource_group},
                               std::pair{"--app", &o.app_name}})
        if (field->empty()) {
            usage(v, std::string(flag) + " is required");
            return std::nullopt;
        }
    // The region matters only when creating things; other verbs may omit it.
    if (o.region.empty()) {
        if (v.verb == "deploy") {
            usage(v, "--region is required");
            return std::nullopt;
        }
        o.region = "unused";
    }
    if (auto plan = value(v, "--plan"); !plan.empty()) {
        auto kind = azure::parse_plan_kind(plan);
        if (!kind) {
            usage(v, "--plan: '" + plan + "' is not consumption, premium or EP1-EP3");
            return std::nullopt;
        }
        o.plan = *kind;
        if (plan.starts_with("EP") || plan.starts_with("ep")) o.plan_sku = plan;
    }
    const std::string tenant = value(v, "--tenant").empty() ? env("AZURE_TENANT_ID") : value(v, "--tenant");
    const std::string client = value(v, "--client-id").empty() ? env("AZURE_CLIENT_ID") : value(v, "--client-id");
    if (!value(v, "--tenant").empty() || !value(v, "--client-id").empty()) {
        const std::string secret = env("AZURE_CLIENT_SECRET");
        if (tenant.empty() || client.empty() || secret.empty()) {
            usage(v, "a service principal needs --tenant (or AZURE_TENANT_ID), --client-id (or AZURE_CLIENT_ID) and "
                     "AZURE_CLIENT_SECRET in the environment");
            return std::nullopt;
        }
        o.credential = azure::ClientSecretCredential{tenant, client, secret};
    }
    o.storage_connection_string = env("AZURE_STORAGE_CONNECTION_STRING");
    o.function_key = env("AZURE_FUNCTIONS_KEY");
    if (auto s = value(v, "--authority-url"); !s.empty()) o.endpoints.authority = s;
    if (auto s = value(v, "--arm-endpoint"); !s.empty()) o.endpoints.arm = s;
    if (auto s = value(v, "--scm-url-template"); !s.empty()) o.endpoints.scm_url_template = s;
    if (auto s = value(v, "--site-url-template"); !s.empty()) o.endpoints.site_url_template = s;
    o.default_config.timeout_secs = v.config.timeout_secs;
    o.client.log = spdlog_sink();
    auto ex = azure::AzureFunctionExecutor::create(std::move(o));
    if (!ex) {
        fail_verb(v, ex.error());
        return std::nullopt;
    }
    ex->on_progress([](std::string_view line) { print_progress(line); });
    return std::move(*ex);
}


int run_azure(const VerbArgs& v) {
    auto ex = make_executor(v);
    if (!ex) return 2;
    if (v.verb == "deploy") {
        auto binary = read_function_binary(v);
        if (!binary) return 2;
        auto d = run_async(ex->deploy_job(v.job, std::move(*binary), v.config));
        if (!d) return fail_verb(v, d.error());
        if (v.config.keep_warm > 0)
            if (auto w = run_async(ex->warm(v.job, v.config.keep_warm)); !w) return fail_verb(v, w.error());
        return print_deployment(*d);
    }
    if (auto code = run_shared_verb(v, *ex)) return *code;
    std::cerr << "bpfaas: --provider azure does not offer " << v.verb << "\n";
    return 2;
}

}  // namespace

ProviderCli azure_provider_cli() { return ProviderCli{"azure", add_azure_options, run_azure}; }

}  // namespace bpfaas
