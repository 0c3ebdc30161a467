// Blueprint JSON and base64 (ARCHITECTURE.md §4). Pure functions, no I/O.
//
// Encoding is hand-rolled into a reserved std::string: byte arrays dominate
// every payload and a table-driven writer is several times faster than
// building a boost::json::value of millions of integers.
//
// Decoding uses Boost.JSON's SAX parser (basic_parser) with a handler that
// writes `args`/`result` straight into a Bytes vector, captures the few other
// known top-level fields into small boost::json values, and skips anything
// unknown without materialising it. A multi-MB payload therefore costs one
// pass and one byte per element, not a 16-byte json::value per element.
#include <blueprint/faas/wire.hpp>

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

namespace blueprint::faas::wire {
namespace {

FaasError serialization_error(std::string message) {
    return FaasError::make(faas_errc::serialization, std::move(message));
}

// ---- writer ----------------------------------------------------------------

// "0,".."255," as fixed 4-byte cells, with the length of each.
struct ByteTable {
    std::array<char, 256 * 4> text{};
    std::array<std::uint8_t, 256> len{};
    constexpr ByteTable() {
        for (int i = 0; i < 256; ++i) {
            char* p = &text[i * 4];
            int n = 0;
            if (i >= 100) p[n++] = static_cast<char>('0' + i / 100);
            if (i >= 10) p[n++] = static_cast<char>('0' + (i / 10) % 10);
            p[n++] = static_cast<char>('0' + i % 10);
            p[n++] = ',';
            len[i] = static_cast<std::uint8_t>(n);
        }
    }
};
constexpr ByteTable byte_table{};

void append_byte_array(std::string& out, const std::uint8_t* data, std::size_t n) {
    const std::size_t start = out.size();
    // Worst case "255," per byte plus the brackets. Writing through a raw
    // pointer (and trimming afterwards) avoids per-byte capacity checks.
    out.resize(start + n * 4 + 2);
    char* p = out.data() + start;
    *p++ = '[';
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint8_t b = data[i];
        std::memcpy(p, &byte_table.text[b * 4], 4);
        p += byte_table.len[b];
    }
    if (n > 0) --p;  // drop the trailing comma
    *p++ = ']';
    out.resize(static_cast<std::size_t>(p - out.data()));
}

void append_byte_array(std::string& out, const Bytes& bytes) { append_byte_array(out, bytes.data(), bytes.size()); }

// Length of a valid UTF-8 sequence starting at s[i], or 0 if invalid.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
    const auto c0 = static_cast<unsigned char>(s[i]);
    auto cont = [&](std::size_t k) { return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80; };
    if (c0 < 0x80) return 1;
    if (c0 >= 0xC2 && c0 <= 0xDF) return cont(1) ? 2 : 0;
    if (c0 >= 0xE0 && c0 <= 0xEF) {
        if (!cont(1) || !cont(2)) return 0;
        const auto c1 = static_cast<unsigned char>(s[i + 1]);
        if (c0 == 0xE0 && c1 < 0xA0) return 0;  // overlong
        if (c0 == 0xED && c1 > 0x9F) return 0;  // surrogates
        return 3;
    }
    if (c0 >= 0xF0 && c0 <= 0xF4) {
        if (!cont(1) || !cont(2) || !cont(3)) return 0;
        const auto c1 = static_cast<unsigned char>(s[i + 1]);
        if (c0 == 0xF0 && c1 < 0x90) return 0;  // overlong
        if (c0 == 0xF4 && c1 > 0x8F) return 0;  // above U+10FFFF
        return 4;
    }
    return 0;
}

// A JSON string literal. Invalid UTF-8 (an exception's what() may hold any
// bytes) becomes U+FFFD, so our output always parses, ours and serde's.
void append_json_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out.reserve(out.size() + s.size() + 2);
    out += '"';
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            out += static_cast<char>(c);
            ++i;
            continue;
        }
        switch (c) {
        case '"': out += "\\\""; ++i; continue;
        case '\\': out += "\\\\"; ++i; continue;
        case '\n': out += "\\n"; ++i; continue;
        case '\r': out += "\\r"; ++i; continue;
        case '\t': out += "\\t"; ++i; continue;
        case '\b': out += "\\b"; ++i; continue;
        case '\f': out += "\\f"; ++i; continue;
        default: break;
        }
        if (c < 0x20) {
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 0xF];
            ++i;
            continue;
        }
        const std::size_t n = utf8_sequence_length(s, i);
        if (n == 0) {
            out += "\\ufffd";
            ++i;
        } else {
            out.append(s.data() + i, n);
            i += n;
        }
    }
    out += '"';
}

void append_u64(std::string& out, std::uint64_t v) {
    char buf[24];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, p);
}

void append_double(std::string& out, double v) {
    if (!std::isfinite(v)) {  // JSON has no NaN/Inf
        out += '0';
        return;
    }
    char buf[64];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, p);
}

// `"job_id":N` when the id fits u64, else `"job_id_hex":"0x..."`.
void append_job_id_field(std::string& out, const JobId& id) {
    if (auto v = id.to_u64()) {
        out += "\"job_id\":";
        append_u64(out, *v);
    } else {
        out += "\"job_id_hex\":";
        append_json_string(out, id.to_hex());
    }
}

void append_metadata_object(std::string& out, const Metadata& metadata) {
    out += '{';
    bool first = true;
    for (const auto& [key, value] : metadata) {
        if (!first) out += ',';
        first = false;
        append_json_string(out, key);
        out += ':';
        if (value.is_sensitive()) {
            out += "{\"value\":";
            append_byte_array(out, value.bytes());
            out += ",\"sensitive\":true}";
        } else {
            append_byte_array(out, value.bytes());
        }
    }
    out += '}';
}

// ---- SAX reader -------------------------------------------------------------

enum class FieldKind {
    skip,     // unknown: ignored without materialising it
    bytes,    // array of integers 0-255 (or, if allowed, a string)
    capture,  // small value kept as a boost::json::value
};

