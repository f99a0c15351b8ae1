-- virtio-vsock (virtio 1.2 §5.10) with a real guest driver (tests/guests/
-- vsock-check.c): host processes reach the guest through the unix socket
-- `path` ("CONNECT <port>\n", answered "OK <host_port>\n"), the guest
-- reaches host listeners on "<path>_<port>", credit flow control holds
-- with more data than either window, a closed port answers RST, a hostile
-- driver changes nothing, and the Lua API (vm.vsock:connect) works too.
-- The host side runs in tools/vsock_peer.py, in the background, while the
-- spec serves the machine.
local t = require "luavmm.test"
local vs = require "vsock_support"

local tmp, peer, wait_peer = vs.tmp, vs.peer, vs.wait_peer

describe("virtio-vsock", function()
  t.teardown_each()
  before_each(vs.make_dir)
  after_each(vs.remove_dir)

  it("a host process reaches the guest's listener and gets every byte echoed", function()
    local vm = t.boot("vsock-check", "echo 1234", { vsock = { cid = 3, path = tmp("v.sock") } })
    assert.are.equal("luavmm.device vsock", tostring(vm.vsock))
    vm:start()
    assert.are.equal("3", t.expect(vm, "vsock: cid (%d+)\n"))
    t.expect(vm, "vsock: listening on 1234\n")
    local read = peer(("connect %s 1234 300000"):format(tmp("v.sock")))
    local _, facts = wait_peer(vm, read, "done\n", 120)
    assert.truthy(facts:find("answer=OK %d+\n"), facts)
    assert.truthy(facts:find("sent=300000 received=300000 match=1\n", 1, true), facts)
    t.expect(vm, "vsock: echoed 300000 bytes\n")
    t.expect(vm, "vsock: closed\n")
    local r = vm:wait(30)
    assert.are.equal("exit", r.reason)
    assert.are.equal(0, r.value, vm.console:output())
    local s = vm.vsock:stats()
    assert.are.equal(300000, s.tx_bytes)
    assert.are.equal(300000, s.rx_bytes)
    assert.are.equal(0, s.bad_packets)
    assert.are.equal(0, s.credit_violations)
    assert.are.equal(0, s.connections)
  end)

  it("the guest connects to a host listener on <path>_<port>", function()
    local read = peer(("listen %s reply"):format(tmp("v.sock_5555")))
    local vm = t.boot("vsock-check", "connect 5555", { vsock = { cid = 42, path = tmp("v.sock") } })
    wait_peer(nil, read, "listening\n")
    vm:start()
    t.expect(vm, "vsock: cid 42\n")
    t.expect(vm, "vsock: reply hello from the host\n")
    t.expect(vm, "vsock: closed\n")
    assert.are.equal(0, vm:wait(30).value, vm.console:output())
    local _, facts = wait_peer(vm, read, "done\n")
    assert.truthy(facts:find("got=hello from the guest\n", 1, true), facts)
  end)

  it("moves more than both credit windows each way without loss or deadlock", function()
    local read = peer(("listen %s echo"):format(tmp("v.sock_6000")))
    local vm = t.boot("vsock-check", "bulk 6000 2000000", { vsock = { cid = 3, path = tmp("v.sock") } })
    wait_peer(nil, read, "listening\n")
    vm:start()
    t.expect(vm, "vsock: bulk sent 2000000 received 2000000 bad 0\n", 120)
    assert.are.equal(0, vm:wait(30).value, vm.console:output())
    assert.are.equal("2000000", wait_peer(vm, read, "echoed=(%d+)\n"))
    local s = vm.vsock:stats()
    assert.are.equal(2000000, s.tx_bytes)
    assert.are.equal(2000000, s.rx_bytes)
    assert.are.equal(0, s.credit_violations)
  end)

  it("answers RST for a port nobody listens on (and without a path)", function()
    local vm = t.boot("vsock-check", "rst 7777", { vsock = { cid = 3, path = tmp("v.sock") } })
    vm:start()
    t.expect(vm, "vsock: rst ok\n")
    assert.are.equal(0, vm:wait(30).value)
    assert.are.equal(1, vm.vsock:stats().refused)
    vm = t.boot("vsock-check", "rst 7777", { vsock = { cid = 3 } })
    vm:start()
    t.expect(vm, "vsock: rst ok\n")
    assert.are.equal(0, vm:wait(30).value)
  end)

  it("a hostile driver gets RSTs and the device keeps working", function()
    local read = peer(("listen %s hold-reply"):format(tmp("v.sock_8000")))
    local vm = t.boot("vsock-check", "hostile 8000", { vsock = { cid = 3, path = tmp("v.sock") } })
    wait_peer(nil, read, "listening\n")
    vm:start()
    local r = vm:wait(120)
    local out = vm.console:output()
    assert.are.equal("exit", r.reason, out)
    assert.are.equal(0, r.value, out)
    assert.falsy(out:find("WRONG", 1, true), out)
    assert.truthy(out:find("hostile: credit overrun reset\n", 1, true), out)
    assert.truthy(out:find("vsock: reply hello from the host\n", 1, true), out)
    assert.truthy(out:find("hostile: done\n", 1, true), out)
    local s = vm.vsock:stats()
    assert.is_true(s.bad_packets >= 8, out)
    assert.are.equal(1, s.credit_violations)
  end)

  it("vm.vsock:connect reaches the guest from Lua, without a socket file", function()
    local vm = t.boot("vsock-check", "echo 99", { vsock = { cid = 3 } })
    vm:start()
    t.expect(vm, "vsock: listening on 99\n")
    local s, host_port = vm.vsock:connect(99)
    assert.are.equal(0x40000000, host_port)
    local data = ("luavmm"):rep(20000) -- 120000 bytes: past the guest's window
    local got = {}
    local n = 0
    assert.is_true(s:send(data:sub(1, 60000)))
    assert.is_true(s:send(data:sub(60001)))
    while n < #data do
      local chunk = assert(s:receive(65536, 30))
      got[#got + 1] = chunk
      n = n + #chunk
    end
    assert.are.equal(data, table.concat(got))
    s:close()
    t.expect(vm, "vsock: echoed 120000 bytes\n")
    t.expect(vm, "vsock: closed\n")
    assert.are.equal(0, vm:wait(30).value)
    assert.has_error(function() s:send("x") end, "vsock stream: closed")
  end)

  it("checks the recipe entry", function()
    local function bad(entry, msg)
      local ok, err = pcall(t.machine, { kernel = t.guest("hello"), vsock = entry })
      assert.is_false(ok)
      assert.truthy(tostring(err):find(msg, 1, true), tostring(err))
    end
    bad(true, "vsock must be a table")
    bad({ cid = 2 }, "vsock.cid must be an integer from 3")
    bad({}, "vsock.cid must be an integer from 3")
    bad({ cid = 3, path = ("x"):rep(200) }, "vsock.path must be a unix socket path")
    bad({ cid = 3, port = 1 }, "port")
  end)
end)
