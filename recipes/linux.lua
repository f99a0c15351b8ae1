-- linux.lua: boots a Linux bzImage with a busybox initramfs on the serial
-- console, waits for the initramfs's marker line, runs one command through
-- the console and checks its answer.
--
--   luavmm run recipes/linux.lua [BZIMAGE [INITRAMFS]]
--
-- Defaults: the kernel and initramfs cached by scripts/fetch-linux.sh
-- (LUAVMM_LINUX_DIR, default /var/cache/luavmm), else the host's newest
-- /boot/vmlinuz-*.  The initramfs must print "luavmm-initramfs: ready" and
-- give a shell on the console (fetch-linux.sh builds one from Debian's
-- busybox-static).  LUAVMM_LINUX_TIMEOUT (seconds, default 600) bounds each
-- wait.
--
-- On a host with hardware virtualization this takes seconds.  On a nested
-- host whose KVM emulates kernel-mode code (see docs/HOST.md) the bzImage
-- must decompress itself, emulated, and Linux stops at its first
-- unemulatable instruction: expect a timeout or an "error" result there.
-- Exits 0 when the shell answered.
local luavmm = require "luavmm"

local dir = os.getenv("LUAVMM_LINUX_DIR") or "/var/cache/luavmm"
local timeout = tonumber(os.getenv("LUAVMM_LINUX_TIMEOUT") or "600")

local function exists(path)
  local f = path and io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function host_kernel()
  local newest
  local p = io.popen("ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1")
  if p then newest = p:read("l"); p:close() end
  return newest
end

local kernel = arg[1] or (exists(dir .. "/vmlinuz") and dir .. "/vmlinuz") or host_kernel()
local initrd = arg[2] or dir .. "/initramfs.cpio.gz"
if not exists(kernel) then
  error("no kernel: pass a bzImage, or run scripts/fetch-linux.sh to cache Debian's", 0)
end
if not exists(initrd) then
  error("no initramfs " .. initrd .. ": run scripts/fetch-linux.sh", 0)
end

local vm <close> = luavmm.machine {
  name = "linux",
  memory = "512M",
  kernel = kernel,
  initrd = initrd,
  cmdline = "console=ttyS0 earlyprintk=ttyS0 panic=-1 rdinit=/init quiet",
  console = "stdout",
}
vm:start()
vm.console:expect("luavmm%-initramfs: ready", timeout)
vm.console:send("echo luavmm-shell-$((6 * 7))\n")
vm.console:expect("luavmm%-shell%-42", timeout)
print("\nlinux.lua: the shell answered")
return 0
