-- wrk script for bench/compare: the second load generator for the HTTP peers.
-- Phrases the same requests as bench/loadgen (workload.cc) so the two
-- harnesses measure the same work: one request per round trip on each
-- keep-alive connection, a unique subject/key per write, reads of keys a
-- preload wrote (bench/wrk/preload.py). Prints one JSON line in
-- stemedb_loadgen's result format when done.
--
-- Environment:
--   WRK_WORKLOAD  stemedb-assert | stemedb-batch | stemedb-get | stemedb-query |
--                 etcd-put | etcd-txn | etcd-get
--   WRK_PREFIX    makes this run's keys unique (runs share a server)
--   WRK_KEYS      file of preloaded keys, one per line (read workloads)
--   STEMEDB_KEY   API key for StemeDB
--   VALUE_BYTES   payload size of each written value (default 100)
--   WRK_BATCH     assertions/puts per batch request (default 100)

local mode = os.getenv("WRK_WORKLOAD") or "stemedb-assert"
local prefix = os.getenv("WRK_PREFIX") or "wrk"
local keys_file = os.getenv("WRK_KEYS")
local api_key = os.getenv("STEMEDB_KEY")
local value_bytes = tonumber(os.getenv("VALUE_BYTES") or "100")
local batch = tonumber(os.getenv("WRK_BATCH") or "100")
local items_per_request = (mode == "stemedb-batch" or mode == "etcd-txn") and batch or 1

local b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = {math.floor(n / 262144) % 64, math.floor(n / 4096) % 64, math.floor(n / 64) % 64, n % 64}
    local chars = (b == nil) and 2 or ((c == nil) and 3 or 4)
    for j = 1, 4 do
      out[#out + 1] = j <= chars and b64:sub(q[j] + 1, q[j] + 1) or "="
    end
  end
  return table.concat(out)
end

-- setup() runs once per thread in the main Lua state; each thread gets its
-- own state, seeded with its index so threads write distinct keys.
local next_thread = 0
function setup(thread)
  next_thread = next_thread + 1
  thread:set("tid", next_thread)
end

function init(args)
  seq = 0
  math.randomseed(tid * 7919 + 17)
  headers = {["Content-Type"] = "application/json"}
  if api_key and mode:sub(1, 7) == "stemedb" then headers["X-API-Key"] = api_key end
  pad = string.rep("x", value_bytes > 24 and value_bytes - 24 or 1)
  keys = {}
  if keys_file and keys_file ~= "" then
    for line in io.lines(keys_file) do keys[#keys + 1] = line end
  end
  if mode:sub(-3) == "get" or mode:sub(-5) == "query" then
    assert(#keys > 0, "read workload needs WRK_KEYS")
  end
end

local function value()
  return "v" .. tid .. "-" .. seq .. "-" .. pad
end

local function assertion(subject)
  return '{"subject":"' .. subject .. '","predicate":"bench.value","value":"' .. value() ..
         '","agent_id":"loadgen"}'
end

local function pick()
  return keys[math.random(#keys)]
end

function request()
  seq = seq + 1
  local unique = prefix .. "-t" .. tid .. "-" .. seq
  if mode == "stemedb-assert" then
    return wrk.format("POST", "/v1/assert", headers, assertion("subject-" .. unique))
  elseif mode == "stemedb-batch" then
    local items = {}
    for i = 0, batch - 1 do items[#items + 1] = assertion("subject-" .. unique .. "-" .. i) end
    return wrk.format("POST", "/v1/assert/batch", headers,
                      '{"assertions":[' .. table.concat(items, ",") .. "]}")
  elseif mode == "stemedb-get" then
    -- Preload lines are "<id>\t<subject>".
    local id = pick():match("^[^\t]*")
    return wrk.format("GET", "/v1/assertions/" .. id, headers)
  elseif mode == "stemedb-query" then
    local subject = pick():match("\t(.*)$")
    return wrk.format("GET", "/v1/query?subject=" .. subject .. "&limit=10", headers)
  elseif mode == "etcd-put" then
    return wrk.format("POST", "/v3/kv/put", headers,
                      '{"key":"' .. base64("subject-" .. unique) .. '","value":"' ..
                      base64(value()) .. '"}')
  elseif mode == "etcd-txn" then
    local puts = {}
    for i = 0, batch - 1 do
      puts[#puts + 1] = '{"requestPut":{"key":"' .. base64("subject-" .. unique .. "-" .. i) ..
                        '","value":"' .. base64(value()) .. '"}}'
    end
    return wrk.format("POST", "/v3/kv/txn", headers,
                      '{"success":[' .. table.concat(puts, ",") .. "]}")
  elseif mode == "etcd-get" then
    return wrk.format("POST", "/v3/kv/range", headers, '{"key":"' .. base64(pick()) .. '"}')
  end
  error("unknown WRK_WORKLOAD " .. mode)
end

function done(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  local seconds = summary.duration / 1e6
  local ok = summary.requests - e.status
  io.write(string.format(
    '{"harness":"wrk","workload":"%s","duration_s":%.3f,"requests":%d,"errors":%d,' ..
    '"requests_per_s":%.1f,"items_per_s":%.1f,"p50_ms":%.6f,"p99_ms":%.6f,"p999_ms":%.6f,' ..
    '"max_ms":%.6f}\n',
    mode, seconds, summary.requests, errors, ok / seconds, ok * items_per_request / seconds,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency:percentile(99.9) / 1e3,
    latency.max / 1e3))
end
