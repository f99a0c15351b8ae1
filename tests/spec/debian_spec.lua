-- Debian's stock kernel (no special build) on luavmm's devices: the
-- bzImage scripts/fetch-linux.sh caches, with its initramfs-modules.cpio.gz
-- (Debian's virtio and ext4 modules, loaded by its /init), a root disk made
-- by scripts/make-rootfs.sh, a NIC, a virtio-rng and the virtio console.
-- Asserts that Linux finds every device (Debian's virtio_mmio.ko binds to
-- the DSDT's LNRO0005 devices: nothing else tells it where they are), that
-- the disk has the image's size, that a file written in the guest is read
-- back in the guest and then from the image on the host, and that the
-- guest powers off through ACPI.
--
-- Opt-in: it needs a host whose KVM runs guest kernel code in hardware (a
-- few seconds there).  On a host that emulates guest kernel mode (docs/HOST.md)
-- Linux needs many minutes to get as far as it can and stops before
-- its initramfs.  So it is pending unless LUAVMM_HWVIRT=1 (cmake
-- -DLUAVMM_HWVIRT_TESTS=ON sets it for ctest and labels it hwvirt);
-- enabled, a missing kernel is a failure, not a skip.
--
-- Environment, when enabled:
--   LUAVMM_LINUX_DIR       the cache of scripts/fetch-linux.sh (/var/cache/luavmm)
--   LUAVMM_DEBIAN_KERNEL   the kernel (default LUAVMM_LINUX_DIR/vmlinuz)
--   LUAVMM_DEBIAN_TIMEOUT  seconds for each wait (default 120)
--   LUAVMM_DEBIAN_CMDLINE  more kernel command-line words
--   LUAVMM_NET=user        the NIC on user networking (DHCP is then checked);
--   LUAVMM_TAP=NAME        the NIC on tap NAME; without either, a tap luavmm
--                          creates (root only), else no NIC (the eth0 test is pending)
local t = require "luavmm.test"

if os.getenv("LUAVMM_HWVIRT") ~= "1" then
  describe("Debian's stock kernel on luavmm's devices", function()
    pending("opt-in: LUAVMM_HWVIRT=1 on a host with hardware virtualization "
      .. "(cmake -DLUAVMM_HWVIRT_TESTS=ON; README, \"A stock Debian kernel\")")
  end)
  return
end

local DIR = os.getenv("LUAVMM_LINUX_DIR") or "/var/cache/luavmm"
local SOURCE = os.getenv("LUAVMM_SOURCE_DIR") or "."
local TIMEOUT = tonumber(os.getenv("LUAVMM_DEBIAN_TIMEOUT") or "120")

local function need(path)
  local f = io.open(path, "rb")
  if not f then
    error(("%s is missing: run scripts/fetch-linux.sh%s"):format(path,
      DIR ~= "/var/cache/luavmm" and " " .. DIR or ""), 0)
  end
  f:close()
  return path
end

local function is_root()
  return t.read_file("/proc/self/status"):match("Uid:%s*(%d+)") == "0"
end

-- The NIC and its kernel command-line word (no DHCP wait on a bare tap).
local function network()
  if os.getenv("LUAVMM_NET") == "user" then return { user = true }, "luavmm.net=dhcp", "user" end
  local tap = os.getenv("LUAVMM_TAP")
  if tap and tap ~= "" then return { tap = tap }, "luavmm.net=off", "tap " .. tap end
  if is_root() then
    tap = ("lvmdeb%d"):format(tonumber(t.pid()) % 100000)
    return { tap = tap }, "luavmm.net=off", "tap " .. tap .. " (made by luavmm)"
  end
  return nil, "", "none"
end

describe("Debian's stock kernel on luavmm's devices", function()
  local vm, dir, image, token, nic, net_word, net_kind, boot_seconds

  setup(function()
    dir = t.tmpdir("luavmm-debian")
    image = dir .. "/root.img"
    token = ("luavmm-%d-%d"):format(os.time(), math.random(1 << 30))
    os.execute("mkdir -p " .. t.shell_quote(dir .. "/extra/etc"))
    t.write_file(dir .. "/extra/etc/luavmm-token", token .. "\n")
    assert(os.execute(("LUAVMM_LINUX_DIR=%s %s/scripts/make-rootfs.sh %s 64M %s >/dev/null"):format(
      t.shell_quote(DIR), t.shell_quote(SOURCE), t.shell_quote(image), t.shell_quote(dir .. "/extra"))),
      "scripts/make-rootfs.sh failed")
    nic, net_word, net_kind = network()
  end)

  teardown(function()
    if vm then
      -- The whole console log, for whoever reads a failure (or the timings).
      local path = t.log_dir() .. "/debian_spec--boot.log"
      os.execute("mkdir -p " .. t.shell_quote(t.log_dir()))
      t.write_file(path, (vm.console:log()))
      io.stderr:write("debian_spec: console log in ", path, "\n")
      vm:close()
    end
    t.remove_tree(dir)
  end)

  local function booted()
    if not vm then error("the guest did not boot (see the first test)", 0) end
    return vm
  end

  it("boots the bzImage to its initramfs, loads Debian's modules and finds virtio devices", function()
    vm = t.machine {
      name = "debian", memory = "512M", console = false,
      kernel = need(os.getenv("LUAVMM_DEBIAN_KERNEL") or DIR .. "/vmlinuz"),
      initrd = need(DIR .. "/initramfs-modules.cpio.gz"),
      cmdline = ("console=ttyS0 panic=-1 rdinit=/init %s %s"):format(net_word,
        os.getenv("LUAVMM_DEBIAN_CMDLINE") or ""),
      disks = { root = { path = image } },
      nets = nic and { eth0 = nic } or nil,
      rng = true,
      virtio_console = true,
    }
    local start = require("luavmm").now()
    vm:start()
    local loaded, rest = t.expect(vm, "luavmm%-initramfs: loaded (%d+) modules([^\r\n]*)", TIMEOUT)
    assert.are.equal("", rest, "modules that failed to load")
    assert.truthy(tonumber(loaded) >= 10, loaded)
    local devices = t.expect(vm, "luavmm%-initramfs: virtio devices:([^\r\n]*)", TIMEOUT)
    for _, want in ipairs({ "blk(virtio_blk)", "rng(virtio_rng)", "console(virtio_console)" }) do
      assert.truthy(devices:find(want, 1, true), "no " .. want .. " in:" .. devices)
    end
    if nic then assert.truthy(devices:find("net(virtio_net)", 1, true), devices) end
    t.expect(vm, "luavmm%-initramfs: root /dev/vda mounted, switching to it", TIMEOUT)
    t.expect(vm, "luavmm%-initramfs: ready", TIMEOUT)
    -- The boot's kernel messages are in the log; from here on, none may
    -- land in the middle of a command's output.
    t.succeed(vm, "echo 1 > /proc/sys/kernel/printk", TIMEOUT)
    boot_seconds = require("luavmm").now() - start
    io.stderr:write(("debian_spec: the shell came %.1f s after start (network: %s)\n"):format(boot_seconds, net_kind))
  end)

  it("has the root disk /dev/vda, the image's size, as / (ext4)", function()
    local vm = booted()
    local sectors = t.succeed(vm, "cat /sys/block/vda/size", TIMEOUT)
    local f = assert(io.open(image, "rb"))
    local bytes = f:seek("end")
    f:close()
    assert.are.equal(bytes, tonumber(sectors:match("%d+")) * 512)
    assert.truthy(t.succeed(vm, "cat /proc/mounts", TIMEOUT):find("/dev/vda / ext4 rw", 1, true))
    -- a file make-rootfs.sh put there
    assert.are.equal(token .. "\n", t.succeed(vm, "cat /etc/luavmm-token", TIMEOUT))
  end)

  it("has eth0", function()
    if not nic then
      pending("no NIC: set LUAVMM_NET=user or LUAVMM_TAP=NAME, or run as root")
      return
    end
    local vm = booted()
    t.succeed(vm, "test -d /sys/class/net/eth0", TIMEOUT)
    local driver = t.succeed(vm, "basename $(readlink /sys/class/net/eth0/device/driver)", TIMEOUT)
    assert.are.equal("virtio_net\n", driver)
    if nic.user then -- DHCP from user networking gave an address and a route
      local addr = t.succeed(vm, "ip -4 -o addr show dev eth0", TIMEOUT)
      assert.truthy(addr:find("inet %d+%.%d+%.%d+%.%d+/%d+"), addr)
      assert.truthy(t.succeed(vm, "ip route", TIMEOUT):find("default via", 1, true))
    end
  end)

  it("has the virtio console hvc0, and what the guest writes there reaches the console", function()
    local vm = booted()
    -- hvc0..7 exist as soon as the driver is loaded: the device bound to it
    -- and the bytes that reach luavmm are the proof.
    t.succeed(vm, "ls -d /sys/bus/virtio/drivers/virtio_console/virtio*", TIMEOUT)
    -- printf builds the marker, so the echoed command line cannot match it.
    local out = t.succeed(vm, "printf 'luavmm-%s-%s\\n' hvc ok > /dev/hvc0", TIMEOUT)
    if not out:find("luavmm-hvc-ok", 1, true) then t.expect(vm, "luavmm%-hvc%-ok", TIMEOUT) end
  end)

  it("has the virtio-rng as the kernel's hardware RNG", function()
    local vm = booted()
    local rngs = t.succeed(vm, "cat /sys/class/misc/hw_random/rng_available", TIMEOUT)
    assert.truthy(rngs:find("virtio_rng", 1, true), rngs)
    t.succeed(vm, "dd if=/dev/hwrng of=/dev/null bs=16 count=1", TIMEOUT)
  end)

  it("takes the virtio interrupts through the I/O APIC, one line per device", function()
    local vm = booted()
    local lines = t.succeed(vm, "grep virtio /proc/interrupts", TIMEOUT)
    local n = select(2, lines:gsub("IO%-APIC[^\n]*virtio%d+\n", ""))
    assert.are.equal(nic and 4 or 3, n, lines)
    -- the disk's interrupt fired: the root file system was read through it
    local disk = t.succeed(vm, "grep -w $(basename $(readlink /sys/block/vda/device)) /proc/interrupts", TIMEOUT)
    assert.truthy(tonumber(disk:match("^%s*%d+:%s+(%d+)")) > 0, disk)
  end)

  it("reads back a file written to the disk, in the guest and then on the host", function()
    local vm = booted()
    t.succeed(vm, "echo " .. token .. "-written > /luavmm-written && sync", TIMEOUT)
    -- drop the page cache: the next read comes from the device
    t.succeed(vm, "echo 3 > /proc/sys/vm/drop_caches", TIMEOUT)
    assert.are.equal(token .. "-written\n", t.succeed(vm, "cat /luavmm-written", TIMEOUT))
    vm.console:send("sync; poweroff -f\n")
    assert.are.equal("poweroff", vm:wait(TIMEOUT).reason)
    local p = io.popen("debugfs -R 'cat /luavmm-written' " .. t.shell_quote(image) .. " 2>/dev/null")
    local on_host = p:read("a")
    p:close()
    assert.are.equal(token .. "-written\n", on_host)
  end)
end)
