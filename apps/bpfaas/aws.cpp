// The AWS Lambda provider of the lifecycle verbs (`bpfaas deploy|invoke|
// health|warm|undeploy|list --provider aws ...`) and `bpfaas aws sign`, a
// SigV4 debugging verb. Secrets: the lifecycle verbs take credentials only
// from the standard chain (environment, profile, container, IMDS), never
// from the command line; only `aws sign` accepts --secret-key.
#include "providers.hpp"

#include <blueprint/consumers.hpp>
#include <blueprint/faas/aws.hpp>

#include "faas/aws/sigv4.hpp"
#include "faas/http/url.hpp"

#include <boost/json.hpp>

#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

namespace bpfaas {
namespace {

using namespace blueprint;
namespace aws = blueprint::faas::aws;
namespace json = boost::json;

struct AwsArgs {
    std::string region;
    std::string role_arn;
    std::string endpoint_url;
    std::string architecture = "x86_64";
    std::string qualifier;
    std::string prefix = "blueprint";
    std::string profile;
    std::string invocation_type = "RequestResponse";
};

// One instance: only one verb is parsed per run.
AwsArgs& aws_args() {
    static AwsArgs args;
    return args;
}

void add_aws_options(CLI::App& cmd, std::string_view verb) {
    auto& a = aws_args();
    auto* g = cmd.add_option_group("aws", "AWS Lambda (--provider aws); credentials come from the standard chain");
    g->add_option("--region", a.region, "AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or the profile)");
    g->add_option("--endpoint-url", a.endpoint_url, "Lambda API endpoint, e.g. http://127.0.0.1:9000 for bpfaas local");
    g->add_option("--function-prefix", a.prefix, "functions are named PREFIX-job-ID")->capture_default_str();
    g->add_option("--profile", a.profile, "shared-config profile (default: AWS_PROFILE or default)");
    if (verb == "deploy") {
        g->add_option("--role-arn", a.role_arn, "execution role of the function");
        g->add_option("--architecture", a.architecture, "x86_64 or arm64")->capture_default_str()->check(
            CLI::IsMember({"x86_64", "arm64"}));
    }
    if (verb == "invoke" || verb == "warm") g->add_option("--qualifier", a.qualifier, "version or alias to invoke");
    if (verb == "invoke")
        g->add_option("--invocation-type", a.invocation_type, "RequestResponse, or Event (fire-and-forget)")
            ->capture_default_str()
            ->check(CLI::IsMember({"RequestResponse", "Event"}));
}

std::shared_ptr<aws::LambdaExecutor> make_executor(const VerbArgs& v) {
    const auto& a = aws_args();
    aws::LambdaOptions o;
    o.region = a.region;
    o.role_arn = a.role_arn;
    o.endpoint_url = a.endpoint_url;
    o.architecture = aws::parse_architecture(a.architecture).value_or(aws::Architecture::x86_64);
    o.qualifier = a.qualifier;
    o.function_prefix = a.prefix;
    if (!a.profile.empty()) o.profile = a.profile;
    o.invocation_type =
        a.invocation_type == "Event" ? aws::InvocationType::event : aws::InvocationType::request_response;
    o.default_config.timeout_secs = v.config.timeout_secs;
    o.http.log = spdlog_sink();
    o.progress = [](std::string_view line) { print_progress(line); };
    auto ex = aws::LambdaExecutor::create(std::move(o));
    if (!ex) {
        std::cerr << "bpfaas " << v.verb << ": " << ex.error().to_string() << "\n";
        return nullptr;
    }
    return *ex;
}

json::object info_json(const aws::LambdaFunctionInfo& f) {
    json::object o;
    o["name"] = f.name;
    o["arn"] = f.arn;
    o["state"] = f.state;
    o["last_update_status"] = f.last_update_status;
    o["memory_mb"] = f.memory_mb;
    o["timeout_secs"] = f.timeout_secs;
    o["architecture"] = f.architecture;
    o["code_size"] = f.code_size;
    o["last_modified"] = f.last_modified;
    if (f.reserved_concurrency) o["reserved_concurrency"] = *f.reserved_concurrency;
    return o;
}

int run_aws(const VerbArgs& v) {
    auto ex = make_executor(v);
    if (!ex) return 2;
    if (v.verb == "deploy") {
        // A zip from `bpfaas package` gives its bootstrap, as the verb's help says.
        auto binary = read_function_binary(v);
        if (!binary) return 2;
        auto config = v.config;
        if (!aws_args().architecture.empty()) config.provider_options["architecture"] = aws_args().architecture;
        auto d = run_async(ex->deploy_job(v.job, std::move(*binary), std::move(config)));
        if (!d) return fail_verb(v, d.error());
        return print_deployment(*d);
    }
    if (auto code = run_shared_verb(v, *ex)) return *code;
    if (v.verb == "list") {
        auto l = run_async(ex->list_functions());
        if (!l) return fail_verb(v, l.error());
        for (const auto& f : *l) std::cout << json::serialize(info_json(f)) << "\n";
        return 0;
    }
    std::cerr << "bpfaas: --provider aws does not offer " << v.verb << "\n";
    return 2;
}

// ---- bpfaas aws sign -------------------------------------------------------------

struct SignArgs {
    std::string method = "GET";
    std::string url;
    std::vector<std::string> headers;
    std::string body_file;
    std::string access_key;
    std::string secret_key;
    std::string session_token;
    std::string region;
    std::string service;
    std::string time;
    bool no_double_encode = false;
    bool sign_body = false;
};

int run_sign(const SignArgs& a) {
    auto url = faas::http::detail::parse_url(a.url);
    if (!url) {
        std::cerr << "bpfaas aws sign: --url: " << url.error() << "\n";
        return 2;
    }
    std::vector<aws::sigv4::Header> headers;
    bool has_host = false;
    for (const auto& h : a.headers) {
        auto colon = h.find(':');
        if (colon == std::string::npos || colon == 0) {
            std::cerr << "bpfaas aws sign: --header wants 'Name:value'\n";
            return 2;
        }
        std::string name = h.substr(0, colon);
        std::string value = h.substr(colon + 1);
        if (name.size() == 4 && (name == "Host" || name == "host" || name == "HOST")) has_host = true;
        headers.emplace_back(std::move(name), std::move(value));
    }
    if (!has_host) headers.insert(headers.begin(), {"Host", url->host_header});
    std::string body;
    if (!a.body_file.empty()) {
        std::ifstream in(a.body_file, std::ios::binary);
        if (!in) {
            std::cerr << "bpfaas aws sign: cannot read --body-file " << a.body_file << "\n";
            return 2;
        }
        body.assign(std::istreambuf_iterator<char>(in), {});
    }
    auto when = a.time.empty() ? std::chrono::system_clock::now() : aws::sigv4::parse_iso8601(a.time).value_or(
                                                                        std::chrono::system_clock::time_point{});
    if (!a.time.empty() && when == std::chrono::system_clock::time_point{}) {
        std::cerr << "bpfaas aws sign: --time wants ISO 8601, e.g. 2015-08-30T12:36:00Z\n";
        return 2;
    }
    aws::AwsCredentials creds;
    creds.access_key_id = a.access_key;
    creds.secret_access_key = a.secret_key;
    creds.session_token = a.session_token;
    aws::sigv4::Options opts;
    opts.double_encode_path = !a.no_double_encode;
    opts.normalize_path = !a.no_double_encode;  // S3 wants neither
    opts.sign_body = a.sign_body;
    auto sig = aws::sigv4::sign({.method = a.method, .target = url->target, .headers = headers, .body = body}, creds,
                                {.region = a.region, .service = a.service, .time = when}, opts);
    if (!sig) {
        std::cerr << "bpfaas aws sign: " << sig.error().message() << "\n";
        return 1;
    }
    std::cout << "# Canonical request\n" << sig->canonical_request << "\n\n# String to sign\n"
              << sig->string_to_sign << "\n\n# Headers to add\n";
    for (const auto& [name, value] : sig->headers_to_add) {
        // The token is a secret the caller already has: not echoed.
        if (name == "X-Amz-Security-Token") std::cout << name << ": <the --session-token value>\n";
        else std::cout << name << ": " << value << "\n";
    }
    return 0;
}

}  // namespace

ProviderCli aws_provider_cli() { return ProviderCli{"aws", add_aws_options, run_aws}; }

Action add_aws(CLI::App& app) {
    auto* cmd = app.add_subcommand("aws", "AWS helpers");
    cmd->require_subcommand(1);
    auto* sign = cmd->add_subcommand("sign", "Print the SigV4 canonical request, string to sign and Authorization header");
    auto a = std::make_shared<SignArgs>();
    sign->add_option("--method", a->method, "HTTP method")->capture_default_str();
    sign->add_option("--url", a->url, "full URL, path and query as sent")->required();
    sign->add_option("--header", a->headers, "'Name:value' (repeatable); Host is added from the URL when absent");
    sign->add_option("--body-file", a->body_file, "file holding the request body");
    sign->add_option("--access-key", a->access_key, "access key id")->required();
    sign->add_option("--secret-key", a->secret_key, "secret access key (debugging only: it lands in shell history)")
        ->required();
    sign->add_option("--session-token", a->session_token, "session token, for temporary credentials");
    sign->add_option("--region", a->region, "region of the scope")->required();
    sign->add_option("--service", a->service, "service of the scope, e.g. lambda")->required();
    sign->add_option("--time", a->time, "signing time, ISO 8601 (default: now)");
    sign->add_flag("--no-double-encode", a->no_double_encode, "S3-style: no path double-encoding or normalisation");
    sign->add_flag("--sign-body", a->sign_body, "add and sign x-amz-content-sha256");
    return [a] { return run_sign(*a); };
}

}  // namespace bpfaas
