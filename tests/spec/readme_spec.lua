-- Every ```lua block of README.md runs as written: a block with describe()
-- is a busted spec and runs under busted; any other block is a recipe and
-- runs under the built `luavmm run`, from an empty directory in which each
-- `path = "NAME"` the block names exists as a 1 MiB zero-filled file (the
-- disk images a reader would bring), and, when it names a tap, in a
-- network namespace of its own (root only: creating taps needs it).  A run
-- passes when it prints nothing on stderr (every luavmm error goes there)
-- and neither failed to start nor timed out.
--
-- A block whose first line is a comment containing "fragment" is part of a
-- larger program (a table field, say) and is only checked to compile as
-- Lua where it can be.
local t = require "luavmm.test"
local q = t.shell_quote

local SOURCE = os.getenv("LUAVMM_SOURCE_DIR") or "."
local LUA = os.getenv("LUAVMM_LUA") or "lua5.4"
local BUSTED = os.getenv("LUAVMM_BUSTED") or "/usr/bin/busted"

local function blocks(text)
  local found, current, start = {}, nil, nil
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if current then
      if line:match("^```%s*$") then
        found[#found + 1] = { line = start, source = table.concat(current, "\n") .. "\n" }
        current = nil
      else
        current[#current + 1] = line
      end
    elseif line:match("^```lua%s*$") then
      current, start = {}, n + 1
    end
  end
  assert(not current, "README.md: a ```lua block starting at line " .. tostring(start) .. " never ends")
  return found
end

local is_root = t.read_file("/proc/self/status"):match("Uid:%s*(%d+)") == "0"

local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -p " .. q(tmp)))
teardown(function() os.execute("rm -rf " .. q(tmp)) end)

local function run(cmd)
  local out, err = tmp .. "/out", tmp .. "/err"
  local ok, how, code = os.execute(("(%s) >%s 2>%s </dev/null"):format(cmd, q(out), q(err)))
  return how == "exit" and code or 128 + code, t.read_file(out), t.read_file(err)
end

local function is_fragment(block)
  return block.source:match("^%s*%-%-[^\n]*fragment") ~= nil
end

local all = blocks(t.read_file(SOURCE .. "/README.md"))

describe("README.md", function()
  it("has lua blocks, and few of them are fragments", function()
    local fragments = 0
    for _, b in ipairs(all) do
      if is_fragment(b) then fragments = fragments + 1 end
    end
    assert.is_true(#all >= 5, "found only " .. #all .. " lua blocks")
    assert.is_true(fragments <= 2, fragments .. " of " .. #all .. " blocks are marked as fragments")
  end)

  for i, block in ipairs(all) do
    local name = ("block %d (README.md:%d)"):format(i, block.line)
    local src = block.source
    if is_fragment(block) then
      it(name .. " is a fragment that parses as a table constructor's fields", function()
        local chunk = src:gsub("^%s*%-%-[^\n]*\n", "")
        assert(load("return {" .. chunk .. "}", "=" .. name, "t"))
      end)
    elseif src:find("describe(", 1, true) then
      it(name .. " runs as a busted spec", function()
        local dir = ("%s/spec%d"):format(tmp, i)
        assert(os.execute("mkdir -p " .. q(dir)))
        t.write_file(dir .. "/readme_block_spec.lua", src)
        -- the spec finds luavmm and luavmm.test where this one did
        local env = ("LUA_PATH=%s LUA_CPATH=%s LUAVMM_BIN=%s"):format(q(package.path),
          q(package.cpath), q(t.bin()))
        local status, out, err = run(("cd %s && env %s %s %s --output=TAP readme_block_spec.lua"):format(
          q(dir), env, q(LUA), q(BUSTED)))
        assert.are.equal(0, status, src .. "\n" .. out .. err)
        assert.truthy(out:find("\nok 1 ", 1, true) or out:find("^ok 1 "), out)
      end)
    else
      local uses_tap = src:find("tap%s*=") ~= nil
      local test = (uses_tap and not is_root) and pending or it
      test(name .. " runs as a recipe" .. (uses_tap and " (in a network namespace)" or ""), function()
        local dir = ("%s/recipe%d"):format(tmp, i)
        assert(os.execute("mkdir -p " .. q(dir)))
        for file in src:gmatch('path%s*=%s*"([^"/]+)"') do
          assert(os.execute(("truncate -s 1M %s"):format(q(dir .. "/" .. file))))
        end
        local recipe = dir .. "/readme.lua"
        t.write_file(recipe, src)
        -- In a fresh network namespace, with the block's taps made and up
        -- (a tap that is down is worth a warning on stderr: not here).
        local cmd = ("%s run %s"):format(q(t.bin()), q(recipe))
        if uses_tap then
          local setup = {}
          for tap in src:gmatch('tap%s*=%s*"([^"]+)"') do
            setup[#setup + 1] = ("ip tuntap add dev %s mode tap vnet_hdr && ip link set %s up && "):format(tap, tap)
          end
          cmd = ("unshare -n sh -c %s"):format(q(table.concat(setup) .. "exec " .. cmd))
        end
        local status, out, err = run(("cd %s && %s"):format(q(dir), cmd))
        assert.are.equal("", err, ("stderr of\n%s\n(status %d, stdout:\n%s)"):format(src, status, out))
        assert.is_true(status < 124, ("status %d of\n%s\n%s"):format(status, src, out))
      end)
    end
  end
end)
