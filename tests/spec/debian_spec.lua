-- Debian's stock kernel (no special build) on luavmm's devices: the
-- bzImage scripts/fetch-linux.sh caches, with its initramfs-modules.cpio.gz
-- (Debian's virtio and ext4 modules, loaded by its /init), a root disk made
-- by scripts/make-rootfs.sh, a NIC, a virtio-rng and the virtio console,
-- once over virtio-mmio and once over virtio-pci.  Asserts that Linux finds
-- every device (Debian's virtio_mmio.ko binds to the DSDT's LNRO0005
-- devices, virtio_pci.ko to the functions on the PCI bus: nothing else
-- tells it where they are), that the disk has the image's size, that a
-- file written in the guest is read back in the guest and then from the
-- image on the host, and that the guest powers off through ACPI.
--
-- Opt-in: it needs a host whose KVM runs guest kernel code in hardware (a
-- few seconds per boot there).  On a host that emulates guest kernel mode
-- (docs/HOST.md) Linux stops at an instruction that host cannot emulate,
-- long before its initramfs.  So it is pending unless LUAVMM_HWVIRT=1
-- (cmake -DLUAVMM_HWVIRT_TESTS=ON sets it for ctest and labels it hwvirt);
-- enabled, a missing kernel is a failure, not a skip.
--
-- Environment, when enabled:
--   LUAVMM_LINUX_DIR         the cache of scripts/fetch-linux.sh (/var/cache/luavmm)
--   LUAVMM_DEBIAN_KERNEL     the kernel (default LUAVMM_LINUX_DIR/vmlinuz)
--   LUAVMM_DEBIAN_TIMEOUT    seconds for each wait (default 120)
--   LUAVMM_DEBIAN_CMDLINE    more kernel command-line words
--   LUAVMM_DEBIAN_TRANSPORTS the transports to boot with (default "mmio pci")
--   LUAVMM_TAP=NAME          the NIC on tap NAME (no DHCP then); by default
--                            it is on user networking, and DHCP is checked
local t = require "luavmm.test"
local luavmm = require "luavmm"

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

-- The NIC, the /init network word, and what to call it.
local function network()
  local tap = os.getenv("LUAVMM_TAP")
  if tap and tap ~= "" then return { tap = tap }, "luavmm.net=off", "tap " .. tap end
  return { user = true }, "luavmm.net=dhcp", "user networking"
end

local function booted_with(transport)
  describe(("Debian's stock kernel on luavmm's devices over virtio-%s"):format(transport), function()
    local vm, ready, dir, image, token
    local nic, net_word, net_kind = network()

    setup(function()
      dir = t.tmpdir("luavmm-debian")
      image = dir .. "/root.img"
      token = ("luavmm-%d-%d"):format(os.time(), math.random(1 << 30))
      os.execute("mkdir -p " .. t.shell_quote(dir .. "/extra/etc"))
      t.write_file(dir .. "/extra/etc/luavmm-token", token .. "\n")
      assert(os.execute(("LUAVMM_LINUX_DIR=%s %s/scripts/make-rootfs.sh %s 64M %s >/dev/null"):format(
        t.shell_quote(DIR), t.shell_quote(SOURCE), t.shell_quote(image), t.shell_quote(dir .. "/extra"))),
        "scripts/make-rootfs.sh failed")
    end)

    teardown(function()
      if vm then
        -- The whole console log, for whoever reads a failure (or the timings).
        local path = ("%s/debian_spec--%s.log"):format(t.log_dir(), transport)
        os.execute("mkdir -p " .. t.shell_quote(t.log_dir()))
        t.write_file(path, (vm.console:log()))
        io.stderr:write("debian_spec: console log in ", path, "\n")
        vm:close()
      end
      t.remove_tree(dir)
    end)

    -- The machine, once the first test saw its shell: the others fail at
    -- once after a failed boot instead of waiting for a shell that never comes.
    local function booted()
      if not ready then error("the guest did not boot to its shell (see the first test)", 0) end
      return vm
    end

    it("boots the bzImage to its initramfs, loads Debian's modules and finds every device", function()
      vm = t.machine {
        name = "debian-" .. transport, memory = "512M", console = false,
        kernel = need(os.getenv("LUAVMM_DEBIAN_KERNEL") or DIR .. "/vmlinuz"),
        initrd = need(DIR .. "/initramfs-modules.cpio.gz"),
        cmdline = ("console=ttyS0 panic=-1 rdinit=/init %s %s"):format(net_word,
          os.getenv("LUAVMM_DEBIAN_CMDLINE") or ""),
        transport = transport,
        disks = { root = { path = image } },
        nets = { eth0 = nic },
        rng = true,
        virtio_console = true,
      }
      local start = luavmm.now()
      vm:start()
      local loaded, rest = t.expect(vm, "luavmm%-initramfs: loaded (%d+) modules([^\r\n]*)", TIMEOUT)
      assert.are.equal("", rest, "modules that failed to load")
      assert.truthy(tonumber(loaded) >= 10, loaded)
      local devices = t.expect(vm, "luavmm%-initramfs: virtio devices:([^\r\n]*)", TIMEOUT)
      for _, want in ipairs({ "blk(virtio_blk)", "net(virtio_net)", "rng(virtio_rng)",
                              "console(virtio_console)" }) do
        assert.truthy(devices:find(want, 1, true), "no " .. want .. " in:" .. devices)
      end
      t.expect(vm, "luavmm%-initramfs: root /dev/vda mounted, switching to it", TIMEOUT)
      t.expect(vm, "luavmm%-initramfs: ready", TIMEOUT)
      -- The boot's kernel messages are in the log; from here on none may
      -- land in the middle of a command's output.
      t.succeed(vm, "echo 1 > /proc/sys/kernel/printk", TIMEOUT)
      ready = true
      io.stderr:write(("debian_spec: virtio-%s: the shell came %.1f s after start (NIC on %s)\n")
        :format(transport, luavmm.now() - start, net_kind))
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

    it("has eth0, driven by virtio_net", function()
      local vm = booted()
      local driver = t.succeed(vm, "basename $(readlink /sys/class/net/eth0/device/driver)", TIMEOUT)
      assert.are.equal("virtio_net\n", driver)
      if nic.user then -- user networking's DHCP gave the address, the route and the DNS server
        assert.truthy(t.succeed(vm, "ip -4 -o addr show dev eth0", TIMEOUT):find("inet 10.0.2.15/24", 1, true))
        assert.truthy(t.succeed(vm, "ip route", TIMEOUT):find("default via 10.0.2.2", 1, true))
        assert.truthy(t.succeed(vm, "cat /etc/resolv.conf", TIMEOUT):find("nameserver 10.0.2.3", 1, true))
        t.succeed(vm, "ping -c 1 -W 10 10.0.2.2", TIMEOUT)
      end
    end)

    it("has the virtio console, and what the guest writes to hvc0 reaches the console", function()
      local vm = booted()
      -- hvc0..7 exist as soon as the driver is loaded: the device bound to
      -- it and the bytes that reach luavmm are the proof.
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

    it("takes each device's interrupts (" .. (transport == "pci" and "MSI-X" or "I/O APIC") .. ")", function()
      local vm = booted()
      local interrupts = t.succeed(vm, "cat /proc/interrupts", TIMEOUT)
      local names = t.succeed(vm, "ls /sys/bus/virtio/devices", TIMEOUT)
      local chip = transport == "pci" and "PCI%-MSI" or "IO%-APIC"
      local n = 0
      for name in names:gmatch("virtio%d+") do
        n = n + 1
        local found = false
        for line in interrupts:gmatch("[^\n]+") do
          local tail = line:match("%s" .. name .. "(%S*)$")
          if tail and (tail == "" or tail:sub(1, 1) == "-") then
            assert.truthy(line:find(chip), line)
            found = true
          end
        end
        assert.truthy(found, name .. " has no interrupt line in:\n" .. interrupts)
      end
      assert.are.equal(4, n, names)
      -- the disk's interrupts fired: the root file system was read through them
      local disk = t.succeed(vm, "basename $(readlink /sys/block/vda/device)", TIMEOUT):match("virtio%d+")
      local count = 0
      for line in interrupts:gmatch("[^\n]+") do
        if line:match("%s" .. disk .. "$") or line:match("%s" .. disk .. "%-") then
          count = count + tonumber(line:match("^%s*%d+:%s+(%d+)"))
        end
      end
      assert.truthy(count > 0, interrupts)
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
end

for transport in (os.getenv("LUAVMM_DEBIAN_TRANSPORTS") or "mmio pci"):gmatch("%S+") do
  booted_with(transport)
end