struct FieldSpec {
    std::string_view name;
    FieldKind kind;
    bool string_as_bytes = false;  // `result` may be a string: its UTF-8 bytes
};

// What a reader keeps of one top-level object.
struct TopLevelFields {
    struct Captured {
        std::string name;
        boost::json::value value;
    };

    Bytes bytes;             // the one `bytes` field (args or result)
    bool has_bytes = false;  // present and not null
    std::vector<Captured> captured;

    const boost::json::value* find(std::string_view name) const {
        // Last one wins on duplicate keys, as in serde_json's default.
        for (auto it = captured.rbegin(); it != captured.rend(); ++it)
            if (it->name == name) return &it->value;
        return nullptr;
    }
};

const FieldSpec* find_spec(const FieldSpec* specs, std::size_t n_specs, std::string_view key) {
    const FieldSpec* spec = nullptr;
    for (std::size_t i = 0; i < n_specs; ++i)
        if (specs[i].name == key) spec = &specs[i];
    return spec;
}

// Reads one top-level JSON object. Field names are looked up in `specs`.
// The general path: it takes any input and words every rejection.
class TopLevelReader : public TopLevelFields {
public:
    static constexpr std::size_t max_object_size = std::numeric_limits<std::size_t>::max();
    static constexpr std::size_t max_array_size = std::numeric_limits<std::size_t>::max();
    static constexpr std::size_t max_key_size = std::numeric_limits<std::size_t>::max();
    static constexpr std::size_t max_string_size = std::numeric_limits<std::size_t>::max();

    TopLevelReader(const FieldSpec* specs, std::size_t n_specs, std::size_t size_hint)
        : specs_(specs), n_specs_(n_specs), size_hint_(size_hint) {}

    std::string error;  // set when the handler rejected the input

    bool on_document_begin(boost::system::error_code&) { return true; }
    bool on_document_end(boost::system::error_code&) { return true; }

    bool on_object_begin(boost::system::error_code& ec) {
        switch (mode_) {
        case Mode::start: mode_ = Mode::top; return true;
        case Mode::capture: ++depth_; return true;
        case Mode::skip: ++depth_; return true;
        case Mode::bytes_expect: return fail(ec, type_error("an object"));
        case Mode::bytes_in: return fail(ec, element_error("an object"));
        case Mode::bytes_string: case Mode::top: case Mode::done: break;
        }
        return fail(ec, "unexpected object");
    }
    bool on_object_end(std::size_t n, boost::system::error_code& ec) {
        switch (mode_) {
        case Mode::top: mode_ = Mode::done; return true;
        case Mode::capture:
            stack_.push_object(n);
            if (--depth_ == 0) finish_capture();
            return true;
        case Mode::skip:
            if (--depth_ == 0) mode_ = Mode::top;
            return true;
        default: break;
        }
        return fail(ec, "unexpected end of object");
    }
    bool on_array_begin(boost::system::error_code& ec) {
        switch (mode_) {
        case Mode::start: return fail(ec, "expected a JSON object, got an array");
        case Mode::bytes_expect:
            mode_ = Mode::bytes_in;
            index_ = 0;
            has_bytes = true;
            bytes.clear();
            // Most of a payload is the byte array, at 2-4 characters an element.
            bytes.reserve(size_hint_ / 4);
            return true;
        case Mode::bytes_in: return fail(ec, element_error("an array"));
        case Mode::capture: ++depth_; return true;
        case Mode::skip: ++depth_; return true;
        default: break;
        }
        return fail(ec, "unexpected array");
    }
    bool on_array_end(std::size_t n, boost::system::error_code& ec) {
        switch (mode_) {
        case Mode::bytes_in: mode_ = Mode::top; return true;
        case Mode::capture:
            stack_.push_array(n);
            if (--depth_ == 0) finish_capture();
            return true;
        case Mode::skip:
            if (--depth_ == 0) mode_ = Mode::top;
            return true;
        default: break;
        }
        return fail(ec, "unexpected end of array");
    }
    bool on_key_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
        if (mode_ == Mode::top) key_.append(s.data(), s.size());
        else if (mode_ == Mode::capture) stack_.push_chars(s);
        return true;
    }
    bool on_key(boost::json::string_view s, std::size_t, boost::system::error_code&) {
        if (mode_ == Mode::top) {
            key_.append(s.data(), s.size());
            begin_field();
            key_.clear();
        } else if (mode_ == Mode::capture) {
            stack_.push_key(s);
        }
        return true;
    }
    bool on_string_part(boost::json::string_view s, std::size_t, boost::system::error_code& ec) {
        switch (mode_) {
        case Mode::bytes_expect:
            if (!spec_->string_as_bytes) return fail(ec, type_error("a string"));
            mode_ = Mode::bytes_string;
            has_bytes = true;
            bytes.clear();
            [[fallthrough]];
        case Mode::bytes_string: bytes.insert(bytes.end(), s.begin(), s.end()); return true;
        case Mode::capture: stack_.push_chars(s); return true;
        case Mode::skip: return true;
        case Mode::bytes_in: return fail(ec, element_error("a string"));
        default: break;
        }
        return fail(ec, "expected a JSON object, got a string");
    }
    bool on_string(boost::json::string_view s, std::size_t n, boost::system::error_code& ec) {
        switch (mode_) {
        case Mode::bytes_expect:
        case Mode::bytes_string:
            if (!on_string_part(s, n, ec)) return false;
            mode_ = Mode::top;
            return true;
        case Mode::capture:
            stack_.push_string(s);
            if (depth_ == 0) finish_capture();
            return true;
        case Mode::skip:
            if (depth_ == 0) mode_ = Mode::top;
            return true;
        case Mode::bytes_in: return fail(ec, element_error("a string"));
        default: break;
        }
        return fail(ec, "expected a JSON object, got a string");
    }
    bool on_number_part(boost::json::string_view, boost::system::error_code&) { return true; }
    bool on_int64(std::int64_t i, boost::json::string_view, boost::system::error_code& ec) {
        if (mode_ == Mode::bytes_in) {
            if (i < 0 || i > 255) return fail(ec, element_error("out of range (" + std::to_string(i) + ")"));
            bytes.push_back(static_cast<std::uint8_t>(i));
            ++index_;
            return true;
        }
        return scalar(ec, "a number", [&] { stack_.push_int64(i); });
    }
    bool on_uint64(std::uint64_t u, boost::json::string_view, boost::system::error_code& ec) {
        if (mode_ == Mode::bytes_in) return fail(ec, element_error("out of range (" + std::to_string(u) + ")"));
        return scalar(ec, "a number", [&] { stack_.push_uint64(u); });
    }
    bool on_double(double d, boost::json::string_view, boost::system::error_code& ec) {
        if (mode_ == Mode::bytes_in) return fail(ec, element_error("not an integer"));
        return scalar(ec, "a number", [&] { stack_.push_double(d); });
    }
    bool on_bool(bool b, boost::system::error_code& ec) {
        if (mode_ == Mode::bytes_in) return fail(ec, element_error("a boolean"));
        return scalar(ec, "a boolean", [&] { stack_.push_bool(b); });
    }
    bool on_null(boost::system::error_code& ec) {
        if (mode_ == Mode::bytes_in) return fail(ec, element_error("null"));
        if (mode_ == Mode::bytes_expect) {  // null means absent
            mode_ = Mode::top;
            return true;
        }
        return scalar(ec, "null", [&] { stack_.push_null(); });
    }
    bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
    bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }

