-- What the vsock specs share (vsock_spec.lua, vsock_policy_spec.lua): a
-- temporary directory per test for the unix sockets, and host processes run
-- by tools/vsock_peer.py in the background while the spec serves the
-- machine.  On LUA_PATH through tests/spec/?.lua (ctest and .busted).
--
--   local vs = require "vsock_support"
--   before_each(vs.make_dir); after_each(vs.remove_dir)
--   vs.tmp(name)                            a path in this test's directory
--   local read = vs.peer(args)              vsock_peer.py ARGS, in the background
--   vs.wait_peer(vm, read, pattern, timeout) serve vm until the peer printed pattern
local t = require "luavmm.test"

local M = {}

local SOURCE = os.getenv("LUAVMM_SOURCE_DIR") or "."
M.PEER = SOURCE .. "/tests/spec/tools/vsock_peer.py"

local dir

function M.make_dir() dir = t.tmpdir("luavmm-vsock") end
function M.remove_dir()
  t.remove_tree(dir)
  dir = nil
end

function M.tmp(name)
  assert(dir, "vsock_support: tmp() outside a test (before_each(make_dir) missing)")
  return dir .. "/" .. name
end

-- Starts vsock_peer.py ARGS in the background; returns a reader of its
-- facts (all it printed so far).
function M.peer(args)
  local out = M.tmp("peer" .. math.random(1 << 30) .. ".out")
  assert(os.execute(("python3 %s %s > %s 2>&1 &"):format(M.PEER, args, out)))
  return function()
    local f = io.open(out)
    if not f then return "" end
    local s = f:read("a")
    f:close()
    return s
  end
end

-- Serves the machine (vm may be nil: then just waits) until the peer's
-- output matches `pattern`; returns the match and the whole output.
function M.wait_peer(vm, read, pattern, timeout)
  for _ = 1, (timeout or 60) * 20 do
    local s = read()
    local m = s:match(pattern)
    if m then return m, s end
    if vm then vm:wait(0.05) else os.execute("sleep 0.05") end
  end
  error(("peer never printed '%s'; it said:\n%s\nguest:\n%s"):format(pattern, read(),
    vm and vm.console:output() or ""), 2)
end

return M
