-- What the specs that check luavmm's ACPI tables with ACPICA share
-- (acpi_spec.lua, s3_spec.lua, pci_spec.lua): the tables read out of guest
-- RAM the way an OS finds them, and iasl/acpiexec (acpica-tools,
-- scripts/install-deps.sh).  On LUA_PATH through tests/spec/?.lua.
--
--   local acpica = require "acpica_support"
--   describe(..., function()
--     if not acpica.need_tools(it) then return end
--     local tables = acpica.read_tables(vm)   -- by lower-case signature
--     acpica.disassemble(dir, "dsdt", tables.dsdt)  -- dir/dsdt.dsl, checked clean
--     local out, rc = acpica.run("cd ... && acpiexec ...")
local t = require "luavmm.test"
local assert = require "luassert"

local M = {}

-- The n-byte little-endian integer at `offset` (from 0) of s.
function M.u(s, offset, n)
  return (string.unpack("<I" .. n, s, offset + 1))
end

function M.checksum_ok(s)
  local sum = 0
  for i = 1, #s do sum = sum + s:byte(i) end
  return sum % 256 == 0
end

-- Runs a shell command; its output (stderr too) and exit code.
function M.run(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok and 0 or code
end

function M.tools_present()
  return os.execute("command -v iasl >/dev/null && command -v acpiexec >/dev/null") == true
end

-- In a describe block: true when iasl and acpiexec are installed; else
-- registers (through busted's `it`) one failing test that says what to
-- install, and returns false: the block then returns.
function M.need_tools(it)
  if M.tools_present() then return true end
  it("needs acpica-tools (iasl, acpiexec): run scripts/install-deps.sh", function()
    error("iasl/acpiexec not found", 0)
  end)
  return false
end

-- Every table, by lower-case signature, as the guest sees it: RSDP at
-- 0xe0000 (signature and both checksums checked) -> XSDT (and RSDT) ->
-- each table; the FADT's DSDT and FACS.
function M.read_tables(vm)
  local u = M.u
  local function at(addr)
    return vm:read(addr, u(vm:read(addr, 8), 4, 4))
  end
  local rsdp = vm:read(0xe0000, 36)
  assert.are.equal("RSD PTR ", rsdp:sub(1, 8))
  assert.is_true(M.checksum_ok(rsdp:sub(1, 20)) and M.checksum_ok(rsdp))
  local tables = { xsdt = at(u(rsdp, 24, 8)), rsdt = at(u(rsdp, 16, 4)) }
  for o = 36, #tables.xsdt - 8, 8 do
    local tbl = at(u(tables.xsdt, o, 8))
    tables[tbl:sub(1, 4):lower()] = tbl
  end
  assert.is_truthy(tables.facp, "no FADT in the XSDT")
  tables.dsdt = at(u(tables.facp, 140, 8))
  tables.facs = at(u(tables.facp, 132, 8))
  return tables
end

-- Writes `bytes` to dir/SIG.dat and disassembles it with `iasl -d`, which
-- must succeed without a warning or an error; its output.
function M.disassemble(dir, sig, bytes)
  assert.is_truthy(bytes, sig)
  t.write_file(("%s/%s.dat"):format(dir, sig), bytes)
  local out, rc = M.run(("cd %s && iasl -d %s.dat"):format(t.shell_quote(dir), sig))
  assert.are.equal(0, rc, out)
  assert.is_nil(out:find("[Ww]arning") or out:find("[Ee]rror"), out)
  return out
end

return M
