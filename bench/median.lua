-- Order statistics shared by the bench drivers (bench.lua, blk.lua,
-- blk_pci.lua, snapshot.lua, vsock.lua):
--
--   local median = dofile(here .. "/median.lua")
--   median(t)             the median of a list of numbers (nil for an empty list)
--   median.quartiles(t)   its first and third quartiles (nearest rank; t not empty)
--   median.sorted(t)      a sorted copy of t
local function sorted(t)
  local s = { table.unpack(t) }
  table.sort(s)
  return s
end

local function median(t)
  if #t == 0 then return nil end
  local s = sorted(t)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) // 2] end
  return (s[n // 2] + s[n // 2 + 1]) / 2
end

local function quartiles(t)
  local s = sorted(t)
  local function at(p) return s[math.max(1, math.min(#s, math.floor(p * (#s - 1) + 1.5)))] end
  return at(0.25), at(0.75)
end

return setmetatable({ median = median, quartiles = quartiles, sorted = sorted },
  { __call = function(_, t) return median(t) end })
