// KeyValueReader: walks a "key=value<sep>key=value..." list without
// allocating: a URL query ("subject=sky&limit=10", sep '&') or a spec string
// ("sync_eio_after=5,path_contains=wal", sep ','). Keys and values are views
// into the text, undecoded; what a value means is the caller's.
//
// Empty items ("a=1&&b=2", a trailing separator) are skipped. An item without
// '=' is a key with no value: Item::has_value tells it apart from "key=".
#pragma once

#include <optional>
#include <string_view>

namespace stemedb {

class KeyValueReader {
 public:
  struct Item {
    std::string_view key;
    std::string_view value;  // "" when there is no '='
    bool has_value = false;  // the item had a '='
  };

  KeyValueReader(std::string_view text, char separator) : rest_(text), separator_(separator) {}

  // The next non-empty item; nullopt after the last.
  std::optional<Item> Next() {
    while (!rest_.empty()) {
      const size_t end = rest_.find(separator_);
      const std::string_view item = rest_.substr(0, end);
      rest_ = end == std::string_view::npos ? std::string_view() : rest_.substr(end + 1);
      if (item.empty()) continue;
      const size_t eq = item.find('=');
      if (eq == std::string_view::npos) return Item{item, {}, false};
      return Item{item.substr(0, eq), item.substr(eq + 1), true};
    }
    return std::nullopt;
  }

 private:
  std::string_view rest_;
  char separator_;
};

}  // namespace stemedb