private:
    enum class Mode { start, top, bytes_expect, bytes_in, bytes_string, capture, skip, done };

    void begin_field() {
        spec_ = find_spec(specs_, n_specs_, key_);
        depth_ = 0;
        if (!spec_ || spec_->kind == FieldKind::skip) {
            mode_ = Mode::skip;
        } else if (spec_->kind == FieldKind::bytes) {
            mode_ = Mode::bytes_expect;
            has_bytes = false;
            bytes.clear();
        } else {
            mode_ = Mode::capture;
            stack_.reset();
        }
    }

    template <class Push> bool scalar(boost::system::error_code& ec, std::string_view what, Push push) {
        switch (mode_) {
        case Mode::capture:
            push();
            if (depth_ == 0) finish_capture();
            return true;
        case Mode::skip:
            if (depth_ == 0) mode_ = Mode::top;
            return true;
        case Mode::bytes_expect: return fail(ec, type_error(what));
        default: break;
        }
        return fail(ec, "expected a JSON object, got " + std::string(what));
    }

    void finish_capture() {
        captured.push_back({std::string(spec_->name), stack_.release()});
        mode_ = Mode::top;
    }

    std::string type_error(std::string_view what) const {
        return "field '" + std::string(spec_->name) + "' must be an array of integers 0-255" +
               (spec_->string_as_bytes ? " or a string" : "") + ", not " + std::string(what);
    }
    std::string element_error(std::string_view what) const {
        return "field '" + std::string(spec_->name) + "' element " + std::to_string(index_) +
               " must be an integer 0-255: " + std::string(what);
    }
    bool fail(boost::system::error_code& ec, std::string message) {
        error = std::move(message);
        ec = boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
        return false;
    }

    const FieldSpec* specs_;
    std::size_t n_specs_;
    std::size_t size_hint_;
    const FieldSpec* spec_ = nullptr;
    Mode mode_ = Mode::start;
    std::string key_;
    std::size_t depth_ = 0;
    std::size_t index_ = 0;
    boost::json::value_stack stack_;
};

// Runs the reader over `json`; an error names what was wrong.
std::expected<void, FaasError> run_reader(boost::json::basic_parser<TopLevelReader>& parser, std::string_view json,
                                          std::string_view what) {
    boost::system::error_code ec;
    const std::size_t used = parser.write_some(false, json.data(), json.size(), ec);
    auto& reader = parser.handler();
    if (!reader.error.empty()) return std::unexpected(serialization_error(std::string(what) + ": " + reader.error));
    if (ec) {
        if (json.find_first_not_of(" \t\r\n") == std::string_view::npos)
            return std::unexpected(serialization_error(std::string(what) + ": empty input"));
        return std::unexpected(serialization_error(std::string(what) + ": malformed JSON: " + ec.message()));
    }
    if (used != json.size() && json.substr(used).find_first_not_of(" \t\r\n") != std::string_view::npos)
        return std::unexpected(serialization_error(std::string(what) + ": trailing data after the JSON object"));
    return {};
}

// ---- fast reader -------------------------------------------------------------
//
// The SAX reader above costs ~9 ns per payload byte: every array element goes
// through Boost.JSON's general number parser and a handler call. Payloads are
// flat arrays of small integers, so the common shape is read here by hand:
// the top-level object's keys, a dedicated scanner for `[n,n,...]`, scalars
// inline, and any other value through a small Boost.JSON parser.
//
// The fast reader only ever accepts: on anything outside its narrow grammar
// (an escaped or non-ASCII key, a byte field that is not a plain array of
// 0-255 without leading zeros, `-0`, a string `result`, malformed input, ...)
// it gives up and the caller runs the SAX reader over the whole text, which
// then accepts it or words the error (field, element index, Boost's
// message). So the two paths cannot disagree on a message, and an error
// costs one extra pass.

bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

const char* skip_ws(const char* p, const char* end) {
    while (p < end && is_ws(*p)) ++p;
    return p;
}

unsigned digit(char c) { return static_cast<unsigned>(static_cast<unsigned char>(c)) - '0'; }

// SWAR helpers: eight characters per 64-bit word.
constexpr std::uint64_t swar_ones = 0x0101010101010101ULL;
constexpr std::uint64_t swar_low7 = 0x7F7F7F7F7F7F7F7FULL;

std::uint64_t load8(const char* p) {
    std::uint64_t x;
    std::memcpy(&x, p, 8);
    if constexpr (std::endian::native == std::endian::big) x = std::byteswap(x);
    return x;
}

