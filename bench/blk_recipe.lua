-- luavmm run bench/blk_recipe.lua IMAGE CMDLINE: the blk-bench guest on IMAGE.
local luavmm = require "luavmm"
local image, cmdline = ...
local vm <close> = luavmm.machine {
  kernel = luavmm.guest("blk-bench"), cmdline = cmdline, memory = "64M",
  disks = { bench = { path = image } },
}
vm:start()
return vm:wait(300)
