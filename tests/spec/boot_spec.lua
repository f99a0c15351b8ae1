-- Boot protocols: the bootcheck guest packed as a bzImage, a PVH ELF and
-- multiboot (ELF64, ELF32, a.out kludge) reports what it was handed; these
-- specs compare that with the recipe.  Then every kind of bad input: one
-- clear error, non-zero exit, no machine left.
local luavmm = require "luavmm"
local t = require "luavmm.test"

local GUESTS = os.getenv("LUAVMM_GUEST_DIR") or "build/guests"
local function guest(file) return GUESTS .. "/" .. file end

local function fnv1a(data)
  local h = 2166136261
  for i = 1, #data do h = ((h ~ data:byte(i)) * 16777619) & 0xffffffff end
  return h
end

local function tmpfile(data)
  return t.write_file(os.tmpname(), data)
end

local function random_bytes(n, seed)
  local parts, x = {}, seed or 12345
  for i = 1, n do
    x = (x * 1103515245 + 12345) & 0x7fffffff
    parts[i] = string.char((x >> 16) & 0xff)
  end
  return table.concat(parts)
end

-- The e820 map luavmm promises for `bytes` of RAM (src/arch/x86/e820.c).
local function expected_e820(bytes)
  local hole = 0xc0000000
  local low = math.min(bytes, hole)
  local map = {
    { 0, 0x9fc00, 1 }, { 0x9fc00, 0x100000 - 0x9fc00, 2 }, { 0x100000, low - 0x100000, 1 },
    { 0xe0000000, 0x100000, 2 }, -- PCI ECAM (MMCONFIG), reserved
  }
  if bytes > hole then map[#map + 1] = { 0x100000000, bytes - hole, 1 } end
  return map
end

-- Runs a bootcheck kernel and parses its "bootcheck: ..." lines.
local function bootcheck(config)
  local result, output = t.run(config, 60)
  local facts = { e820 = {}, output = output, result = result }
  for line in output:gmatch("bootcheck: ([^\n]*)\n") do
    local key, rest = line:match("^(%S+) ?(.*)$")
    if key == "e820" then
      local a, s, ty = rest:match("^(0x%x+) (0x%x+) (%d+)$")
      facts.e820[#facts.e820 + 1] = { tonumber(a), tonumber(s), tonumber(ty) }
    elseif key == "initrd" and rest ~= "none" then
      local a, s, sum = rest:match("^(0x%x+) (%d+) (0x%x+)$")
      facts.initrd = { addr = tonumber(a), size = tonumber(s), sum = tonumber(sum) }
    elseif key == "FAIL" then
      facts.failures = (facts.failures or "") .. rest .. "; "
    else
      facts[key] = rest
    end
  end
  return facts
end

local function assert_clean(f)
  assert.is_nil(f.failures, f.failures)
  assert.are.equal("exit", f.result.reason, f.output)
  assert.are.equal(0, f.result.value, f.output)
  assert.are.equal("0", f.done)
end

local function assert_e820(f, bytes)
  assert.are.same(expected_e820(bytes), f.e820)
end

local INITRD = random_bytes(300000, 7)
local initrd_path = tmpfile(INITRD)

describe("boot protocols", function()
teardown(function() os.remove(initrd_path) end)

local variants = {
  { file = "bootcheck.bzImage", protocol = "bzimage" },
  { file = "bootcheck-pvh.elf", protocol = "pvh" },
  { file = "bootcheck-mb.elf", protocol = "multiboot" },
  { file = "bootcheck-mb32.elf", protocol = "multiboot" },
  { file = "bootcheck-mb.aout", protocol = "multiboot" },
  -- the same two linked at 0x40000: multiboot images may live below 1 MiB
  { file = "bootcheck-mblow.elf", protocol = "multiboot" },
  { file = "bootcheck-mblow.aout", protocol = "multiboot" },
}

for _, v in ipairs(variants) do
  describe(v.file, function()
    it("is detected as " .. v.protocol .. " and gets our cmdline, initrd and e820 map", function()
      local cmdline = "root=/dev/null  two spaces  x=" .. v.protocol
      local f = bootcheck { kernel = guest(v.file), cmdline = cmdline, initrd = initrd_path,
                            memory = "64M" }
      assert_clean(f)
      assert.are.equal(v.protocol, f.protocol)
      assert.are.equal(cmdline, f.cmdline)
      assert.are.equal(#INITRD, f.initrd.size)
      assert.are.equal(fnv1a(INITRD), f.initrd.sum)
      assert.are.equal(0, f.initrd.addr % 4096)
      assert_e820(f, 64 << 20)
    end)

    it("works without an initrd and with an empty command line", function()
      local f = bootcheck { kernel = guest(v.file), memory = "32M" }
      assert_clean(f)
      assert.are.equal("", f.cmdline)
      assert.are.equal("none", f.initrd)
      assert_e820(f, 32 << 20)
    end)
  end)
end

describe("protocol-specific fields", function()
  for _, chip in ipairs { "split", "kernel" } do
    it("multiboot: the PICs as a BIOS leaves them, all masked but the cascade (irqchip " .. chip .. ")",
      function()
        local f = bootcheck { kernel = guest("bootcheck-mblow.aout"), memory = "32M", irqchip = chip }
        assert_clean(f)
        assert.are.equal("0xfffb", f.pic_imr)
        assert.is_nil(f.pit0_status) -- no tick unless pit = "bios"
      end)

    it("multiboot, pit = \"bios\": the tick a BIOS leaves (irqchip " .. chip .. ")", function()
      local f = bootcheck { kernel = guest("bootcheck-mblow.aout"), memory = "32M", irqchip = chip,
                            pit = "bios" }
      assert_clean(f)
      assert.are.equal("0xfffa", f.pic_imr)        -- IRQ 0 and the cascade unmasked
      assert.are.equal("0xf000ff00", f.ivt8)       -- vector 8: F000:FF00
      assert.are.equal("0x50", f.tick_handler)     -- push ax: the handler is there
      assert.are.equal("0x34", f.pit0_status)      -- counter 0: LSB then MSB, mode 2
      assert.are.equal("0x1", f.pit0_counting)
    end)
  end

  it("refuses a pit that is neither a boolean nor \"bios\"", function()
    local ok, err = pcall(t.machine, { kernel = guest("bootcheck-mblow.aout"), pit = "yes" })
    assert.is_false(ok)
    assert.truthy(tostring(err):find('pit must be true, false or "bios", not yes', 1, true), err)
  end)

  it("bzImage: type_of_loader 0xff, hardware_subarch 0 (PC), protocol 2.15", function()
    local f = bootcheck { kernel = guest("bootcheck.bzImage"), memory = "32M" }
    assert.are.equal("0xff", f.type_of_loader)
    assert.are.equal("0x0", f.hardware_subarch)
    assert.are.equal("0x20f", f.version)
    assert.are.equal("0x100000", f.code32_start)
  end)

  -- Runs bootcheck on a machine whose device tree has a virtio node, and
  -- returns its facts and the tree luavmm built (vm:dtb()).
  local function bootcheck_with_dtb(file)
    local vm <close> = t.machine { kernel = guest(file), memory = "32M", rng = true }
    local dtb = vm:dtb()
    vm:start()
    local result = vm:wait(60)
    local output = vm.console:output()
    local f = { result = result, output = output, setup_data = {} }
    for line in output:gmatch("bootcheck: ([^\n]*)\n") do
      local key, rest = line:match("^(%S+) ?(.*)$")
      if key == "setup_data" then f.setup_data[#f.setup_data + 1] = rest
      elseif key == "FAIL" then f.failures = (f.failures or "") .. rest .. "; "
      else f[key] = rest end
    end
    return f, dtb
  end

  it("bzImage: the device tree in setup_data (SETUP_DTB), the RSDP in acpi_rsdp_addr", function()
    local f, dtb = bootcheck_with_dtb("bootcheck.bzImage")
    assert_clean(f)
    assert.are.equal(0xd00dfeed, string.unpack(">I4", dtb))
    assert.are.same({ "2 " .. #dtb }, f.setup_data)       -- one node, SETUP_DTB = 2
    assert.are.equal(("0x%x"):format(#dtb), f.dtb)          -- magic and totalsize checked in the guest
    assert.are.equal("0xe0000", f.rsdp)                     -- "RSD PTR " and checksum checked there
  end)

  it("PVH: hvm_start_info.rsdp_paddr names the RSDP", function()
    local f = bootcheck_with_dtb("bootcheck-pvh.elf")
    assert_clean(f)
    assert.are.equal("0xe0000", f.rsdp)
  end)

  it("PVH: hvm_start_info magic 0x336ec578, version 1, one module", function()
    local f = bootcheck { kernel = guest("bootcheck-pvh.elf"), initrd = initrd_path }
    assert.are.equal("0x336ec578", f.magic)
    assert.are.equal("0x1", f.version)
    assert.are.equal("0x1", f.nr_modules)
  end)

  it("multiboot: EAX 0x2badb002, flags, mem_lower 639 KiB, mem_upper up to the RAM end", function()
    local f = bootcheck { kernel = guest("bootcheck-mb.aout"), initrd = initrd_path, memory = "64M" }
    assert.are.equal("0x2badb002", f.eax)
    -- mem (0) | cmdline (2) | mods (3) | mmap (6) | boot_loader_name (9)
    assert.are.equal(("0x%x"):format(1 | 4 | 8 | 64 | 512), f.flags)
    assert.are.equal(("0x%x"):format(639), f.mem_lower)
    assert.are.equal(("0x%x"):format((64 << 10) - 1024), f.mem_upper)
  end)

  it("the recipe's boot key overrides detection (the PVH guest entered as plain elf64 fails its checks)", function()
    local f = bootcheck { kernel = guest("bootcheck-pvh.elf"), boot = "elf64" }
    assert.truthy(f.failures and f.failures:find("no boot protocol recognised", 1, true))
  end)

  it("a test guest with the luavmm note keeps the 64-bit entry; boot = 'pvh' enters it through PVH", function()
    local r, out = t.run { kernel = t.guest("hello"), cmdline = "via pvh", boot = "pvh" }
    assert.are.equal(0, r.value)
    assert.truthy(out:find("cmdline: via pvh\n", 1, true))
  end)
end)

describe("a 6 GiB machine", function()
  for _, file in ipairs { "bootcheck.bzImage", "bootcheck-pvh.elf", "bootcheck-mb.elf" } do
    it("reports RAM above 4 GiB to " .. file, function()
      local f = bootcheck { kernel = guest(file), memory = "6G", initrd = initrd_path }
      assert_clean(f)
      assert_e820(f, 6 << 30)
      assert.is_true(f.initrd.addr + f.initrd.size <= 0xc0000000)
    end)
  end
end)

describe("bad input", function()
  local function machine_error(config)
    local c = { memory = "64M", console = false }
    for k, v in pairs(config) do c[k] = v end
    local ok, err = pcall(luavmm.machine, c)
    assert.is_false(ok, "the machine should not have been created")
    return tostring(err)
  end
  local function assert_error(config, fragment)
    local err = machine_error(config)
    assert.truthy(err:find(fragment, 1, true), ("%q lacks %q"):format(err, fragment))
  end
  local bz = t.read_file(guest("bootcheck.bzImage"))
  local function patched(offset, bytes)
    return tmpfile(bz:sub(1, offset) .. bytes .. bz:sub(offset + #bytes + 1))
  end

  it("random bytes are not a kernel", function()
    assert_error({ kernel = tmpfile(random_bytes(20000, 3)) }, "not an ELF file, bzImage or multiboot kernel")
  end)
  it("a truncated bzImage", function()
    assert_error({ kernel = tmpfile(bz:sub(1, 3000)) }, "truncated bzImage")
    assert_error({ kernel = tmpfile(bz:sub(1, 0x210)) }, "truncated bzImage")
  end)
  it("a wrong HdrS magic when bzimage is asked for", function()
    assert_error({ kernel = patched(0x202, "HdrX"), boot = "bzimage" }, "no \"HdrS\" magic at 0x202")
  end)
  it("protocol 2.04", function()
    assert_error({ kernel = patched(0x206, "\x04\x02") }, "bzImage protocol 2.04 is older than 2.06")
  end)
  it("a kernel file larger than RAM", function()
    assert_error({ kernel = tmpfile(bz .. string.rep("\0", 5 << 20)), memory = "4M" },
                 "is larger than guest RAM")
  end)
  it("a bzImage whose init_size does not fit in RAM", function()
    assert_error({ kernel = patched(0x260, "\0\0\0\x10"), memory = "64M" },
                 "needs 256 MiB (init_size 0x10000000) at 0x100000 but the machine has 64 MiB of RAM")
  end)
  it("an initrd that does not fit", function()
    local big = os.tmpname()
    assert(os.execute("truncate -s 300M " .. t.shell_quote(big)))
    assert_error({ kernel = guest("bootcheck.bzImage"), initrd = big, memory = "256M" },
                 "300 MiB (314572800 bytes) does not fit")
    assert_error({ kernel = guest("bootcheck-pvh.elf"), initrd = big, memory = "256M" },
                 "does not fit")
    os.remove(big)
  end)
  it("a missing initrd", function()
    assert_error({ kernel = guest("bootcheck.bzImage"), initrd = "/nonexistent/initrd" },
                 "initrd /nonexistent/initrd: cannot open")
  end)
  it("a command line longer than the kernel's cmdline_size", function()
    assert_error({ kernel = guest("bootcheck.bzImage"), cmdline = string.rep("x", 3000) },
                 "cmdline: 3000 bytes exceeds the kernel's cmdline_size 2047")
  end)
  it("an initrd for a plain elf64 kernel", function()
    assert_error({ kernel = t.guest("hello"), initrd = initrd_path }, "elf64 boot protocol cannot pass an initrd")
  end)
  it("an unknown boot protocol name", function()
    assert_error({ kernel = t.guest("hello"), boot = "uefi" }, "boot = \"uefi\" is not one of")
  end)
  it("PVH asked for a kernel without the note", function()
    assert_error({ kernel = guest("bootcheck-mb.elf"), boot = "pvh" }, "no PVH entry note")
  end)
  it("multiboot: a bad checksum, unsupported required flags, an a.out range past the file", function()
    local aout = t.read_file(guest("bootcheck-mb.aout"))
    local bad_sum = tmpfile(aout:sub(1, 8) .. "\0\0\0\0" .. aout:sub(13))
    assert_error({ kernel = bad_sum, boot = "multiboot" }, "no multiboot header")
    -- flags 0x10013 (bit 4 required): fix the checksum so only the flag is wrong
    local flags = 0x00010013
    local sum = (-(0x1badb002 + flags)) & 0xffffffff
    local odd = tmpfile(aout:sub(1, 4) .. string.pack("<I4I4", flags, sum) .. aout:sub(13))
    assert_error({ kernel = odd }, "requires flags 0x10 that luavmm does not support")
    assert_error({ kernel = tmpfile(aout:sub(1, 4096)) }, "load_end_addr")
  end)
  it("multiboot: an image below 1 MiB that would overlap luavmm's own boot data", function()
    -- bootcheck-mblow.aout (header at offset 0, linked at 0x40000) moved to
    -- 0x5000: its a.out addresses now cover the multiboot info at 0x6000.
    local aout = t.read_file(guest("bootcheck-mblow.aout"))
    local fields = { string.unpack("<I4I4I4I4I4I4I4I4", aout) }
    assert.are.equal(0x1badb002, fields[1])
    for i = 4, 8 do fields[i] = fields[i] - 0x3b000 end
    local moved = tmpfile(string.pack("<I4I4I4I4I4I4I4I4", table.unpack(fields, 1, 8)) .. aout:sub(33))
    assert_error({ kernel = moved }, "multiboot image 0x5000+0x")
    assert_error({ kernel = moved }, "overlaps the multiboot information structure (0x6000-0x6fff)")
  end)
  it("through the CLI: one line on stderr, exit status 1", function()
    local r = t.exec_recipe(([[
      local luavmm = require "luavmm"
      local vm <close> = luavmm.machine { kernel = %q, cmdline = string.rep("y", 2048), console = false }
      vm:start()
      return vm:wait(10)
    ]]):format(guest("bootcheck.bzImage")))
    assert.are.equal(1, r.status)
    local lines = {}
    for line in r.stderr:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.are.equal(1, #lines, r.stderr)
    assert.truthy(lines[1]:find("cmdline: 2048 bytes exceeds the kernel's cmdline_size 2047", 1, true))
  end)
end)
end)