// 0x01 in each byte of `x` that is a comma, 0x00 elsewhere (exact: the
// additions never carry between bytes).
std::uint64_t comma_bytes(std::uint64_t x) {
    x ^= swar_ones * ',';
    return (~(((x & swar_low7) + swar_low7) | x | swar_low7)) >> 7;
}

// Bit i set when character i of the word is a comma.
unsigned comma_mask8(std::uint64_t x) {
    // Gathers the low bit of byte i into bit 56 + i; no two partial products
    // meet, so nothing carries.
    return static_cast<unsigned>((comma_bytes(x) * 0x0102040810204080ULL) >> 56);
}

std::size_t count_commas(const char* p, const char* end) {
    std::size_t n = 0;
    for (; end - p >= 8; p += 8) n += static_cast<std::size_t>((comma_bytes(load8(p)) * swar_ones) >> 56);
    for (; p < end; ++p) n += *p == ',';
    return n;
}

// Non-zero when a byte of `x` is neither a digit nor a comma.
std::uint64_t not_digit_or_comma(std::uint64_t x) {
    const std::uint64_t t = x ^ (swar_ones * '0');  // digits become 0x00-0x09
    // High bit set where t >= 10 (or the byte was >= 0x80): no carries, as
    // (t & 0x7F) + 0x76 <= 0xF5.
    const std::uint64_t big = (((t & swar_low7) + swar_ones * 0x76) | t) & ~swar_low7;
    return big & ~(comma_bytes(x) << 7);
}

// The dense form our encoder writes, `[n,n,...]` with no whitespace: reads
// the numbers between the commas, n elements in all (the caller counted the
// commas). Branch-free per element. Scanning digit by digit chains every
// element's position on the previous one's loads and mispredicts on the
// random 1/2/3-digit lengths; here the commas come from a bit mask per 64
// characters, so elements are independent and the only data-dependent
// branch is one loop exit per 64 characters. Returns false, and the caller
// tries the general scanner, unless every character is a digit or a comma
// and every element is 1-3 digits without a leading zero and at most 255.
bool scan_dense_byte_array(const char* p, const char* close, std::uint8_t* out, std::size_t n) {
    std::uint8_t* o = out;
    const char* start = p;  // the current element's first character
    std::uint64_t bad_chars = 0;
    // Checks accumulate by OR and are tested once at the end: every valid
    // value fits 8 bits and every valid length 2 bits, so any bit above
    // flags an error. (An empty element, `1,,2`, reads its own comma as a
    // digit, which underflows to a huge value; an empty last element is
    // caught below.)
    unsigned or_value = 0, or_len = 0, leading_zero = 0;
    // Per length 0-4: the weights of the first three characters and the
    // '0' offsets, so the value needs no branch and no select.
    struct Weights {
        unsigned a, b, c, k;
    };
    static constexpr Weights weights[5] = {
        {1, 0, 0, '0'}, {1, 0, 0, '0'}, {10, 1, 0, '0' * 11}, {100, 10, 1, '0' * 111}, {1, 0, 0, '0'},
    };
    // Element [s, e), e a comma or `close`, all digits (checked per block).
    // s + 2 <= close for all but the last element: after a one-digit
    // element come its comma and the next element's first character, or
    // `close`.
    auto element = [&](const char* s, const char* e) {
        const auto len = static_cast<std::size_t>(e - s);
        const unsigned c0 = static_cast<unsigned char>(s[0]);
        const unsigned c1 = static_cast<unsigned char>(s[1]);
        const unsigned c2 = static_cast<unsigned char>(s[2]);
        const Weights& w = weights[std::min<std::size_t>(len, 4)];
        const unsigned v = c0 * w.a + c1 * w.b + c2 * w.c - w.k;
        or_value |= v;
        or_len |= static_cast<unsigned>(std::min<std::size_t>(len, 4));
        leading_zero |= static_cast<unsigned>(len > 1) & static_cast<unsigned>(c0 == '0');
        *o++ = static_cast<std::uint8_t>(v);
    };
    auto block_mask = [&](const char* b) {
        std::uint64_t mask = 0;
        for (int k = 0; k < 8; ++k) {
            const std::uint64_t x = load8(b + 8 * k);
            bad_chars |= not_digit_or_comma(x);
            mask |= std::uint64_t{comma_mask8(x)} << (8 * k);
        }
        return mask;
    };
    const char* block = p;
    for (; close - block >= 64; block += 64) {
        for (std::uint64_t mask = block_mask(block); mask; mask &= mask - 1) {
            const char* comma = block + std::countr_zero(mask);
            element(start, comma);
            start = comma + 1;
        }
    }
    // The tail: a copy padded with '0', which holds no commas and passes
    // the character check.
    char tail[64];
    std::memset(tail, '0', sizeof tail);
    std::memcpy(tail, block, static_cast<std::size_t>(close - block));
    for (std::uint64_t mask = block_mask(tail); mask; mask &= mask - 1) {
        const char* comma = block + std::countr_zero(mask);
        element(start, comma);
        start = comma + 1;
    }
    // The last element, from a bounded copy: it may end right at the end of
    // the input.
    const auto last = static_cast<std::size_t>(close - start);
    if (last == 0 || last > 3) return false;
    char digits[3] = {'0', '0', '0'};
    std::memcpy(digits, start, last);
    element(digits, digits + last);
    return or_value <= 255 && or_len <= 3 && leading_zero == 0 && bad_chars == 0 && o == out + n;
}

