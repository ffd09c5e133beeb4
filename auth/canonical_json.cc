#include "auth/canonical_json.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <charconv>
#include <cmath>
#include <system_error>
#include <utility>
#include <vector>

#include "util/json_string.h"

namespace stemedb::auth {
namespace {

// UTF-16 code units of valid UTF-8 text, for JCS member ordering. Sorting by
// UTF-8 bytes would differ for characters above U+FFFF versus U+E000..U+FFFF.
std::u16string ToUtf16(std::string_view utf8) {
  std::u16string out;
  out.reserve(utf8.size());
  size_t i = 0;
  while (i < utf8.size()) {
    unsigned char c = static_cast<unsigned char>(utf8[i]);
    char32_t cp;
    size_t len;
    if (c < 0x80) {
      cp = c;
      len = 1;
    } else if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F;
      len = 2;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F;
      len = 3;
    } else {
      cp = c & 0x07;
      len = 4;
    }
    for (size_t k = 1; k < len && i + k < utf8.size(); ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(utf8[i + k]) & 0x3F);
    }
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
  }
  return out;
}

}  // namespace

void AppendCanonicalString(std::string_view utf8, std::string* out) {
  // RFC 8785 §3.2.2.2 is exactly JSON's minimal escaping.
  AppendJsonString(out, utf8);
}

void AppendCanonicalNumber(double number, std::string* out) {
  if (!std::isfinite(number)) {
    out->append("null");
    return;
  }
  if (number == 0) {  // also -0
    out->push_back('0');
    return;
  }
  if (number < 0) {
    out->push_back('-');
    number = -number;
  }
  // Shortest round-trip digits: to_chars in scientific form gives
  // "d[.ddd]e[+-]xx", i.e. the s, k and n of ECMA-262 Number::toString.
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), number, std::chars_format::scientific);
  (void)ec;  // 64 bytes always suffice for a double
  std::string_view sci(buf, end - buf);
  size_t epos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, epos)) {
    if (c != '.') digits.push_back(c);
  }
  int exp10 = 0;
  std::string_view exp_text = sci.substr(epos + 1);
  if (!exp_text.empty() && exp_text[0] == '+') exp_text.remove_prefix(1);
  std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exp10);
  const int k = static_cast<int>(digits.size());
  const int n = exp10 + 1;
  if (k <= n && n <= 21) {
    out->append(digits);
    out->append(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out->append(digits, 0, n);
    out->push_back('.');
    out->append(digits, n);
  } else if (-6 < n && n <= 0) {
    out->append("0.");
    out->append(static_cast<size_t>(-n), '0');
    out->append(digits);
  } else {
    out->push_back(digits[0]);
    if (k > 1) {
      out->push_back('.');
      out->append(digits, 1);
    }
    out->push_back('e');
    out->push_back(n - 1 >= 0 ? '+' : '-');
    out->append(std::to_string(std::abs(n - 1)));
  }
}

void AppendCanonicalJson(const boost::json::value& value, std::string* out) {
  switch (value.kind()) {
    case boost::json::kind::null:
      out->append("null");
      break;
    case boost::json::kind::bool_:
      out->append(value.get_bool() ? "true" : "false");
      break;
    case boost::json::kind::int64:
      AppendCanonicalNumber(static_cast<double>(value.get_int64()), out);
      break;
    case boost::json::kind::uint64:
      AppendCanonicalNumber(static_cast<double>(value.get_uint64()), out);
      break;
    case boost::json::kind::double_:
      AppendCanonicalNumber(value.get_double(), out);
      break;
    case boost::json::kind::string:
      AppendCanonicalString(value.get_string(), out);
      break;
    case boost::json::kind::array: {
      out->push_back('[');
      bool first = true;
      for (const auto& element : value.get_array()) {
        if (!first) out->push_back(',');
        first = false;
        AppendCanonicalJson(element, out);
      }
      out->push_back(']');
      break;
    }
    case boost::json::kind::object: {
      const auto& object = value.get_object();
      std::vector<std::pair<std::u16string, const boost::json::key_value_pair*>> members;
      members.reserve(object.size());
      for (const auto& member : object) members.emplace_back(ToUtf16(member.key()), &member);
      std::sort(members.begin(), members.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      out->push_back('{');
      bool first = true;
      for (const auto& [sort_key, member] : members) {
        if (!first) out->push_back(',');
        first = false;
        AppendCanonicalString(member->key(), out);
        out->push_back(':');
        AppendCanonicalJson(member->value(), out);
      }
      out->push_back('}');
      break;
    }
  }
}

Result<std::string> CanonicalizeJson(std::string_view json_text) {
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(json_text, ec);
  if (ec) return Status::InvalidArgument("not valid JSON");
  std::string out;
  out.reserve(json_text.size());
  AppendCanonicalJson(value, &out);
  return out;
}

}  // namespace stemedb::auth
