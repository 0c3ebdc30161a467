// The Google Cloud Functions (2nd gen) provider of the lifecycle verbs:
//   bpfaas deploy|invoke|health|warm|undeploy --provider gcp --project P --region R
//          [--credentials-file F] [--api-endpoint URL] [--token-uri URL]
//          [--metadata-host H] [--function-prefix X] --job N [BINARY]
// Credentials: --credentials-file, else GOOGLE_APPLICATION_CREDENTIALS, else
// the GCE metadata server (GCE_METADATA_HOST overrides its host). The key is
// only ever read from a file, never a flag (it would land in shell history).
//
// Options another provider already registered on a verb (e.g. --region) are
// shared, not redefined: every value is read through its option.
#include "providers.hpp"

#include <blueprint/consumers.hpp>
#include <blueprint/faas/gcp.hpp>
#include <blueprint/faas/packaging.hpp>

#include <boost/json.hpp>

#include <fstream>
#include <iostream>
#include <iterator>
#include <map>

namespace bpfaas {
namespace {

using namespace blueprint;
namespace gcp = blueprint::faas::gcp;
namespace json = boost::json;

ProviderOptions& gcp_options() {
    static ProviderOptions options;
    return options;
}

void add_gcp_options(CLI::App& cmd, std::string_view verb) {
    auto* g = cmd.add_option_group("gcp", "Google Cloud Functions 2nd gen (--provider gcp)");
    auto add = [&](const std::string& name, const std::string& help) { gcp_options().add(cmd, g, verb, name, help); };
    add("--project", "project id (default: the key file's project_id)");
    add("--region", "region, e.g. us-central1");
    add("--credentials-file", "service-account key file (default: GOOGLE_APPLICATION_CREDENTIALS, then the metadata server)");
    add("--api-endpoint", "Cloud Functions API base (default https://cloudfunctions.googleapis.com/v2/)");
    add("--token-uri", "OAuth token endpoint (default: the key's token_uri)");
    add("--metadata-host", "metadata server host[:port] (default: GCE_METADATA_HOST or metadata.google.internal)");
    add("--function-prefix", "function names are PREFIX-job-N (default blueprint)");
}

std::string value(const VerbArgs& v, const std::string& name) { return gcp_options().value(v.verb, name); }

int usage(const VerbArgs& v, std::string_view message) {
    std::cerr << "bpfaas " << v.verb << " --provider gcp: " << message << "\n";
    return 2;
}

/// The executor, or nullopt with `code` set: 2 for a usage error, 1 when the
/// credentials are unusable.
std::optional<gcp::CloudFunctionExecutor> make_executor(const VerbArgs& v, int& code) {
    code = 2;
    gcp::CloudFunctionOptions o;
    o.project = value(v, "--project");
    o.region = value(v, "--region");
    if (o.region.empty()) {
        usage(v, "--region is required");
        return std::nullopt;
    }
    o.credentials.key_file = value(v, "--credentials-file");
    if (auto s = value(v, "--api-endpoint"); !s.empty()) o.endpoints.api_base = s;
    o.endpoints.token_uri = value(v, "--token-uri");
    o.endpoints.metadata_host = value(v, "--metadata-host");
    if (auto s = value(v, "--function-prefix"); !s.empty()) o.function_prefix = s;
    o.default_config.timeout_secs = v.config.timeout_secs;
    o.http.log = spdlog_sink();
    o.log = spdlog_sink();
    o.progress = [](std::string_view line) { print_progress(line); };
    auto ex = gcp::CloudFunctionExecutor::create(std::move(o));
    if (!ex) {
        code = ex.error().kind == faas::faas_errc::invocation_failed ? usage(v, ex.error().message) : fail_verb(v, ex.error());
        return std::nullopt;
    }
    return std::move(*ex);
}


int run_gcp(const VerbArgs& v) {
    int code = 0;
    auto ex = make_executor(v, code);
    if (!ex) return code;
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
    std::cerr << "bpfaas: --provider gcp does not offer " << v.verb << "\n";
    return 2;
}

}  // namespace

ProviderCli gcp_provider_cli() { return ProviderCli{"gcp", add_gcp_options, run_gcp}; }

}  // namespace bpfaas