// `p` is just past the '['. Fills `out` and returns the position past the
// ']', or nullptr when the text is not a plain array of integers 0-255.
const char* scan_byte_array(const char* p, const char* end, Bytes& out) {
    // Numbers, commas and whitespace hold no ']', so the first one closes a
    // well-formed array and serves as the sentinel that bounds every read
    // below. Its commas give the element count, so `out` is sized once.
    const auto* close = static_cast<const char*>(std::memchr(p, ']', static_cast<std::size_t>(end - p)));
    if (!close) return nullptr;
    p = skip_ws(p, close);
    if (p == close) {
        out.clear();
        return close + 1;
    }
    const std::size_t n = count_commas(p, close) + 1;
    out.resize(n);
    if (scan_dense_byte_array(p, close, out.data(), n)) return close + 1;

    // The general form: whitespace around elements and commas allowed.
    std::uint8_t* o = out.data();
    std::uint8_t* const o_end = o + n;
    for (;;) {
        unsigned v = digit(*p);
        if (v > 9) return nullptr;  // '-', '+', '"', '[', ']' after a comma, ...
        ++p;
        if (v != 0) {
            if (const unsigned d1 = digit(*p); d1 <= 9) {
                v = v * 10 + d1;
                ++p;
                if (const unsigned d2 = digit(*p); d2 <= 9) {
                    v = v * 10 + d2;
                    ++p;
                    if (v > 255 || digit(*p) <= 9) return nullptr;
                }
            }
        } else if (digit(*p) <= 9) {
            return nullptr;  // a leading zero: JSON has none
        }
        if (o == o_end) return nullptr;  // unreachable: each extra element needs a comma
        *o++ = static_cast<std::uint8_t>(v);
        // '.', 'e', 'E' (a float) and anything else fail here.
        if (*p != ',') {
            while (is_ws(*p)) ++p;  // stops at `close` at the latest
            if (*p == ']') break;
            if (*p != ',') return nullptr;
        }
        ++p;
        while (is_ws(*p)) ++p;
    }
    if (o != o_end) return nullptr;  // unreachable, see above
    return p + 1;
}

// One JSON value into a boost::json::value, or nowhere (skip).
class ValueReader {
public:
    static constexpr std::size_t max_object_size = std::numeric_limits<std::size_t>::max();
    static constexpr std::size_t max_array_size = std::numeric_limits<std::size_t>::max();
    static constexpr std::size_t max_key_size = std::numeric_limits<std::size_t>::max();
    static constexpr std::size_t max_string_size = std::numeric_limits<std::size_t>::max();

    bool keep = false;
    boost::json::value_stack stack;

    bool on_document_begin(boost::system::error_code&) { return true; }
    bool on_document_end(boost::system::error_code&) { return true; }
    bool on_object_begin(boost::system::error_code&) { return true; }
    bool on_object_end(std::size_t n, boost::system::error_code&) { return keep ? (stack.push_object(n), true) : true; }
    bool on_array_begin(boost::system::error_code&) { return true; }
    bool on_array_end(std::size_t n, boost::system::error_code&) { return keep ? (stack.push_array(n), true) : true; }
    bool on_key_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
        if (keep) stack.push_chars(s);
        return true;
    }
    bool on_key(boost::json::string_view s, std::size_t, boost::system::error_code&) {
        if (keep) stack.push_key(s);
        return true;
    }
    bool on_string_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
        if (keep) stack.push_chars(s);
        return true;
    }
    bool on_string(boost::json::string_view s, std::size_t, boost::system::error_code&) {
        if (keep) stack.push_string(s);
        return true;
    }
    bool on_number_part(boost::json::string_view, boost::system::error_code&) { return true; }
    bool on_int64(std::int64_t i, boost::json::string_view, boost::system::error_code&) {
        if (keep) stack.push_int64(i);
        return true;
    }
    bool on_uint64(std::uint64_t u, boost::json::string_view, boost::system::error_code&) {
        if (keep) stack.push_uint64(u);
        return true;
    }
    bool on_double(double d, boost::json::string_view, boost::system::error_code&) {
        if (keep) stack.push_double(d);
        return true;
    }
    bool on_bool(bool b, boost::system::error_code&) {
        if (keep) stack.push_bool(b);
        return true;
    }
    bool on_null(boost::system::error_code&) {
        if (keep) stack.push_null();
        return true;
    }
    bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
    bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }
};

boost::json::parse_options nested_value_options() {
    boost::json::parse_options options;
    // The value sits inside the top-level object, which takes one level of
    // the SAX reader's limit: keep the same overall depth.
    options.max_depth = boost::json::parse_options{}.max_depth - 1;
    return options;
}

class FastReader {
public:
    FastReader(const FieldSpec* specs, std::size_t n_specs) : specs_(specs), n_specs_(n_specs) {}

    // True when `json` was read; false to fall back to the SAX reader.
    bool read(std::string_view json, TopLevelFields& out) {
        const char* p = json.data();
        const char* const end = p + json.size();
        p = skip_ws(p, end);
        if (p == end || *p != '{') return false;
        p = skip_ws(p + 1, end);
        if (p == end) return false;
        if (*p == '}') return skip_ws(p + 1, end) == end;
        for (;;) {
            if (*p != '"') return false;
            const char* const key_begin = ++p;
            while (p < end && *p != '"') {
                const auto c = static_cast<unsigned char>(*p);
                if (c == '\\' || c < 0x20 || c >= 0x80) return false;  // escapes, UTF-8: the SAX path
                ++p;
            }
            if (p == end) return false;
            const std::string_view key(key_begin, static_cast<std::size_t>(p - key_begin));
            p = skip_ws(p + 1, end);
            if (p == end || *p != ':') return false;
            p = skip_ws(p + 1, end);
            if (p == end) return false;

            const FieldSpec* spec = find_spec(specs_, n_specs_, key);
            if (spec && spec->kind == FieldKind::bytes) {
                if (*p != '[') return false;  // null, a string, or a wrong type
                p = scan_byte_array(p + 1, end, out.bytes);
                if (!p) return false;
                out.has_bytes = true;
            } else {
                boost::json::value* slot = nullptr;
                if (spec && spec->kind == FieldKind::capture) {
                    out.captured.push_back({std::string(spec->name), {}});
                    slot = &out.captured.back().value;
                }
                p = read_value(p, end, slot);
                if (!p) return false;
            }

            p = skip_ws(p, end);
            if (p == end) return false;
            if (*p == '}') return skip_ws(p + 1, end) == end;
            if (*p != ',') return false;
            p = skip_ws(p + 1, end);
            if (p == end) return false;
        }
    }

private:
    static bool ends_scalar(const char* p, const char* end) {
        return p == end || is_ws(*p) || *p == ',' || *p == '}';
    }

