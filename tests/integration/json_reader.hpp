// json_reader.hpp - a strict little JSON parser (RFC 8259) for tests that
// check what a program printed with --json.
//
// Strict on purpose: output that only a lenient parser accepts (a trailing
// comma, a raw control character in a string) would break real consumers
// such as jq, so it must fail the test.
#pragma once

#include <charconv>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aviary::test {

class Json {
 public:
  enum class Kind { null, boolean, number, string, array, object };

  Kind kind() const { return kind_; }
  bool is(Kind k) const { return kind_ == k; }

  // Accessors throw std::runtime_error on the wrong kind or a missing key,
  // which GoogleTest reports as a failure of the test.
  const std::string& str() const { return expect(Kind::string).text_; }
  bool boolean() const { return expect(Kind::boolean).flag_; }
  // A number that must be a non-negative integer (sizes, counts).
  std::uint64_t u64() const {
    const std::string& t = expect(Kind::number).text_;
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || end != t.data() + t.size()) throw std::runtime_error("not an unsigned integer: " + t);
    return v;
  }
  std::int64_t i64() const {
    const std::string& t = expect(Kind::number).text_;
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || end != t.data() + t.size()) throw std::runtime_error("not an integer: " + t);
    return v;
  }
  std::size_t size() const {
    if (kind_ == Kind::array) return items_.size();
    return expect(Kind::object).members_.size();
  }
  const Json& operator[](std::size_t i) const {
    const auto& items = expect(Kind::array).items_;
    if (i >= items.size()) throw std::runtime_error("index " + std::to_string(i) + " out of range");
    return items[i];
  }
  bool has(std::string_view key) const {
    for (const auto& [k, v] : expect(Kind::object).members_) {
      if (k == key) return true;
    }
    return false;
  }
  const Json& operator[](std::string_view key) const {
    for (const auto& [k, v] : expect(Kind::object).members_) {
      if (k == key) return v;
    }
    throw std::runtime_error("no member \"" + std::string(key) + "\"");
  }

  // The whole of `text` (surrounding white space allowed) as one value.
  static Json parse(std::string_view text) {
    Parser p{text};
    Json v = p.value(0);
    p.space();
    if (p.at != text.size()) p.error("trailing characters");
    return v;
  }

 private:
  const Json& expect(Kind k) const {
    if (kind_ != k) throw std::runtime_error("JSON value of the wrong kind");
    return *this;
  }

  struct Parser {
    std::string_view text;
    std::size_t at = 0;

    [[noreturn]] void error(const std::string& what) const {
      throw std::runtime_error("bad JSON at offset " + std::to_string(at) + ": " + what);
    }
    void space() {
      while (at < text.size() && (text[at] == ' ' || text[at] == '\t' || text[at] == '\n' || text[at] == '\r')) ++at;
    }
    bool eat(char c) {
      space();
      if (at < text.size() && text[at] == c) {
        ++at;
        return true;
      }
      return false;
    }
    void need(char c) {
      if (!eat(c)) error(std::string("expected '") + c + "'");
    }
    bool literal(std::string_view word) {
      if (text.substr(at, word.size()) != word) return false;
      at += word.size();
      return true;
    }

    Json value(int depth) {
      if (depth > 64) error("nested too deep");
      space();
      if (at >= text.size()) error("unexpected end");
      Json v;
      char c = text[at];
      if (c == '{') {
        ++at;
        v.kind_ = Kind::object;
        if (eat('}')) return v;
        do {
          space();
          if (at >= text.size() || text[at] != '"') error("expected a member name");
          std::string key = string();
          need(':');
          v.members_.emplace_back(std::move(key), value(depth + 1));
        } while (eat(','));
        need('}');
      } else if (c == '[') {
        ++at;
        v.kind_ = Kind::array;
        if (eat(']')) return v;
        do {
          v.items_.push_back(value(depth + 1));
        } while (eat(','));
        need(']');
      } else if (c == '"') {
        v.kind_ = Kind::string;
        v.text_ = string();
      } else if (literal("true")) {
        v.kind_ = Kind::boolean;
        v.flag_ = true;
      } else if (literal("false")) {
        v.kind_ = Kind::boolean;
      } else if (literal("null")) {
        v.kind_ = Kind::null;
      } else {
        v.kind_ = Kind::number;
        v.text_ = number();
      }
      return v;
    }

    std::string number() {
      std::size_t start = at;
      auto digits = [&] {
        std::size_t from = at;
        while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
        if (at == from) error("expected a digit");
      };
      if (at < text.size() && text[at] == '-') ++at;
      if (at < text.size() && text[at] == '0') {
        ++at;  // RFC 8259 §6: no leading zeros
      } else {
        digits();
      }
      if (at < text.size() && text[at] == '.') {
        ++at;
        digits();
      }
      if (at < text.size() && (text[at] == 'e' || text[at] == 'E')) {
        ++at;
        if (at < text.size() && (text[at] == '+' || text[at] == '-')) ++at;
        digits();
      }
      return std::string(text.substr(start, at - start));
    }

    unsigned hex4() {
      if (at + 4 > text.size()) error("short \\u escape");
      unsigned v = 0;
      for (int i = 0; i < 4; ++i) {
        char c = text[at++];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
        else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10);
        else error("bad \\u escape");
      }
      return v;
    }

    static void utf8(std::string& out, unsigned cp) {
      if (cp < 0x80) {
        out += static_cast<char>(cp);
      } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3f));
      } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
      } else {
        out += static_cast<char>(0xf0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
      }
    }

    std::string string() {
      ++at;  // the opening quote
      std::string out;
      for (;;) {
        if (at >= text.size()) error("unterminated string");
        char c = text[at++];
        if (c == '"') return out;
        if (static_cast<unsigned char>(c) < 0x20) error("raw control character in a string");
        if (c != '\\') {
          out += c;
          continue;
        }
        if (at >= text.size()) error("unterminated escape");
        char e = text[at++];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            unsigned cp = hex4();
            if (cp >= 0xd800 && cp < 0xdc00) {
              if (!literal("\\u")) error("lone high surrogate");
              unsigned low = hex4();
              if (low < 0xdc00 || low >= 0xe000) error("bad low surrogate");
              cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            } else if (cp >= 0xdc00 && cp < 0xe000) {
              error("lone low surrogate");
            }
            utf8(out, cp);
            break;
          }
          default: error(std::string("bad escape \\") + e);
        }
      }
    }
  };

  Kind kind_ = Kind::null;
  bool flag_ = false;
  std::string text_;  // string value, or a number's literal text
  std::vector<Json> items_;
  std::vector<std::pair<std::string, Json>> members_;
};

}  // namespace aviary::test
