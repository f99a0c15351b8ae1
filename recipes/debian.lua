-- debian.lua: boots Debian's stock kernel, as Debian ships it, with a root
-- disk, a network and the virtio console, and runs a command in it through
-- the serial console (luavmm.test's t.succeed).
--
--   scripts/fetch-linux.sh                  (once: kernel, modules initramfs, busybox)
--   luavmm run recipes/debian.lua [COMMAND...]
--
-- Debian's kernel has its virtio drivers as modules and finds virtio-mmio
-- devices only through ACPI (LNRO0005 in luavmm's DSDT), so it boots with
-- initramfs-modules.cpio.gz (scripts/fetch-linux.sh): its /init loads
-- virtio_mmio, virtio_pci, virtio_blk, virtio_net, virtio_console,
-- virtio_rng, ext4 and their dependencies, mounts the root disk /dev/vda
-- and switches to it, configures eth0 by DHCP and gives a shell on ttyS0
-- (README, "A stock Debian kernel").  The recipe waits for that shell, runs
-- COMMAND (default: one that shows the disk, the network interfaces, the
-- virtio interrupts, the virtio-rng and the virtio console, and fails if
-- one is missing), prints its output, and powers the guest off.  Exits 0
-- when the command succeeded.
--
-- Environment:
--   LUAVMM_LINUX_DIR       where fetch-linux.sh cached things (/var/cache/luavmm)
--   LUAVMM_DEBIAN_KERNEL   the kernel (default LUAVMM_LINUX_DIR/vmlinuz, the bzImage;
--                          LUAVMM_LINUX_DIR/vmlinux boots the same kernel through PVH)
--   LUAVMM_ROOTFS          an ext4 image to use as the root disk, kept; without it a
--                          fresh one is built by scripts/make-rootfs.sh and removed
--   LUAVMM_NET             user (the default): the NIC on user networking
--                          (libslirp: DHCP gives 10.0.2.15, no root needed);
--                          none: no NIC
--   LUAVMM_TAP=NAME        the NIC on host tap NAME instead (created if missing:
--                          needs CAP_NET_ADMIN; /init's DHCP gives up after 3 s)
--   LUAVMM_TRANSPORT       mmio (the default) or pci: how the virtio devices are
--                          attached (virtio-mmio described by ACPI, or virtio-pci)
--   LUAVMM_DEBIAN_CMDLINE  more kernel command-line words (e.g. "luavmm.net=off")
--   LUAVMM_DEBIAN_TIMEOUT  seconds for the boot and for the command (default 120;
--                          a hardware-virt host boots in a few seconds)
local luavmm = require "luavmm"
local t = require "luavmm.test"

local dir = os.getenv("LUAVMM_LINUX_DIR") or "/var/cache/luavmm"
local timeout = tonumber(os.getenv("LUAVMM_DEBIAN_TIMEOUT") or "120")
local scripts = (arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or ".") .. "/../scripts"

local exists = t.exists

local function need(path, what)
  if not exists(path) then
    error(("%s is missing (%s): run scripts/fetch-linux.sh%s"):format(path, what,
      dir ~= "/var/cache/luavmm" and " " .. dir or ""), 0)
  end
  return path
end

local kernel = need(os.getenv("LUAVMM_DEBIAN_KERNEL") or dir .. "/vmlinuz", "Debian's kernel")
local initrd = need(dir .. "/initramfs-modules.cpio.gz", "the initramfs with Debian's modules")

local nets
local tap, net = os.getenv("LUAVMM_TAP") or "", os.getenv("LUAVMM_NET") or "user"
if tap ~= "" then
  nets = { eth0 = { tap = tap } }
elseif net == "user" then
  nets = { eth0 = { user = true } }
elseif net ~= "none" then
  error(("LUAVMM_NET=%s: use user or none (or LUAVMM_TAP=NAME)"):format(net), 0)
end

-- The root disk: the user's, or a fresh busybox one (removed at the end,
-- also when the recipe fails).
local rootfs = os.getenv("LUAVMM_ROOTFS")
local built <close> = setmetatable({}, { __close = function(self) if self.path then os.remove(self.path) end end })
if not rootfs or rootfs == "" then
  if not exists(scripts .. "/make-rootfs.sh") then
    error(("%s/make-rootfs.sh is missing: run the recipe from the source tree or an installed prefix (share/luavmm/recipes), or give an image in LUAVMM_ROOTFS")
      :format(scripts), 0)
  end
  rootfs = os.tmpname()
  built.path = rootfs
  local ok = os.execute(("LUAVMM_LINUX_DIR=%s %s/make-rootfs.sh %s 64M"):format(
    t.shell_quote(dir), t.shell_quote(scripts), t.shell_quote(rootfs)))
  if not ok then error("scripts/make-rootfs.sh failed", 0) end
end

local command = table.concat({ ... }, " ")
if command == "" then
  -- Each line fails the command if its device is missing.
  command = table.concat({
    "echo vda: $(cat /sys/block/vda/size) sectors",
    "echo net: $(ls /sys/class/net)",
    nets and "test -d /sys/class/net/eth0" or "true",
    "grep virtio /proc/interrupts",
    "grep -q virtio_rng /sys/class/misc/hw_random/rng_available && echo rng: virtio_rng",
    -- /dev/hvc0 exists once the driver is loaded; a bound device is the proof
    "echo console: $(ls -d /sys/bus/virtio/drivers/virtio_console/virtio*)",
  }, " && ")
end

local vm <close> = luavmm.machine {
  name = "debian",
  memory = "512M",
  kernel = kernel,
  initrd = initrd,
  cmdline = "console=ttyS0 panic=-1 quiet rdinit=/init " .. (os.getenv("LUAVMM_DEBIAN_CMDLINE") or ""),
  transport = os.getenv("LUAVMM_TRANSPORT") or "mmio",
  disks = { root = { path = rootfs } },
  nets = nets,
  rng = true,
  virtio_console = true,
  console = "stdout",
}
local start = luavmm.now()
vm:start()
vm.console:expect("luavmm%-initramfs: ready", timeout)
local booted = luavmm.now() - start
local status, output = t.execute(vm, command, timeout)
-- A clean power-off: the disk is synced and the guest writes S5 (ACPI).
vm.console:send("sync; poweroff -f\n")
local result = vm:wait(30)
io.write(("\ndebian.lua: booted to the shell in %.1f s; the command exited %d; the guest stopped: %s\n")
  :format(booted, status, result.reason))
io.write(output)
return status == 0