    static bool literal(const char* p, const char* end, std::string_view word) {
        return static_cast<std::size_t>(end - p) >= word.size() && std::memcmp(p, word.data(), word.size()) == 0 &&
               ends_scalar(p + word.size(), end);
    }

    // One value at `p` (not whitespace), into `slot` unless it is null.
    // Returns the position after it, or nullptr.
    const char* read_value(const char* p, const char* end, boost::json::value* slot) {
        // The scalars of the common requests and replies, inline.
        if (literal(p, end, "true")) return set(slot, true), p + 4;
        if (literal(p, end, "false")) return set(slot, false), p + 5;
        if (literal(p, end, "null")) return set(slot, nullptr), p + 4;
        if (*p == '0' && ends_scalar(p + 1, end)) return set(slot, std::int64_t{0}), p + 1;
        if (digit(*p) <= 9 && *p != '0') {
            std::int64_t v = 0;
            const char* q = p;
            while (q < end && digit(*q) <= 9 && q - p < 18) v = v * 10 + digit(*q++);
            if (ends_scalar(q, end)) return set(slot, v), q;  // else: long, a fraction or an exponent
        }
        // Anything else through Boost.JSON: it stops after the one value.
        if (!value_parser_) value_parser_.emplace(nested_value_options());
        auto& parser = *value_parser_;
        parser.reset();
        parser.handler().keep = slot != nullptr;
        if (slot) parser.handler().stack.reset();
        boost::system::error_code ec;
        const std::size_t used = parser.write_some(false, p, static_cast<std::size_t>(end - p), ec);
        if (ec) return nullptr;
        if (slot) *slot = parser.handler().stack.release();
        return p + used;
    }

    template <class T> static void set(boost::json::value* slot, T v) {
        if (slot) *slot = v;
    }

    const FieldSpec* specs_;
    std::size_t n_specs_;
    std::optional<boost::json::basic_parser<ValueReader>> value_parser_;
};

// The top-level object's fields: the fast reader, else the SAX reader.
std::expected<TopLevelFields, FaasError> read_top_level(std::string_view json, const FieldSpec* specs,
                                                        std::size_t n_specs, std::string_view what) {
    {
        TopLevelFields fields;
        if (FastReader(specs, n_specs).read(json, fields)) return fields;
    }
    boost::json::basic_parser<TopLevelReader> parser(boost::json::parse_options{}, specs, n_specs, json.size());
    if (auto ok = run_reader(parser, json, what); !ok) return std::unexpected(ok.error());
    return std::move(static_cast<TopLevelFields&>(parser.handler()));
}

// ---- value helpers ----------------------------------------------------------

std::expected<Bytes, FaasError> bytes_from_value(const boost::json::value& v, std::string_view field) {
    if (v.is_string()) {
        const auto& s = v.get_string();
        return Bytes(s.begin(), s.end());
    }
    if (!v.is_array())
        return std::unexpected(serialization_error("field '" + std::string(field) + "' must be an array of integers 0-255"));
    const auto& arr = v.get_array();
    Bytes out;
    out.reserve(arr.size());
    for (std::size_t i = 0; i < arr.size(); ++i) {
        const auto& e = arr[i];
        std::int64_t n = -1;
        if (e.is_int64()) n = e.get_int64();
        else if (e.is_uint64()) n = e.get_uint64() > 255 ? -1 : static_cast<std::int64_t>(e.get_uint64());
        if (n < 0 || n > 255)
            return std::unexpected(serialization_error("field '" + std::string(field) + "' element " + std::to_string(i) +
                                                       " must be an integer 0-255"));
        out.push_back(static_cast<std::uint8_t>(n));
    }
    return out;
}

std::expected<Metadata, FaasError> metadata_from_value(const boost::json::value& v) {
    if (v.is_null()) return Metadata{};
    if (!v.is_object()) return std::unexpected(serialization_error("field 'metadata' must be an object"));
    Metadata out;
    for (const auto& [key, value] : v.get_object()) {
        const std::string name = "metadata." + std::string(key);
        bool sensitive = false;
        const boost::json::value* bytes_value = &value;
        if (value.is_object()) {
            const auto& obj = value.get_object();
            auto it = obj.find("value");
            if (it == obj.end()) return std::unexpected(serialization_error("field '" + name + "' lacks 'value'"));
            bytes_value = &it->value();
            if (auto s = obj.find("sensitive"); s != obj.end()) {
                if (!s->value().is_bool())
                    return std::unexpected(serialization_error("field '" + name + ".sensitive' must be a boolean"));
                sensitive = s->value().get_bool();
            }
        }
        auto bytes = bytes_from_value(*bytes_value, name);
        if (!bytes) return std::unexpected(bytes.error());
        out.insert(std::string(key), MetadataValue(std::move(*bytes), sensitive));
    }
    return out;
}

std::expected<JobId, FaasError> job_id_from_value(const boost::json::value& v, std::string_view field) {
    if (v.is_uint64()) return JobId(v.get_uint64());
    if (v.is_int64()) {
        if (v.get_int64() < 0) return std::unexpected(serialization_error("field '" + std::string(field) + "' is negative"));
        return JobId(static_cast<std::uint64_t>(v.get_int64()));
    }
    if (v.is_string()) {
        const std::string_view text(v.get_string().data(), v.get_string().size());
        auto id = field == "job_id_hex" ? JobId::from_hex(text) : JobId::parse(text);
        if (!id)
            return std::unexpected(serialization_error("field '" + std::string(field) + "' is not a job id: \"" +
                                                       std::string(text.substr(0, 80)) + "\" (" + id.error().message() + ")"));
        return *id;
    }
    if (v.is_double())
        return std::unexpected(serialization_error("field '" + std::string(field) +
                                                   "' must be an integer (ids above u64 go in 'job_id_hex')"));
    return std::unexpected(serialization_error("field '" + std::string(field) + "' must be an integer or a string"));
}

