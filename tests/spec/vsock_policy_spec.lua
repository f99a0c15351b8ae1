-- virtio-vsock, the recipe's side (src/lua/vsock.c): vm.vsock:listen hands
-- the guest's connections to Lua (a function, or listener:accept), and
-- vm.vsock:on_connect decides which connections may open, either way; a
-- refusal is an RST for the guest and a closed socket for a host process.
-- The guest is tests/guests/vsock-check.c; host processes are
-- tests/spec/tools/vsock_peer.py, as in vsock_spec.lua.
local t = require "luavmm.test"
local vs = require "vsock_support"

local tmp, peer, wait_peer = vs.tmp, vs.peer, vs.wait_peer

-- Reads from stream s until `n` bytes or a newline came.
local function read_line(s, timeout)
  local got = ""
  repeat
    local chunk, err = s:receive(4096, timeout or 30)
    if not chunk then return got, err end
    got = got .. chunk
  until got:find("\n", 1, true)
  return got
end

describe("virtio-vsock from the recipe", function()
  t.teardown_each()
  before_each(vs.make_dir)
  after_each(vs.remove_dir)

  it("vm.vsock:listen(port, fn) hands the guest's connection to fn", function()
    local vm = t.boot("vsock-check", "connect 5555", { vsock = { cid = 3 } })
    local streams, seen = {}, {}
    local l = vm.vsock:listen(5555, function(s, c)
      assert.are.equal("luavmm.vsock_stream", tostring(s))
      streams[#streams + 1] = s
      seen[#seen + 1] = c
      assert.is_true(s:send("hello from Lua\n")) -- fits the socket: no wait inside a hook
    end)
    assert.are.equal(5555, l.port)
    assert.are.equal("luavmm.vsock_listener 5555", tostring(l))
    vm:start()
    t.expect(vm, "vsock: reply hello from Lua\n")
    assert.are.equal(1, #streams)
    assert.are.equal("hello from the guest\n", read_line(streams[1]))
    t.expect(vm, "vsock: closed\n")
    assert.are.same({ nil, "closed" }, { streams[1]:receive(10, 5) })
    assert.are.equal(0, vm:wait(30).value, vm.console:output())
    assert.are.same({ direction = "guest", port = 5555, peer_port = 5000, cid = 3 }, seen[1])
    local st = vm.vsock:stats()
    assert.are.equal(0, st.refused)
    assert.are.equal(#"hello from the guest\n", st.tx_bytes)
  end)

  it("listener:accept() waits for a connection; a Lua listener comes before <path>_<port>", function()
    -- A unix listener on the same port, which must not be used.
    local read = peer(("listen %s reply"):format(tmp("v.sock_5555")))
    wait_peer(nil, read, "listening\n")
    local vm = t.boot("vsock-check", "connect 5555", { vsock = { cid = 7, path = tmp("v.sock") } })
    local l <close> = vm.vsock:listen(5555)
    assert.has_error(function() vm.vsock:listen(5555) end,
      "vsock:listen(5555): the recipe listens on that port already")
    assert.are.same({ nil, "timeout" }, { l:accept(0) })
    vm:start()
    local s, c = l:accept(30)
    assert.truthy(s, c)
    assert.are.same({ direction = "guest", port = 5555, peer_port = 5000, cid = 7 }, c)
    assert.are.equal("hello from the guest\n", read_line(s))
    assert.is_true(s:send("hi from accept\n"))
    t.expect(vm, "vsock: reply hi from accept\n")
    assert.are.equal(0, vm:wait(30).value, vm.console:output())
    assert.falsy(read():find("got=", 1, true))
  end)

  it("a closed listener no longer takes connections: nobody listens (RST)", function()
    local vm = t.boot("vsock-check", "rst 6000", { vsock = { cid = 3 } })
    local l = vm.vsock:listen(6000)
    l:close()
    l:close() -- twice: harmless
    assert.are.same({ nil, "closed" }, { l:accept(1) })
    assert.are.equal("luavmm.vsock_listener 6000 (closed)", tostring(l))
    vm:start()
    t.expect(vm, "vsock: rst ok\n")
    assert.are.equal(0, vm:wait(30).value)
    assert.are.equal(1, vm.vsock:stats().refused)
  end)

  it("on_connect refuses a guest's connection with RST and lets others through", function()
    local read = peer(("listen %s reply"):format(tmp("v.sock_5555")))
    wait_peer(nil, read, "listening\n")
    local seen = {}
    local vm = t.boot("vsock-check", "rst 7777", { vsock = { cid = 3, path = tmp("v.sock") } })
    vm.vsock:on_connect(function(c)
      seen[#seen + 1] = c
      if c.port == 7777 then return "deny" end
    end)
    vm:start()
    t.expect(vm, "vsock: rst ok\n")
    assert.are.equal(0, vm:wait(30).value)
    assert.are.same({ direction = "guest", port = 7777, peer_port = 5000, cid = 3 }, seen[1])
    assert.are.equal(1, vm.vsock:stats().denied)
    assert.are.equal(0, vm.vsock:stats().refused)

    -- Allowed: on to the unix socket "<path>_5555".
    vm = t.boot("vsock-check", "connect 5555", { vsock = { cid = 3, path = tmp("w.sock") } })
    os.rename(tmp("v.sock_5555"), tmp("w.sock_5555"))
    vm.vsock:on_connect(function(c) return c.port == 5555 end)
    vm:start()
    t.expect(vm, "vsock: reply hello from the host\n")
    assert.are.equal(0, vm:wait(30).value, vm.console:output())
    assert.truthy(wait_peer(vm, read, "got=hello from the guest\n"))
    assert.are.equal(0, vm.vsock:stats().denied)
  end)

  it("on_connect refuses a host process (its socket is closed), then lets one in", function()
    local vm = t.boot("vsock-check", "echo 1234", { vsock = { cid = 3, path = tmp("v.sock") } })
    local seen = {}
    vm.vsock:on_connect(function(c)
      seen[#seen + 1] = c
      return false
    end)
    vm:start()
    t.expect(vm, "vsock: listening on 1234\n")
    local _, facts = wait_peer(vm, peer(("connect %s 1234 10"):format(tmp("v.sock"))), "done\n")
    assert.truthy(facts:find("answer=EOF\n", 1, true), facts)
    assert.are.same({ direction = "host", port = 1234, peer_port = 0x40000000, cid = 3 }, seen[1])
    assert.are.equal(1, vm.vsock:stats().denied)
    vm.vsock:on_connect(nil) -- no policy: everything goes
    _, facts = wait_peer(vm, peer(("connect %s 1234 5000"):format(tmp("v.sock"))), "done\n")
    assert.truthy(facts:find("sent=5000 received=5000 match=1\n", 1, true), facts)
    assert.are.equal(0, vm:wait(30).value, vm.console:output())
    assert.are.equal(1, #seen)
  end)

  it("an on_connect that raises stops the machine (hook_error) unless told to go on", function()
    local vm = t.boot("vsock-check", "rst 7000", { vsock = { cid = 3 } })
    vm.vsock:on_connect(function() error("no vsock today") end)
    vm:start()
    local r = vm:wait(30)
    assert.are.equal("hook_error", r.reason)
    assert.truthy(r.detail:find("no vsock today", 1, true), r.detail)

    vm = t.boot("vsock-check", "rst 7000", { vsock = { cid = 3 } })
    vm.vsock:on_connect(function() return "maybe" end)
    vm:start()
    r = vm:wait(30)
    assert.are.equal("hook_error", r.reason)
    assert.truthy(r.detail:find('returned maybe: expected nothing, true, false, "allow" or "deny"', 1, true),
      r.detail)

    -- on_hook_error = "continue": reported, and the connection is refused.
    vm = t.boot("vsock-check", "rst 7000", { vsock = { cid = 3 }, on_hook_error = "continue" })
    vm.vsock:on_connect(function() error("no vsock today") end)
    vm:start()
    t.expect(vm, "vsock: rst ok\n")
    assert.are.equal(0, vm:wait(30).value)
  end)

  it("a listener's function that raises refuses the connection", function()
    local vm = t.boot("vsock-check", "rst 7100", { vsock = { cid = 3 } })
    vm.vsock:listen(7100, function(s) s:receive(1, 5) end) -- a wait inside a hook: an error
    vm:start()
    local r = vm:wait(30)
    assert.are.equal("hook_error", r.reason)
    assert.truthy(r.detail:find("vsock stream:receive: cannot wait inside a hook", 1, true), r.detail)

    vm = t.boot("vsock-check", "rst 7100", { vsock = { cid = 3 }, on_hook_error = "continue" })
    local kept
    vm.vsock:listen(7100, function(s)
      kept = s
      error("not now")
    end)
    vm:start()
    t.expect(vm, "vsock: rst ok\n")
    assert.are.equal(0, vm:wait(30).value)
    assert.are.equal("luavmm.vsock_stream (closed)", tostring(kept))
    assert.are.equal(1, vm.vsock:stats().denied) -- refused by the recipe's side
  end)

  it("checks its arguments", function()
    local vm = t.boot("vsock-check", "rst 1", { vsock = { cid = 3 } })
    assert.has_error(function() vm.vsock:listen(-1) end)
    assert.has_error(function() vm.vsock:listen(1, "not a function") end)
    assert.has_error(function() vm.vsock:on_connect(42) end)
    local l = vm.vsock:listen(9, function() end)
    assert.has_error(function() l:accept(0) end,
      "vsock listener 9: its connections go to its function, not to accept()")
  end)
end)
