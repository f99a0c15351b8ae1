-- The Linux hand-off: Debian's stock kernel (the vmlinux ELF extracted from
-- its bzImage by scripts/fetch-linux.sh) booted through PVH must print its
-- banner, exactly our command line (with the virtio_mmio.device= entry
-- luavmm appends for its virtio-rng), exactly the e820 map luavmm gave it,
-- then find luavmm's MP table and ACPI tables (RSDP at 0xe0000, handed over
-- in hvm_start_info.rsdp_paddr) and list them. On this host kernel-mode
-- code is emulated, so that is as far as the spec goes (docs/HOST.md):
-- those lines come within ~2 s of the banner, the next milestone ("Kernel
-- command line:", printed once the virtio-mmio devices are parsed) ~20 s
-- later; it stops the machine after the ACPI table list. The list shows
-- the FACS the FADT points at (twice: Linux installs it once for
-- FIRMWARE_CTRL and once for X_FIRMWARE_CTRL, as on QEMU). Linux stops
-- long before it loads AML (the DSDT's devices) or parses the FADT's PM
-- blocks ("ACPI: PM-Timer IO Port: 0x608" comes in acpi_boot_init, after
-- NUMA set-up): those are checked by ACPICA and a test guest instead
-- (acpi_spec.lua).
local luavmm = require "luavmm"
local t = require "luavmm.test"

local DIR = os.getenv("LUAVMM_LINUX_DIR") or "/var/cache/luavmm"

local function need(file)
  local path = DIR .. "/" .. file
  local f = io.open(path, "rb")
  if not f then
    error(("%s is missing: run scripts/fetch-linux.sh (or scripts/install-deps.sh) to fetch Debian's kernel into %s")
      :format(path, DIR), 0)
  end
  f:close()
  return path
end

-- "BIOS-e820: [mem 0x...-0x...] usable" as luavmm's map would print.
local function expected_lines(bytes)
  local hole, low = 0xc0000000, math.min(bytes, 0xc0000000)
  local map = { { 0, 0x9fc00, "usable" }, { 0x9fc00, 0x60400, "reserved" },
                { 0x100000, low - 0x100000, "usable" },
                { 0xe0000000, 0x100000, "reserved" } } -- PCI ECAM (MMCONFIG)
  if bytes > hole then map[#map + 1] = { 0x100000000, bytes - hole, "usable" } end
  local lines = {}
  for i, e in ipairs(map) do
    lines[i] = ("BIOS-e820: [mem 0x%016x-0x%016x] %s"):format(e[1], e[1] + e[2] - 1, e[3])
  end
  return lines
end

describe("Debian's Linux kernel through PVH", function()
  it("prints its banner, our command line and our e820 map", function()
    local cmdline = "earlyprintk=ttyS0 console=ttyS0 luavmm.handoff=1  two"
    local vm <close> = t.machine { kernel = need("vmlinux"), memory = "256M", cmdline = cmdline,
                                   rng = true }
    vm:start()
    -- Generous bounds, not timings: this host emulates guest kernel mode, and
    -- a busy host (a parallel build) slows decompression several-fold.
    assert.truthy(vm.console:expect("Linux version %d[^\n]*\n", 240))
    assert.are.equal(cmdline .. " virtio_mmio.device=4K@0xd0000000:5",
                     vm.console:expect("Command line: ([^\r\n]*)\r?\n", 120))
    local want = expected_lines(256 << 20)
    for i = 1, #want do
      local got = vm.console:expect("(BIOS%-e820: [^\r\n]*)\r?\n", 120)
      assert.are.equal(want[i], got)
    end
    -- the next line is no longer part of the map
    local after = vm.console:expect("([^\r\n]*)\r?\n", 120)
    assert.falsy(after:find("BIOS-e820", 1, true), after)
    -- mptable.c's floating pointer in the EBDA, then acpi.c's tables
    assert.truthy(vm.console:expect("found SMP MP%-table at %[mem 0x0009fc00%-", 120))
    assert.truthy(vm.console:expect("ACPI: RSDP 0x00000000000E0000 000024 %(v02 LUAVMM%)", 120))
    -- XSDT, then the FADT and what it points at, then the MADT, in XSDT order.
    local seen = {}
    while seen[#seen] ~= "APIC" and #seen < 8 do
      local sig, addr, len, rest = vm.console:expect(
        "ACPI: (%u%u%u%u) 0x00000000000(E0%x%x%x) (%x+)([^\r\n]*)\r?\n", 120)
      if sig == "FACS" then
        assert.are.same({ "E0040", "000040" }, { addr, len }) -- 64-byte aligned, 64 bytes
      else
        assert.truthy(rest:find("LUAVMM LUAVMM ", 1, true), rest)
      end
      if seen[#seen] ~= sig then seen[#seen + 1] = sig end
    end
    assert.are.same({ "XSDT", "FACP", "DSDT", "FACS", "APIC" }, seen)
    assert.truthy(vm.console:expect("ACPI: Reserving FACS table memory at %[mem 0xe0040%-0xe007f%]", 120))
    vm:close()
  end)

  it("accepts Debian's bzImage header (protocol >= 2.06, init_size) and refuses too little RAM", function()
    local bz = need("vmlinuz")
    local vm = luavmm.machine { kernel = bz, memory = "256M", console = false }
    vm:close()
    local ok, err = pcall(luavmm.machine, { kernel = bz, memory = "32M", console = false })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("init_size", 1, true), tostring(err))
  end)
end)
