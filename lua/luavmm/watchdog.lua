-- luavmm.watchdog: act when a guest goes quiet.
--
--   local watchdog = require "luavmm.watchdog"
--   local dog = watchdog.watch(vm, { seconds = 5 })            -- stop the VM
--   local dog = watchdog.watch(vm, { seconds = 5, action = function(vm, quiet_s) ... end })
--   dog:cancel()
--
-- "Quiet" means no console output for `seconds` while the guest runs: a
-- guest asleep in ACPI S3 (stats().state "sleeping") is not quiet, and its
-- count starts again when it wakes.  Built on vm:every, so it
-- fires only while the control thread waits (vm:wait, expect, vm:run).  The
-- default action stops the machine: wait() then returns reason "killed" with
-- detail "watchdog: no console output for N s".  A custom action runs once
-- per quiet spell (again only after new output and another quiet spell).
local luavmm = require "luavmm"

local M = {}

function M.watch(vm, opts)
  local seconds = assert(tonumber(opts and opts.seconds), "watchdog: seconds is required")
  local action = opts.action or function(v, quiet)
    v:stop(("watchdog: no console output for %g s"):format(quiet))
  end
  local last_bytes, last_change = -1, luavmm.now()
  local fired = false
  local period = math.max(1, math.floor(seconds * 1000 / 4))
  local timer = vm:every(period .. "ms", function(v)
    local stats = v:stats()
    local bytes = stats.console_bytes
    local now = luavmm.now()
    if stats.state == "sleeping" then
      last_change = now -- asleep on purpose, not hung
    elseif bytes ~= last_bytes then
      last_bytes, last_change, fired = bytes, now, false
    elseif not fired and now - last_change >= seconds then
      fired = true
      action(v, seconds)
    end
  end)
  return {
    cancel = function() return timer:cancel() end,
    pending = function() return timer:pending() end,
  }
end

return M
