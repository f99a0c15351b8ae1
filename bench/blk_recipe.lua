-- luavmm run bench/blk_recipe.lua IMAGE CMDLINE [TRANSPORT]: the blk-bench
-- guest on IMAGE, over virtio-mmio (default) or "pci" (bench/blk_pci.lua).
local luavmm = require "luavmm"
local image, cmdline, transport = ...
local vm <close> = luavmm.machine {
  kernel = luavmm.guest("blk-bench"), cmdline = cmdline, memory = "64M",
  disks = { bench = { path = image } }, transport = transport,
}
vm:start()
return vm:wait(300)
