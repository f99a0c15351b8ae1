-- The luavmm executable: its commands, and one clear line on stderr with a
-- non-zero exit for every kind of bad input.
local t = require "luavmm.test"

local function recipe(body)
  return 'local luavmm = require "luavmm"\n' .. body
end

-- A recipe booting `kernel_expr` with extra machine fields.
local function boot_recipe(kernel_expr, fields)
  return recipe(([[
local vm <close> = luavmm.machine { kernel = %s, console = "stdout" %s }
vm:start()
return vm:wait(30)
]]):format(kernel_expr, fields or ""))
end

local function assert_one_line_error(result, fragment)
  assert.are_not.equal(0, result.status)
  local lines = {}
  for line in result.stderr:gmatch("[^\n]+") do lines[#lines + 1] = line end
  assert.are.equal(1, #lines, "stderr should be one line, got:\n" .. result.stderr)
  assert.truthy(lines[1]:find(fragment, 1, true),
    ("stderr %q lacks %q"):format(lines[1], fragment))
end

local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p " .. tmp)
teardown(function() os.execute("rm -rf " .. t.shell_quote(tmp)) end)

describe("luavmm run", function()
  it("runs the default hello recipe and exits 0", function()
    local r = t.exec { "run", "recipes/hello.lua" }
    assert.are.equal(0, r.status)
    assert.truthy(r.stdout:find("Hello from luavmm!\n", 1, true))
    assert.are.equal("", r.stderr)
  end)

  it("runs the echo recipe, passing its arguments", function()
    local r = t.exec { "run", "recipes/echo.lua", "alpha", "beta" }
    assert.are.equal(0, r.status, r.stderr)
    assert.truthy(r.stdout:find('sent "alpha", guest echoed "alpha"', 1, true))
    assert.truthy(r.stdout:find('sent "beta", guest echoed "beta"', 1, true))
  end)

  it("exits with the status a recipe returns (a wait() result's code)", function()
    local r = t.exec_recipe(boot_recipe('luavmm.guest("exitcode")', ', cmdline = "21"'))
    assert.are.equal(21, r.status)
    assert.truthy(r.stdout:find("exitcode 21", 1, true))
  end)

  it("forwards stdin to the guest's UART when the recipe asks", function()
    local r = t.exec_recipe(recipe([[
local vm <close> = luavmm.machine { kernel = luavmm.guest("echo"), stdin = true }
vm:start()
return vm:wait(30)
]]), nil, nil, nil, "typed on stdin\nexit 9\n")
    assert.are.equal(9, r.status, r.stderr)
    assert.truthy(r.stdout:find("echo: ready\ntyped on stdin\nexit 9\n", 1, true))
  end)

  it("builds recipes/linux.lua's machine (bzImage + initramfs) and fails in one line where Linux cannot boot", function()
    -- Here the bzImage would have to decompress itself in emulated kernel
    -- mode (docs/HOST.md): a short timeout proves the recipe runs up to its
    -- first wait and reports it as one line; a hardware-virt host runs the
    -- full recipe through `ctest -L hwvirt`.
    local r = t.exec({ "run", "recipes/linux.lua" }, { LUAVMM_LINUX_TIMEOUT = "3" })
    assert_one_line_error(r, "expect: timed out after 3.0s waiting for 'luavmm%-initramfs: ready'")
    assert.truthy(r.stderr:find("^luavmm: recipes/linux.lua:%d+: "))
  end)

  it("prints --help and --version", function()
    local help = t.exec { "--help" }
    assert.are.equal(0, help.status)
    assert.truthy(help.stdout:find("luavmm run [OPTIONS] RECIPE", 1, true))
    local version = t.exec { "--version" }
    assert.are.equal(0, version.status)
    assert.truthy(version.stdout:find("^luavmm %d+%.%d+%.%d+\n"))
  end)

  it("rejects unknown commands and a missing recipe", function()
    assert_one_line_error(t.exec { "frobnicate" }, "unknown command 'frobnicate'")
    assert_one_line_error(t.exec { "run" }, "run needs a recipe file")
    assert_one_line_error(t.exec { "run", tmp .. "/missing.lua" }, "cannot open " .. tmp .. "/missing.lua")
  end)
end)

describe("bad input gives one clear line and a non-zero exit", function()
  local hello = 'luavmm.guest("hello")'

  it("when /dev/kvm is missing", function()
    local r = t.exec_recipe(boot_recipe(hello), nil, { LUAVMM_KVM_DEVICE = tmp .. "/no-kvm" })
    assert_one_line_error(r, "cannot open " .. tmp .. "/no-kvm: no such device")
  end)

  it("when the user may not open /dev/kvm", function()
    local whoami = io.popen("id -u"):read("l")
    if whoami ~= "0" then
      pending("needs root to switch to an unprivileged user")
      return
    end
    local guest = tmp .. "/hello.elf"
    os.execute(("cp %s %s && chmod 755 %s && chmod 644 %s"):format(
      t.shell_quote(t.guest("hello")), t.shell_quote(guest), t.shell_quote(tmp), t.shell_quote(guest)))
    local r = t.exec_recipe(boot_recipe(("%q"):format(guest)), nil, nil,
      "setpriv --reuid=65534 --regid=65534 --clear-groups")
    assert_one_line_error(r, "/dev/kvm: permission denied")
  end)

  it("when the kernel is missing", function()
    local r = t.exec_recipe(boot_recipe(("%q"):format(tmp .. "/nope.elf")))
    assert_one_line_error(r, "kernel " .. tmp .. "/nope.elf: cannot open: No such file or directory")
  end)

  it("when the kernel is not a readable file", function()
    local r = t.exec_recipe(boot_recipe(("%q"):format(tmp)))
    assert_one_line_error(r, "not a regular file")
  end)

  it("when the kernel is not an ELF", function()
    local path = t.write_file(tmp .. "/random.bin", string.rep("\x13\x37\xfe", 3000))
    local r = t.exec_recipe(boot_recipe(("%q"):format(path)))
    assert_one_line_error(r, "not an ELF file")
  end)

  it("when the kernel ELF is truncated", function()
    local data = t.read_file(t.guest("hello"))
    for _, size in ipairs { 40, 100, #data // 2 } do
      local path = t.write_file(tmp .. "/truncated.elf", data:sub(1, size))
      local r = t.exec_recipe(boot_recipe(("%q"):format(path)))
      assert_one_line_error(r, "truncated ELF")
    end
  end)

  it("when a kernel segment lies outside RAM", function()
    -- A minimal ELF64 whose one segment sits at 512 MiB, in a 64 MiB machine.
    local ehdr = string.pack("<c16I2I2I4I8I8I8I4I2I2I2I2I2I2",
      "\x7fELF\2\1\1" .. string.rep("\0", 9), 2, 62, 1, 0x20000000, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    local phdr = string.pack("<I4I4I8I8I8I8I8I8", 1, 5, 0, 0x20000000, 0x20000000, 128, 128, 0x1000)
    local path = t.write_file(tmp .. "/far.elf", ehdr .. phdr .. string.rep("\xf4", 8))
    local r = t.exec_recipe(boot_recipe(("%q"):format(path), ', memory = "64M"'))
    assert_one_line_error(r, "lies outside guest RAM (64 MiB)")
  end)

  it("when memory is 0, not a size, or more than the host has", function()
    assert_one_line_error(t.exec_recipe(boot_recipe(hello, ', memory = "0"')), 'memory = "0" is not a size')
    assert_one_line_error(t.exec_recipe(boot_recipe(hello, ', memory = "abc"')), 'memory = "abc" is not a size')
    assert_one_line_error(t.exec_recipe(boot_recipe(hello, ', memory = "900T"')), "more than this host's")
  end)

  it("when memory is a string without a unit, or not whole 4K pages of at least 4M", function()
    local function err(value) return t.exec_recipe(boot_recipe(hello, ", memory = " .. value)) end
    assert_one_line_error(err('"4096"'), '.lua:2: machine: memory = "4096" has no unit')
    assert_one_line_error(err('"3M"'), "at least 4M (got 3145728 bytes)")
    assert_one_line_error(err('"4097K"'), "a multiple of 4K and at least 4M (got 4195328 bytes)")
    assert_one_line_error(err("2.5"), "a whole number of MiB, not 2.5")
  end)

  it("when cpus is 0 or above the KVM limit", function()
    assert_one_line_error(t.exec_recipe(boot_recipe(hello, ", cpus = 0")), "cpus = 0 is out of range")
    assert_one_line_error(t.exec_recipe(boot_recipe(hello, ", cpus = 4096")), "cpus: 4096 is out of range")
  end)

  it("on a recipe syntax error, with file:line", function()
    local r = t.exec_recipe("local x = = 1\n")
    assert_one_line_error(r, ".lua:1:")
    assert.truthy(r.stderr:find("unexpected symbol", 1, true))
  end)

  it("on a recipe runtime error, with file:line", function()
    local r = t.exec_recipe("local a = 1\nlocal b = nil\nreturn a + b.field\n")
    assert_one_line_error(r, ".lua:3: attempt to index a nil value")
  end)

  it("on a machine error, pointing at the recipe line", function()
    local r = t.exec_recipe(recipe("\n\nluavmm.machine { kernel = 'x', colour = 1 }\n"))
    assert_one_line_error(r, ".lua:4: machine: unknown key 'colour'")
  end)

  it("on an expect() timeout, with the last output", function()
    local r = t.exec_recipe(recipe([[
local vm <close> = luavmm.machine { kernel = luavmm.guest("echo"), console = false }
vm:start()
vm.console:expect("this never appears", 0.5)
]]))
    assert_one_line_error(r, "timed out after 0.5s waiting for 'this never appears'; last output: \"echo: ready\\n\"")
  end)

  it("and leaves no process behind when a recipe fails with a running guest", function()
    local r = t.exec_recipe(recipe([[
local vm = luavmm.machine { kernel = luavmm.guest("echo"), console = false, cpus = 2 }
vm:start()
vm.console:expect("ready", 30)
error("recipe gave up")
]]))
    assert_one_line_error(r, "recipe gave up")
    -- "[r]un" matches "run" but not the pgrep command line itself.
    local leftovers = io.popen("pgrep -f " .. t.shell_quote("[r]un " .. r.recipe) .. " | wc -l"):read("n")
    assert.are.equal(0, leftovers)
  end)
end)
