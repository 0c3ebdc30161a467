// JobId, Metadata and JobResult helpers.
#include <blueprint/job.hpp>

#include <boost/system/errc.hpp>

#include <charconv>

namespace blueprint {

Bytes to_bytes(std::string_view text) { return Bytes(text.begin(), text.end()); }

std::string to_string(const Bytes& bytes) { return std::string(bytes.begin(), bytes.end()); }

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool has_hex_prefix(std::string_view s) noexcept {
    return s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
}

}  // namespace

std::expected<JobId, error_code> JobId::from_hex(std::string_view hex) {
    if (has_hex_prefix(hex)) hex.remove_prefix(2);
    if (hex.empty() || hex.size() > 64) return std::unexpected(make_error_code(job_id_errc::invalid_hex));
    std::array<std::uint8_t, 32> be{};
    // Fill from the least significant digit, right-aligned in the 32 bytes.
    std::size_t nibble = 0;
    for (auto it = hex.rbegin(); it != hex.rend(); ++it, ++nibble) {
        int v = hex_value(*it);
        if (v < 0) return std::unexpected(make_error_code(job_id_errc::invalid_hex));
        auto& byte = be[31 - nibble / 2];
        byte = static_cast<std::uint8_t>(byte | (nibble % 2 == 0 ? v : v << 4));
    }
    return JobId::from_bytes(be);
}

std::expected<JobId, error_code> JobId::parse(std::string_view text) {
    if (has_hex_prefix(text)) return from_hex(text);
    // Decimal. Text that is not a number at all is reported as invalid_hex,
    // the one "not an id" code; a number too wide for u64 as out_of_range.
    if (text.empty()) return std::unexpected(make_error_code(job_id_errc::invalid_hex));
    for (char c : text)
        if (c < '0' || c > '9') return std::unexpected(make_error_code(job_id_errc::invalid_hex));
    std::uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec == std::errc::result_out_of_range) return std::unexpected(make_error_code(job_id_errc::out_of_range));
    if (ec != std::errc{} || ptr != text.data() + text.size())
        return std::unexpected(make_error_code(job_id_errc::invalid_hex));
    return JobId(v);
}

bool JobId::fits_u64() const noexcept {
    for (int i = 0; i < 24; ++i)
        if (bytes_[i] != 0) return false;
    return true;
}

std::expected<std::uint64_t, error_code> JobId::to_u64() const noexcept {
    if (!fits_u64()) return std::unexpected(make_error_code(job_id_errc::out_of_range));
    std::uint64_t v = 0;
    for (int i = 24; i < 32; ++i) v = (v << 8) | bytes_[i];
    return v;
}

std::expected<std::uint32_t, error_code> JobId::to_u32() const noexcept {
    auto v = to_u64();
    if (!v) return std::unexpected(v.error());
    if (*v > 0xffffffffULL) return std::unexpected(make_error_code(job_id_errc::out_of_range));
    return static_cast<std::uint32_t>(*v);
}

std::string JobId::to_hex() const {
    std::string out = "0x";
    bool started = false;
    for (auto b : bytes_) {
        for (int shift : {4, 0}) {
            int n = (b >> shift) & 0xf;
            if (!started && n == 0) continue;
            started = true;
            out += hex_digits[n];
        }
    }
    if (!started) out += '0';
    return out;
}

std::string JobId::to_string() const {
    if (auto v = to_u64()) return std::to_string(*v);
    return to_hex();
}

std::ostream& operator<<(std::ostream& os, const JobId& id) { return os << id.to_string(); }

// ---- MetadataValue ----

MetadataValue MetadataValue::from_u64(std::uint64_t v) {
    Bytes b(8);
    for (int i = 0; i < 8; ++i) b[7 - i] = static_cast<std::uint8_t>(v >> (8 * i));
    return MetadataValue(std::move(b));
}

MetadataValue MetadataValue::from_u32(std::uint32_t v) {
    Bytes b(4);
    for (int i = 0; i < 4; ++i) b[3 - i] = static_cast<std::uint8_t>(v >> (8 * i));
    return MetadataValue(std::move(b));
}

std::expected<std::uint64_t, error_code> MetadataValue::to_u64() const noexcept {
    if (bytes_.empty())
        return std::unexpected(boost::system::errc::make_error_code(boost::system::errc::invalid_argument));
    if (bytes_.size() > 8)
        return std::unexpected(boost::system::errc::make_error_code(boost::system::errc::value_too_large));
    std::uint64_t v = 0;
    for (auto b : bytes_) v = (v << 8) | b;
    return v;
}

// ---- Metadata ----

const MetadataValue* Metadata::get(std::string_view key) const {
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : &it->second;
}

bool Metadata::erase(std::string_view key) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return false;
    entries_.erase(it);
    return true;
}

void Metadata::merge_from(const Metadata& other) {
    for (const auto& [k, v] : other.entries_) entries_.insert_or_assign(k, v);
}

std::string Metadata::to_log_string() const {
    std::string out = "{";
    bool first = true;
    for (const auto& [k, v] : entries_) {
        if (!first) out += ", ";
        first = false;
        out += k;
        out += '=';
        if (v.is_sensitive()) {
            out += "<redacted>";
            continue;
        }
        // Printable ASCII is shown as text, anything else as hex, so a log
        // line never carries control characters.
        bool printable = true;
        for (auto b : v.bytes())
            if (b < 0x20 || b > 0x7e) printable = false;
        if (printable) {
            out += v.as_string_view();
        } else {
            out += "0x";
            for (auto b : v.bytes()) {
                out += hex_digits[b >> 4];
                out += hex_digits[b & 0xf];
            }
        }
    }
    out += '}';
    return out;
}

// ---- JobResult ----

void JobResult::stamp_from(const JobCall& call) {
    job_id_ = call.job_id();
    Metadata merged = call.metadata();
    merged.merge_from(metadata_);  // the result's own entries win
    metadata_ = std::move(merged);
}

}  // namespace blueprint

std::size_t std::hash<blueprint::JobId>::operator()(const blueprint::JobId& id) const noexcept {
    // Combine the four 64-bit words; ids are usually small, so the low word
    // dominates and is mixed last.
    std::uint64_t h = 0xcbf29ce484222325ULL;
    const auto& b = id.bytes();
    for (int w = 0; w < 4; ++w) {
        std::uint64_t word = 0;
        for (int i = 0; i < 8; ++i) word = (word << 8) | b[w * 8 + i];
        h ^= word + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    }
    return static_cast<std::size_t>(h);
}
