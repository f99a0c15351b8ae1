-- luavmm.pretty: values as `luavmm attach` prints them.  Tables are shown
-- nested (four levels), keys sorted (integers first, then names), lists in
-- order; integers under keys that hold addresses (addr, base, rip, rsp,
-- cr3, anything ending in _addr...) in hex.
--   local pretty = require "luavmm.pretty"
--   print(pretty(vm:stats()))
local M = {}

local ADDRESS_KEYS = {
  addr = true, base = true, port = true, rip = true, rsp = true, rbp = true,
  cr0 = true, cr3 = true, cr4 = true, efer = true, rflags = true,
}

local MAX_DEPTH, MAX_ENTRIES = 4, 64

local function is_address_key(key)
  return type(key) == "string" and (ADDRESS_KEYS[key] or key:match("_addr$") ~= nil)
end

local function scalar(v, key)
  if math.type(v) == "integer" and is_address_key(key) then
    return ("0x%x"):format(v)
  elseif type(v) == "string" then
    return ("%q"):format(v)
  end
  return tostring(v)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    local ta, tb = math.type(a) and 0 or 1, math.type(b) and 0 or 1
    if ta ~= tb then return ta < tb end
    if ta == 0 then return a < b end
    return tostring(a) < tostring(b)
  end)
  return keys
end

local function render(v, key, depth, seen)
  if type(v) ~= "table" then return scalar(v, key) end
  local mt = getmetatable(v)
  if type(mt) == "table" and mt.__tostring then return tostring(v) end -- its own text
  if seen[v] then return "<cycle>" end
  if depth >= MAX_DEPTH then return "{...}" end
  seen[v] = true
  local parts, n = {}, #v
  for i = 1, math.min(n, MAX_ENTRIES) do parts[#parts + 1] = render(v[i], key, depth + 1, seen) end
  for _, k in ipairs(sorted_keys(v)) do
    if #parts >= MAX_ENTRIES then parts[#parts + 1] = "..."; break end
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then
      local name = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or ("[" .. scalar(k) .. "]")
      parts[#parts + 1] = name .. " = " .. render(v[k], k, depth + 1, seen)
    end
  end
  seen[v] = nil
  return #parts == 0 and "{}" or "{ " .. table.concat(parts, ", ") .. " }"
end

-- The text of v; a string at the top is left as it is.
function M.format(v)
  if type(v) == "string" then return v end
  return render(v, nil, 0, {})
end

return setmetatable(M, { __call = function(_, v) return M.format(v) end })
