-- echo.lua: drives the `echo` test guest through its serial console the way
-- a test harness does: wait for a prompt, type, read the answer back.
--
--   luavmm run recipes/echo.lua [WORD...]
--
-- Every WORD (default: "hello world") is sent as a line and must come back;
-- then "quit" ends the guest.  Exits with the guest's status (0 = ok).
local luavmm = require "luavmm"

local words = { ... }
if #words == 0 then words = { "hello", "world" } end

local vm <close> = luavmm.machine {
  name = "echo",
  memory = "64M",
  kernel = luavmm.guest("echo"),
  console = false,            -- we read the console through expect()
}
vm:start()
vm.console:expect("echo: ready", 10)
for _, word in ipairs(words) do
  vm.console:send(word .. "\n")
  -- expect() takes a Lua pattern and returns its captures.
  local echoed = vm.console:expect("([^\r\n]+)\r?\n", 10)
  print(("sent %q, guest echoed %q"):format(word, echoed))
  assert(echoed == word, "echo mismatch")
end
vm.console:send("quit\n")
vm.console:expect("echo: bye", 10)
local result = vm:wait(10)
print(("guest stopped: %s, value %s"):format(result.reason, tostring(result.value)))
return result.value == 0 and 0 or 1
