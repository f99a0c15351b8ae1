-- virtio-vsock across snapshot, restore and fork (devices/virtio/vsock.c,
-- "snapshots"): a machine saved with a connection open keeps it; a machine
-- made from the state (a fork, a restore) starts without connections and
-- its guest gets VIRTIO_VSOCK_EVENT_TRANSPORT_RESET, after which it
-- connects again.  The guest is tests/guests/vsock-check.c "hold PORT".
local t = require "luavmm.test"

local function read_line(s)
  local got = ""
  repeat
    local chunk, err = s:receive(4096, 30)
    if not chunk then return got, err end
    got = got .. chunk
  until got:find("\n", 1, true)
  return got
end

-- A parent holding a connection to its Lua listener on 5555, paused.
local function held_parent(dir)
  local vm = t.boot("vsock-check", "hold 5555", { vsock = { cid = 3, path = dir .. "/p.sock" } })
  local l = vm.vsock:listen(5555)
  vm:start()
  local s = assert(l:accept(30))
  assert.are.equal("hello from the guest\n", read_line(s))
  t.expect(vm, "vsock: holding\n")
  vm:pause()
  return vm, s
end

-- The guest of `vm` got TRANSPORT_RESET, connected again and talked to us.
local function reconnects(vm)
  local l = vm.vsock:listen(5555)
  vm:start()
  t.expect(vm, "vsock: transport reset\n")
  local s = assert(l:accept(30))
  assert.are.equal("hello from the guest\n", read_line(s))
  assert.is_true(s:send("welcome back\n"))
  t.expect(vm, "vsock: reply welcome back\n")
  t.expect(vm, "vsock: closed\n")
  assert.are.equal(0, vm:wait(30).value, vm.console:output())
  local st = vm.vsock:stats()
  assert.are.equal(1, st.transport_resets)
  assert.are.equal(0, st.connections)
end

-- The parent's connection still works: an echo, then the host closes it.
local function parent_goes_on(vm, s)
  vm:resume()
  assert.is_true(s:send("ping\n"))
  assert.are.equal("ping\n", read_line(s))
  s:close()
  t.expect(vm, "vsock: host closed\n")
  assert.are.equal(0, vm:wait(30).value, vm.console:output())
  assert.are.equal(0, vm.vsock:stats().transport_resets)
end

describe("virtio-vsock snapshots", function()
  t.teardown_each()
  local dir
  before_each(function() dir = t.tmpdir("luavmm-vsock-snap") end)
  after_each(function() t.remove_tree(dir) end)

  it("a fork's guest gets TRANSPORT_RESET and connects again; the parent keeps its connection", function()
    local vm, s = held_parent(dir)
    assert.are.equal(1, vm.vsock:stats().connections)
    assert.has_error(function() vm:fork() end,
      'fork: vsock.path: the child needs its own socket (vm:fork{vsock = {path = "..."}})')
    local child = t.track(vm:fork { vsock = { path = dir .. "/c.sock" } }, "child")
    assert.are.equal(0, child.vsock:stats().connections)
    reconnects(child)
    parent_goes_on(vm, s)
  end)

  it("a restored machine's guest gets TRANSPORT_RESET and connects again", function()
    local vm, s = held_parent(dir)
    os.execute("mkdir -p " .. dir .. "/snap")
    vm:snapshot(dir .. "/snap")
    local again = t.restore(dir .. "/snap", { vsock = { path = dir .. "/r.sock" } })
    reconnects(again)
    parent_goes_on(vm, s)
  end)
end)
