#include "util/thread_name.h"

#include <pthread.h>

#include <algorithm>
#include <string>

namespace stemedb {

void SetThreadName(std::string_view name) {
  constexpr size_t kMaxNameBytes = 15;  // TASK_COMM_LEN - 1
  const std::string cut(name.substr(0, std::min(name.size(), kMaxNameBytes)));
  pthread_setname_np(pthread_self(), cut.c_str());
}

}  // namespace stemedb
