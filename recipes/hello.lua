-- hello.lua: the default recipe.  Boots the `hello` test guest, which prints
-- a greeting and its command line on the serial console and then powers off
-- through the debug-exit port with value 0.
--
--   luavmm run recipes/hello.lua [KERNEL]
--
-- Exits 0 when the guest greeted us and powered off cleanly.
local luavmm = require "luavmm"

local vm <close> = luavmm.machine {
  name = "hello",
  cpus = 1,
  memory = "64M",
  kernel = arg[1] or luavmm.guest("hello"),
  cmdline = "greeting from the recipe",
  console = "stdout",
}
vm:start()
vm.console:expect("Hello from luavmm!", 10)
local result = vm:wait(10)
if result.reason ~= "exit" or result.value ~= 0 then
  error(("guest did not power off cleanly: %s (%s)"):format(result.reason, result.detail or ""))
end
return 0
