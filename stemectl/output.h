// Table and JSON rendering for stemectl's --output flag.
#pragma once

#include <boost/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "stemectl/cli_common.h"

namespace stemedb::ctl {

// Prints `rows` (JSON objects) as an aligned table with `columns` (member
// names, also the header), or as one pretty JSON document of `whole`.
void PrintObjects(std::ostream& out, OutputFormat format, const boost::json::value& whole,
                  const boost::json::array& rows, const std::vector<std::string>& columns);

// Prints one object as "key: value" lines, or as JSON.
void PrintObject(std::ostream& out, OutputFormat format, const boost::json::object& object);

}  // namespace stemedb::ctl