constexpr FieldSpec request_fields[] = {
    {"job_id", FieldKind::capture}, {"job_id_hex", FieldKind::capture}, {"args", FieldKind::bytes},
    {"metadata", FieldKind::capture}, {"warmup", FieldKind::capture},
};

constexpr FieldSpec reply_fields[] = {
    {"result", FieldKind::bytes, true}, {"success", FieldKind::capture},        {"error", FieldKind::capture},
    {"error_type", FieldKind::capture}, {"execution_ms", FieldKind::capture},   {"memory_used_mb", FieldKind::capture},
    {"cold_start", FieldKind::capture},
};

}  // namespace

// ---- requests ---------------------------------------------------------------

std::string encode_request_json(const JobCall& call) {
    std::string out;
    out.reserve(call.body().size() * 4 + 64);
    out += '{';
    append_job_id_field(out, call.job_id());
    out += ",\"args\":";
    append_byte_array(out, call.body());
    if (!call.metadata().empty()) {
        out += ",\"metadata\":";
        append_metadata_object(out, call.metadata());
    }
    out += '}';
    return out;
}

std::string encode_warmup_json(const JobId& job_id) {
    std::string out = "{\"warmup\":true,";
    append_job_id_field(out, job_id);
    out += ",\"args\":[]}";
    return out;
}

namespace {

std::expected<Request, FaasError> decode_request(std::string_view json, const JobId* default_id) {
    auto fields = read_top_level(json, request_fields, std::size(request_fields), "request");
    if (!fields) return std::unexpected(std::move(fields.error()));
    auto& r = *fields;

    Request req;
    if (const auto* w = r.find("warmup"); w && !w->is_null()) {
        if (!w->is_bool()) return std::unexpected(serialization_error("request: field 'warmup' must be a boolean"));
        req.warmup = w->get_bool();
    }

    std::optional<JobId> id;
    if (const auto* v = r.find("job_id"); v && !v->is_null()) {
        auto parsed = job_id_from_value(*v, "job_id");
        if (!parsed) return std::unexpected(serialization_error("request: " + parsed.error().message));
        id = *parsed;
    }
    if (const auto* v = r.find("job_id_hex"); v && !v->is_null()) {
        if (!v->is_string()) return std::unexpected(serialization_error("request: field 'job_id_hex' must be a string"));
        auto parsed = job_id_from_value(*v, "job_id_hex");
        if (!parsed) return std::unexpected(serialization_error("request: " + parsed.error().message));
        if (id && *id != *parsed)
            return std::unexpected(serialization_error("request: 'job_id' and 'job_id_hex' disagree"));
        id = *parsed;
    }
    if (!id && default_id) id = *default_id;
    if (!id && !req.warmup) return std::unexpected(serialization_error("request: missing field 'job_id'"));
    if (id) req.job_id = *id;

    if (!r.has_bytes && !req.warmup) return std::unexpected(serialization_error("request: missing field 'args'"));
    req.args = std::move(r.bytes);

    if (const auto* m = r.find("metadata")) {
        auto md = metadata_from_value(*m);
        if (!md) return std::unexpected(serialization_error("request: " + md.error().message));
        req.metadata = std::move(*md);
    }
    return req;
}

}  // namespace

std::expected<Request, FaasError> decode_request_json(std::string_view json) { return decode_request(json, nullptr); }

namespace detail {
std::expected<Request, FaasError> decode_request_json(std::string_view json, const JobId& default_id) {
    return decode_request(json, &default_id);
}
}  // namespace detail

// ---- replies ----------------------------------------------------------------

std::string encode_reply_json(const Reply& reply) {
    std::string out;
    if (reply.success) {
        out.reserve(reply.result.size() * 4 + 96);
        out += "{\"result\":";
        append_byte_array(out, reply.result);
    } else {
        out.reserve(reply.error.size() + reply.error_type.size() + 96);
        out += "{\"success\":false,\"error\":";
        append_json_string(out, reply.error);
        if (!reply.error_type.empty()) {
            out += ",\"error_type\":";
            append_json_string(out, reply.error_type);
        }
        out += ",\"result\":[]";
    }
    if (reply.execution_ms) {
        out += ",\"execution_ms\":";
        append_double(out, *reply.execution_ms);
    }
    if (reply.memory_used_mb) {
        out += ",\"memory_used_mb\":";
        append_u64(out, *reply.memory_used_mb);
    }
    if (reply.cold_start) {
        out += ",\"cold_start\":";
        out += *reply.cold_start ? "true" : "false";
    }
    out += '}';
    return out;
}

