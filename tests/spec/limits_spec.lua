-- Hardening: each hook call has one budget (instructions and seconds)
-- shared by every coroutine it runs, and pattern matching inside a hook is
-- bounded; these are the bypasses that used to hang the VMM.
local t = require "luavmm.test"
local luavmm = require "luavmm"

-- Runs `hook` as the on_pio hook of a guest reading port 0x510; returns the
-- wait() result and how long the wait took.  A 30 s wait is the hang guard.
local function run_hook(hook, config)
  local c = { hook_timeout = 1 }
  for k, v in pairs(config or {}) do c[k] = v end
  local vm = t.boot("luadev", "i 0x510", c)
  vm:on_pio(0x510, 4, hook)
  vm:start()
  local t0 = luavmm.now()
  local r = vm:wait(30)
  return r, luavmm.now() - t0
end

describe("a hook's budget", function()
  t.teardown_each()

  it("covers a coroutine created outside the hook and resumed inside it", function()
    local co = coroutine.create(function() while true do end end)
    local r, took = run_hook(function() coroutine.resume(co) end)
    assert.are.equal("hook_error", r.reason)
    assert.truthy(r.detail:find("hook exceeded its", 1, true), r.detail)
    assert.is_true(took < 20, "the wait took " .. took .. " s")
  end)

  it("covers a wrapped coroutine created outside the hook", function()
    local f = coroutine.wrap(function() while true do end end)
    local r = run_hook(function() f() end)
    assert.are.equal("hook_error", r.reason)
    assert.truthy(r.detail:find("hook exceeded its", 1, true), r.detail)
  end)

  it("is shared by a fresh coroutine per loop iteration", function()
    local r = run_hook(function()
      while true do coroutine.wrap(function() for _ = 1, 50 do end end)() end
    end, { hook_limit = 1000000 })
    assert.are.equal("hook_error", r.reason)
    assert.truthy(r.detail:find("limit of 1000000 Lua instructions", 1, true), r.detail)
  end)

  it("cannot be swallowed by pcall", function()
    local r = run_hook(function()
      while true do pcall(function() while true do end end) end
    end, { hook_limit = 100000 })
    assert.are.equal("hook_error", r.reason)
    assert.truthy(r.detail:find("limit of 100000 Lua instructions", 1, true), r.detail)
  end)

  it("ends a hook that spends its time in C with the time limit", function()
    local r = run_hook(function()
      while true do local _ = ("x"):rep(1 << 20):upper() end
    end, { hook_timeout = 0.5 })
    assert.are.equal("hook_error", r.reason)
    assert.truthy(r.detail:find("time limit of 0.5", 1, true), r.detail)
  end)

  it("refuses a pattern whose backtracking would not end in time", function()
    local r, took = run_hook(function() return (string.rep("a", 3000):find(".-.-.-b")) end)
    assert.are.equal("hook_error", r.reason)
    assert.truthy(r.detail:find("string.find: pattern '.-.-.-b' is too costly", 1, true), r.detail)
    assert.is_true(took < 20, "the wait took " .. took .. " s")
  end)

  it("still lets ordinary patterns run on large subjects", function()
    local text = ("login: root\n"):rep(10000)
    local got
    local r = run_hook(function()
      local n = 0
      for line in text:gmatch("([^\n]*)\n") do n = n + #line end
      got = { n, #text:gsub("root", "r"), text:find("(%w+):%s*(%w+)") }
    end)
    assert.are.equal("exit", r.reason)
    assert.are.same({ 110000, 90000, 1, 11, "login", "root" }, got)
  end)

  it("leaves coroutines and patterns alone outside hooks", function()
    local co = coroutine.wrap(function(a) local b = coroutine.yield(a + 1); return b * 2 end)
    assert.are.equal(2, co(1))
    assert.are.equal(10, co(5))
    assert.has_error(function() co() end)
    assert.are.equal(1, (("a"):rep(200)):find(".-.-a"))
  end)

  it("rejects a bad hook_timeout naming the key", function()
    assert.has_error(function() t.machine { kernel = t.guest("luadev"), hook_timeout = 0 } end,
      "machine: hook_timeout must be a number of seconds above 0 and at most 86400, got 0")
  end)
end)

describe("a sandboxed recipe's hook", function()
  it("ends in hook_error within its budget, coroutine or not", function()
    local path = t.write_file(os.tmpname() .. ".lua", [[
      local luavmm = require "luavmm"
      local vm <close> = luavmm.machine { kernel = luavmm.guest("luadev"), cmdline = "i 0x510",
        console = false, hook_timeout = 1 }
      local co = coroutine.create(function() while true do end end)
      vm:on_pio(0x510, 4, function() coroutine.resume(co) end)
      local r = vm:run(30)
      print(r.reason)
      return r
    ]])
    local r = t.exec({ "run", "--sandbox", path })
    os.remove(path)
    assert.are.equal(104, r.status) -- hook_error (README, "Exit status")
    assert.truthy(r.stdout:find("hook_error", 1, true), r.stdout .. r.stderr)
  end)
end)

describe("timers", function()
  t.teardown_each()

  -- The echo guest waits for input forever: only timers and waits run.
  local function idle(config) return t.boot("echo", "", config) end

  it("fire in due order, each once, when many are pending", function()
    local vm = idle()
    local fired, dues, added = {}, {}, {}
    math.randomseed(7)
    for i = 1, 20000 do
      dues[i] = math.random(0, 200)
      added[i] = luavmm.now()
      vm:after(dues[i], function() fired[#fired + 1] = i end)
    end
    added[20001] = luavmm.now()
    local cancelled = vm:after(0, function() error("cancelled timer fired") end)
    assert.is_true(cancelled:cancel())
    assert.is_false(cancelled:pending())
    vm:start()
    vm:wait(0.5)
    assert.are.equal(20000, #fired)
    for k = 2, #fired do
      local a, b = fired[k - 1], fired[k]
      -- timer i is due between added[i] and added[i + 1], plus its delay
      assert(added[a] + dues[a] / 1000 <= added[b + 1] + dues[b] / 1000, "out of order at " .. k)
    end
  end)

  it("refuse a timer above the per-machine cap, naming it", function()
    local vm = idle()
    for _ = 1, 100000 do vm:after(60000, function() end) end
    assert.has_error(function() vm:after(1, function() end) end,
      "after: too many pending timers (the limit is 100000 per machine; cancel some or reuse vm:every)")
  end)

  it("stop a callback that schedules a million timers with a hook error naming the cap", function()
    local vm = idle()
    vm:after(0, function(v) for _ = 1, 1000000 do v:after(1000, function() end) end end)
    vm:start()
    local r = vm:wait(30)
    assert.are.equal("hook_error", r.reason)
    assert.truthy(r.detail:find("the limit is 100000 per machine", 1, true), r.detail)
  end)

  it("let wait(t) return at t while a callback re-adds itself", function()
    local vm = idle()
    local runs = 0
    local function again(v) runs = runs + 1; v:after(0, again) end
    vm:after(0, again)
    vm:start()
    local t0 = luavmm.now()
    local r = vm:wait(0.3)
    assert.are.equal("timeout", r.reason)
    assert.is_true(luavmm.now() - t0 < 10, "the wait did not return")
    assert.is_true(runs > 1)
  end)

  it("let wait(t) return while a callback re-adds itself twice per call", function()
    local vm = idle { on_hook_error = "continue" }
    local function twice(v) v:after(0, twice); v:after(0, twice) end
    vm:after(0, twice)
    vm:start()
    local t0 = luavmm.now()
    local r = vm:wait(0.3)
    assert.are.equal("timeout", r.reason)
    assert.is_true(luavmm.now() - t0 < 10, "the wait did not return")
  end)
end)

describe("luavmm run --memory-limit", function()
  local hoard = [[
local t, i = {}, 0
while true do i = i + 1; t[i] = ("x"):rep(1000) .. i end
]]

  it("ends a recipe that allocates without end with one line naming where", function()
    local path = t.write_file(os.tmpname() .. ".lua", hoard)
    local r = t.exec({ "run", "--memory-limit", "64M", "--sandbox", path })
    os.remove(path)
    assert.are.equal(1, r.status)
    assert.are.equal(("luavmm: %s:2: not enough memory\n"):format(path), r.stderr)
  end)

  it("turns a hook that allocates without end into a hook_error", function()
    local path = t.write_file(os.tmpname() .. ".lua", [[
      local luavmm = require "luavmm"
      local vm <close> = luavmm.machine { kernel = luavmm.guest("luadev"), cmdline = "i 0x510",
        console = false }
      vm:on_pio(0x510, 4, function()
]] .. hoard .. [[
      end)
      local r = vm:run(30)
      print(r.reason, r.detail)
      return r
    ]])
    local r = t.exec({ "run", "--memory-limit", "64M", path })
    os.remove(path)
    assert.are.equal(104, r.status, r.stderr) -- hook_error (README, "Exit status")
    assert.truthy(r.stdout:find("hook_error\ton_pio hook: not enough memory", 1, true), r.stdout .. r.stderr)
  end)

  it("refuses a size that is not one", function()
    local r = t.exec({ "run", "--memory-limit", "lots", "/dev/null" })
    assert.are.equal(2, r.status)
    assert.truthy(r.stderr:find("--memory-limit 'lots' is not a size", 1, true), r.stderr)
  end)
end)

describe("the command line", function()
  t.teardown_each()

  it("boots at the documented limit of 65535 bytes, device tree included", function()
    local cmdline = "7 " .. ("x"):rep(65533)
    local vm = t.machine { kernel = t.guest("exitcode"), cmdline = cmdline }
    assert.truthy(vm:device_tree().chosen.bootargs == cmdline)
    local r = vm:run(30)
    assert.are.equal("exit", r.reason)
    assert.are.equal(7, r.value)
  end)

  it("one byte longer (or with virtio entries past it) is a clear error", function()
    assert.has_error(function() t.machine { kernel = t.guest("exitcode"), cmdline = ("x"):rep(65536) } end,
      "machine: cmdline: 65536 bytes is longer than the limit of 65535")
    local ok, err = pcall(t.machine, { kernel = t.guest("exitcode"), cmdline = ("x"):rep(65535), rng = true })
    assert.is_false(ok)
    assert.truthy(err:find("cmdline: 65570 bytes is longer than the limit of 65535", 1, true), err)
  end)
end)

describe("an error inside vm:run", function()
  it("names the recipe's line", function()
    -- a huge stack limit makes the vCPU thread's stack allocation fail
    local path = t.write_file(os.tmpname() .. ".lua", [[
local luavmm = require "luavmm"
local vm <close> = luavmm.machine { kernel = luavmm.guest("hello"), console = false }
return vm:run(10)
]])
    local r = t.exec({ "run", path }, nil, "sh -c 'ulimit -s 1000000000 && exec \"$0\" \"$@\"'")
    os.remove(path)
    assert.are.equal(1, r.status)
    assert.truthy(r.stderr:find(path .. ":3: start: vcpu 0: cannot start thread", 1, true), r.stderr)
  end)
end)

describe("luavmm run --sandbox --allow", function()
  local dir
  before_each(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. t.shell_quote(dir .. "/sub")))
  end)
  after_each(function() os.execute("rm -rf " .. t.shell_quote(dir)) end)

  -- Runs a sandboxed recipe making a machine with the keys in `keys` (Lua
  -- source); returns the exec result.
  local function sandboxed(keys, allows)
    local path = t.write_file(dir .. "/recipe.lua", ([[
local luavmm = require "luavmm"
local vm <close> = luavmm.machine { kernel = luavmm.guest("exitcode"), cmdline = "5",
  console = false %s }
return vm:run(30)
]]):format(keys))
    local args = { "run", "--sandbox" }
    for _, a in ipairs(allows or {}) do args[#args + 1] = "--allow"; args[#args + 1] = a end
    args[#args + 1] = path
    return t.exec(args)
  end

  local function refused(r, line)
    assert.are.equal(1, r.status, r.stderr)
    assert.are.equal(("luavmm: %s/recipe.lua:2: machine: %s\n"):format(dir, line), r.stderr)
  end

  it("refuses host files the machine would read, naming the key and path", function()
    refused(sandboxed(', initrd = "/etc/shadow"'),
      "initrd: /etc/shadow: not allowed under --sandbox (allow it with luavmm run --allow /etc/shadow:ro)")
    local kernel = dir .. "/sub/k.elf"
    t.write_file(kernel, t.read_file(t.guest("exitcode")))
    local r = sandboxed((", kernel = %q"):format(kernel))
    assert.truthy(r.stderr:find("machine: kernel: " .. kernel .. ": not allowed", 1, true), r.stderr)
    assert.are.equal(5, sandboxed((", kernel = %q"):format(kernel), { dir .. "/sub" }).status)
  end)

  it("needs :rw for a console file, created only once allowed", function()
    local out = dir .. "/sub/console.txt"
    local keys = (", console = %q"):format(out)
    local r = sandboxed(keys)
    assert.truthy(r.stderr:find("console: " .. out .. ": not allowed under --sandbox (allow it with luavmm run --allow " .. out .. ":rw)", 1, true), r.stderr)
    r = sandboxed(keys, { dir .. "/sub:ro" })
    assert.truthy(r.stderr:find("console: " .. out .. ": not allowed", 1, true), r.stderr)
    assert.is_nil(io.open(out))
    r = sandboxed(keys, { dir .. "/sub:rw" })
    assert.are.equal(5, r.status, r.stderr)
    assert.truthy(t.read_file(out):find("exitcode 5", 1, true))
  end)

  it("resolves links: one in an allowed directory cannot reach outside it", function()
    assert(os.execute(("ln -s /etc/shadow %s/sub/innocent"):format(t.shell_quote(dir))))
    refused(sandboxed((", initrd = %q"):format(dir .. "/sub/innocent"), { dir .. "/sub" }),
      ("initrd: %s/sub/innocent: not allowed under --sandbox (allow it with luavmm run --allow /etc/shadow:ro)"):format(dir))
  end)

  it("needs :rw for a writable disk and :ro for a read-only one", function()
    local img = t.write_file(dir .. "/sub/disk.img", ("\0"):rep(4096))
    local rw = (", disks = { d = { path = %q } }"):format(img)
    refused(sandboxed(rw, { dir .. "/sub:ro" }),
      ("disks.d.path: %s: not allowed under --sandbox (allow it with luavmm run --allow %s:rw)"):format(img, img))
    assert.are.equal(5, sandboxed(rw, { img .. ":rw" }).status)
    local ro = (", disks = { d = { path = %q, readonly = true } }"):format(img)
    assert.are.equal(5, sandboxed(ro, { dir }).status)
  end)

  it("refuses taps unless allowed by name", function()
    local keys = ', nets = { eth0 = { tap = "lvmnotap0" } }'
    refused(sandboxed(keys, { "tap:other" }),
      "nets.eth0.tap: tap:lvmnotap0: not allowed under --sandbox (allow it with luavmm run --allow tap:lvmnotap0)")
    local r = sandboxed(keys, { "tap:lvmnotap0" })
    assert.is_nil(r.stderr:find("not allowed", 1, true), r.stderr)
  end)

  it("refuses a control socket outside the allowed directories", function()
    local sock = dir .. "/sub/vm.sock"
    local keys = (", control = %q"):format(sock)
    refused(sandboxed(keys),
      ("control: %s: not allowed under --sandbox (allow it with luavmm run --allow %s:rw)"):format(sock, sock))
    assert.are.equal(5, sandboxed(keys, { dir .. ":rw" }).status)
  end)

  it("leaves recipes without --sandbox alone and rejects a path that does not exist", function()
    local path = t.write_file(dir .. "/plain.lua", ([[
local luavmm = require "luavmm"
local vm <close> = luavmm.machine { kernel = luavmm.guest("exitcode"), cmdline = "5",
  console = %q }
return vm:run(30)
]]):format(dir .. "/out.txt"))
    assert.are.equal(5, t.exec({ "run", path }).status)
    local r = t.exec({ "run", "--sandbox", "--allow", dir .. "/nope", path })
    assert.are.equal(2, r.status)
    assert.are.equal(("luavmm: run: --allow %s/nope: No such file or directory\n"):format(dir), r.stderr)
  end)
end)

describe("a control-socket chunk", function()
  t.teardown_each()

  it("ends within its budget even through a coroutine and a pattern", function()
    local sock = os.tmpname() .. ".sock"
    local vm = t.boot("luadev", "c", { control = sock, hook_timeout = 1 })
    vm:start()
    local function attach(chunk)
      local base = os.tmpname()
      os.execute(("(%s attach %s -e %s >%s.out 2>%s.err </dev/null; echo $? >%s.rc) &"):format(
        t.shell_quote(t.bin()), t.shell_quote(sock), t.shell_quote(chunk), base, base, base))
      local done = false
      local tick = vm:every(10, function()
        local f = io.open(base .. ".rc")
        if f then f:close(); done = true end
      end)
      local t0 = luavmm.now()
      while not done and luavmm.now() - t0 < 30 do vm:wait(0.05) end
      tick:cancel()
      local r = { stderr = t.read_file(base .. ".err"), status = tonumber(t.read_file(base .. ".rc")) }
      for _, ext in ipairs { "", ".out", ".err", ".rc" } do os.remove(base .. ext) end
      return r
    end
    local r = attach("local co = coroutine.wrap(function() while true do end end); co()")
    assert.are.equal(1, r.status)
    assert.truthy(r.stderr:find("hook exceeded its", 1, true), r.stderr)
    r = attach('return ("a"):rep(3000):find(".-.-.-b")')
    assert.are.equal(1, r.status)
    assert.truthy(r.stderr:find("is too costly", 1, true), r.stderr)
    assert.are.equal("running", vm:stats().state)
    os.remove(sock)
  end)
end)
