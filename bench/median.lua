-- The median of a list of numbers (nil for an empty list); shared by the
-- bench drivers (bench.lua, blk.lua).
return function(t)
  if #t == 0 then return nil end
  local s = { table.unpack(t) }
  table.sort(s)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) // 2] end
  return (s[n // 2] + s[n // 2 + 1]) / 2
end
