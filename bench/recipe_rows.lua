-- The module mode of the bench files that run as luavmm recipes
-- (snapshot.lua, vsock.lua): run FILE under BUILD/luavmm and collect the
-- lines it prints, "row\tCELL\tCELL...", "detail\tTEXT" and "failed\tTEXT".
--
--   local rows, details, failures = require_rows(opts, "snapshot.lua")
--   opts: build (the build directory), here (bench/), quick, log (stderr file)
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

return function(opts, file, flags)
  local cmd = ("LUAVMM_BENCH_QUIET=1 LUAVMM_GUEST_DIR=%s %s run %s %s %s 2>>%s"):format(
    q(opts.build .. "/guests"), q(opts.build .. "/luavmm"), flags or "", q(opts.here .. "/" .. file),
    opts.quick and "quick" or "full", q(opts.log or "/dev/null"))
  local p = io.popen(cmd)
  local out = p:read("a")
  local _, _, code = p:close()
  local rows, details, failures = {}, {}, {}
  for line in out:gmatch("[^\n]+") do
    local kind, rest = line:match("^(%a+)\t(.*)$")
    if kind == "row" then
      local cells = {}
      for cell in (rest .. "\t"):gmatch("([^\t]*)\t") do cells[#cells + 1] = cell end
      rows[#rows + 1] = cells
    elseif kind == "detail" then
      details[#details + 1] = rest
    elseif kind == "failed" then
      failures[#failures + 1] = file .. ": " .. rest
    end
  end
  if #rows == 0 then
    failures[#failures + 1] = ("%s: exit %s: %s"):format(file, code, (out:gsub("\n", " ")))
  end
  return rows, details, failures
end