std::expected<Reply, FaasError> decode_reply_json(std::string_view json) {
    auto fields = read_top_level(json, reply_fields, std::size(reply_fields), "reply");
    if (!fields) return std::unexpected(std::move(fields.error()));
    auto& r = *fields;

    Reply reply;
    std::optional<bool> success;
    if (const auto* v = r.find("success"); v && !v->is_null()) {
        if (!v->is_bool()) return std::unexpected(serialization_error("reply: field 'success' must be a boolean"));
        success = v->get_bool();
    }

    bool has_error = false;
    if (const auto* v = r.find("error"); v && !v->is_null()) {
        has_error = true;
        if (v->is_string()) {
            reply.error = std::string(v->get_string());
        } else if (v->is_object()) {
            const auto& obj = v->get_object();
            if (auto it = obj.find("message"); it != obj.end() && it->value().is_string())
                reply.error = std::string(it->value().get_string());
            if (auto it = obj.find("type"); it != obj.end() && it->value().is_string())
                reply.error_type = std::string(it->value().get_string());
            if (reply.error.empty()) reply.error = boost::json::serialize(*v);
        } else {
            return std::unexpected(serialization_error("reply: field 'error' must be a string or an object"));
        }
    }
    if (const auto* v = r.find("error_type"); v && !v->is_null()) {
        if (!v->is_string()) return std::unexpected(serialization_error("reply: field 'error_type' must be a string"));
        if (reply.error_type.empty()) reply.error_type = std::string(v->get_string());
    }

    // An explicit "success" decides; without it an error field means failure
    // (the original's replies carry neither, only "result").
    reply.success = success.value_or(!has_error);
    if (reply.success) {
        if (!r.has_bytes) return std::unexpected(serialization_error("reply: missing field 'result'"));
        reply.result = std::move(r.bytes);
        reply.error.clear();
        reply.error_type.clear();
    } else if (reply.error.empty()) {
        reply.error = "the function reported failure without an error message";
    }

    if (const auto* v = r.find("execution_ms"); v && !v->is_null()) {
        if (!v->is_number()) return std::unexpected(serialization_error("reply: field 'execution_ms' must be a number"));
        reply.execution_ms = v->to_number<double>();
    }
    if (const auto* v = r.find("memory_used_mb"); v && !v->is_null()) {
        boost::system::error_code ec;
        auto mb = v->to_number<std::uint32_t>(ec);
        if (ec)
            return std::unexpected(
                serialization_error("reply: field 'memory_used_mb' must be an integer 0-4294967295"));
        reply.memory_used_mb = mb;
    }
    if (const auto* v = r.find("cold_start"); v && !v->is_null()) {
        if (!v->is_bool()) return std::unexpected(serialization_error("reply: field 'cold_start' must be a boolean"));
        reply.cold_start = v->get_bool();
    }
    return reply;
}

// ---- metadata ---------------------------------------------------------------

std::string encode_metadata_json(const Metadata& metadata) {
    std::string out;
    append_metadata_object(out, metadata);
    return out;
}

std::expected<Metadata, FaasError> decode_metadata_json(std::string_view json) {
    boost::system::error_code ec;
    auto value = boost::json::parse(boost::json::string_view(json.data(), json.size()), ec);
    if (ec) return std::unexpected(serialization_error("metadata: malformed JSON: " + ec.message()));
    if (!value.is_object()) return std::unexpected(serialization_error("metadata: expected a JSON object"));
    return metadata_from_value(value);
}

// ---- conversions ------------------------------------------------------------

JobResult reply_to_job_result(Reply reply) {
    if (reply.success) return JobResult::ok(std::move(reply.result));
    return JobResult::error(make_error_code(faas_errc::function_error), std::move(reply.error),
                            std::move(reply.error_type));
}

Reply job_result_to_reply(const JobResult& result) {
    Reply reply;
    if (result.is_ok()) {
        reply.result = result.body();
        return reply;
    }
    const auto& err = result.error();
    reply.success = false;
    reply.error = !err.message.empty() ? err.message : err.code ? err.code.message() : "the job failed";
    // A handler's own error result without a type is reported as
    // "HandlerError"; a throw is "HandlerException" (set by the runtime).
    reply.error_type = !err.type.empty() ? err.type : "HandlerError";
    return reply;
}

// ---- base64 -----------------------------------------------------------------

std::string base64_encode(std::string_view data) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.resize((data.size() + 2) / 3 * 4);
    char* p = out.data();
    std::size_t i = 0;
    const auto* in = reinterpret_cast<const unsigned char*>(data.data());
    for (; i + 3 <= data.size(); i += 3) {
        const std::uint32_t v = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8) | in[i + 2];
        *p++ = alphabet[(v >> 18) & 63];
        *p++ = alphabet[(v >> 12) & 63];
        *p++ = alphabet[(v >> 6) & 63];
        *p++ = alphabet[v & 63];
    }
    const std::size_t rest = data.size() - i;
    if (rest == 1) {
        const std::uint32_t v = std::uint32_t{in[i]} << 16;
        *p++ = alphabet[(v >> 18) & 63];
        *p++ = alphabet[(v >> 12) & 63];
        *p++ = '=';
        *p++ = '=';
    } else if (rest == 2) {
        const std::uint32_t v = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8);
        *p++ = alphabet[(v >> 18) & 63];
        *p++ = alphabet[(v >> 12) & 63];
        *p++ = alphabet[(v >> 6) & 63];
        *p++ = '=';
    }
    return out;
}

std::expected<std::string, FaasError> base64_decode(std::string_view text) {
    static constexpr auto table = [] {
        std::array<std::int8_t, 256> t{};
        t.fill(-1);
        constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (std::size_t i = 0; i < alphabet.size(); ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
        return t;
    }();
    if (text.size() % 4 != 0) return std::unexpected(serialization_error("base64: length is not a multiple of 4"));
    std::size_t pad = 0;
    if (!text.empty() && text.back() == '=') pad = (text.size() >= 2 && text[text.size() - 2] == '=') ? 2 : 1;
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        const bool last = i + 4 == text.size();
        const std::size_t real = last ? 4 - pad : 4;
        std::uint32_t v = 0;
        for (std::size_t k = 0; k < 4; ++k) {
            const auto c = static_cast<unsigned char>(text[i + k]);
            int d = 0;
            if (k < real) {
                d = table[c];
                if (d < 0) return std::unexpected(serialization_error("base64: invalid character at offset " + std::to_string(i + k)));
            } else if (c != '=') {
                return std::unexpected(serialization_error("base64: bad padding"));
            }
            v = (v << 6) | static_cast<std::uint32_t>(d);
        }
        out += static_cast<char>((v >> 16) & 0xFF);
        if (real >= 3) out += static_cast<char>((v >> 8) & 0xFF);
        if (real == 4) out += static_cast<char>(v & 0xFF);
        // Canonical form only: the bits dropped by the padding must be zero.
        if ((real == 2 && (v & 0xFFFF) != 0) || (real == 3 && (v & 0xFF) != 0))
            return std::unexpected(serialization_error("base64: non-zero bits in the padding"));
    }
    return out;
}

}  // namespace blueprint::faas::wire
