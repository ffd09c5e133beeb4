#include "stemectl/output.h"

#include <algorithm>

namespace stemedb::ctl {
namespace json = boost::json;

void PrintObjects(std::ostream& out, OutputFormat format, const json::value& whole,
                  const json::array& rows, const std::vector<std::string>& columns) {
  if (format == OutputFormat::kJson) {
    out << json::serialize(whole) << "\n";
    return;
  }
  std::vector<std::vector<std::string>> cells;
  std::vector<size_t> widths;
  for (const auto& column : columns) widths.push_back(column.size());
  for (const auto& row : rows) {
    if (!row.is_object()) continue;
    std::vector<std::string> line;
    for (size_t i = 0; i < columns.size(); ++i) {
      line.push_back(FieldText(row.as_object(), columns[i]));
      widths[i] = std::max(widths[i], line.back().size());
    }
    cells.push_back(std::move(line));
  }
  auto print_line = [&](const std::vector<std::string>& line) {
    for (size_t i = 0; i < line.size(); ++i) {
      out << line[i];
      if (i + 1 < line.size()) out << std::string(widths[i] - line[i].size() + 2, ' ');
    }
    out << "\n";
  };
  std::vector<std::string> header;
  for (const auto& column : columns) {
    std::string upper = column;
    std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
    header.push_back(upper);
  }
  print_line(header);
  for (const auto& line : cells) print_line(line);
}

void PrintObject(std::ostream& out, OutputFormat format, const json::object& object) {
  if (format == OutputFormat::kJson) {
    out << json::serialize(object) << "\n";
    return;
  }
  size_t width = 0;
  for (const auto& member : object) width = std::max(width, member.key().size());
  for (const auto& member : object) {
    out << member.key() << ":" << std::string(width - member.key().size() + 1, ' ')
        << FieldText(object, member.key()) << "\n";
  }
}

}  // namespace stemedb::ctl
