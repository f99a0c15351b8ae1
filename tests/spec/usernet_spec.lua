-- Networking without root: a user network (libslirp: DHCP, ARP, ICMP echo
-- to the gateway, DNS, NAT to the host, TCP and UDP port forwards), the
-- in-process switch (luavmm.switch()) between machines of one recipe,
-- net:link(false | true) with the guest reading VIRTIO_NET_S_LINK_UP, and
-- both across fork and snapshot.  The guests are tests/guests/usernet.c
-- (a tiny IPv4 host) and net-link.c / net-check.c (raw frames); the
-- host's end of the forwards is tools/usernet_peer.py.
local t = require "luavmm.test"
local luavmm = require "luavmm"

local SOURCE = os.getenv("LUAVMM_SOURCE_DIR") or "."
local PEER = SOURCE .. "/tests/spec/tools/usernet_peer.py"
local SIGSYS = 31

-- Runs usernet_peer.py ARGS and returns what it printed.
local function peer(args)
  local p = assert(io.popen(("python3 %s %s 2>&1"):format(PEER, args)))
  local out = p:read("a")
  p:close()
  return out
end

local function free_port()
  return assert(tonumber(peer("free-port")), "no free port")
end

-- usernet_peer.py ARGS in the background; returns a reader of its output.
local function background_peer(args)
  local out = os.tmpname()
  assert(os.execute(("python3 %s %s > %s 2>&1 &"):format(PEER, args, out)))
  return function()
    local s = t.read_file(out) or ""
    if s:find("served") or s:find("error") then os.remove(out) end
    return s
  end
end

local function user_machine(cmdline, nets)
  return t.boot("usernet", cmdline, { nets = nets or { eth0 = { user = true } } })
end

describe("user networking", function()
  t.teardown_each()

  it("leases an address by DHCP, reaches the gateway, and serves TCP and UDP through forwards", function()
    local tcp_port, udp_port = free_port(), free_port()
    local vm = user_machine("dhcp arp ping serve", { eth0 = { user = true, forward = {
      { host = tcp_port, guest = 8 },
      { host = udp_port, guest = 7, udp = true, host_addr = "127.0.0.1" } } } })
    vm:start()
    assert.are.equal("10.0.2.15 router 10.0.2.2 dns 10.0.2.3 server 10.0.2.2",
      t.expect(vm, "usernet: lease ([^\n]*)\n", 60))
    assert.are.equal("52:55:0a:00:02:02", t.expect(vm, "usernet: gateway ([^\n]*)\n", 60))
    t.expect(vm, "usernet: ping reply from 10.0.2.2\n", 60)
    t.expect(vm, "usernet: serving\n", 60)
    -- The machine runs while the peer blocks this thread: nothing needs Lua.
    assert.are.equal("udp reply: echo over udp\n", peer(("udp %d 'over udp'"):format(udp_port)))
    assert.are.equal("tcp reply: b'hello, luavmm\\n'\n", peer(("tcp %d luavmm"):format(tcp_port)))
    t.expect(vm, "usernet: udp echoed 8 bytes\n", 30)
    t.expect(vm, "usernet: tcp got luavmm\n", 30)
    t.expect(vm, "usernet: tcp closed\n", 30)
    local r = vm:wait(30)
    assert.are.equal("exit", r.reason)
    assert.are.equal(0, r.value, vm.console:output())
    local s = vm.nets.eth0:stats()
    assert.is_true(s.rx_packets >= 6 and s.tx_packets >= 6)
    assert.are.equal(1, s.link_up)
    assert.are.equal(0, s.switch)
    assert.are.equal(0, s.rx_while_down + s.tx_while_down)
  end)

  it("reaches a host service through NAT and asks the DNS address", function()
    local port = free_port()
    local read = background_peer(("listen %d"):format(port))
    assert.truthy(t.wait_until(function() return read():find("listening") end, 30))
    local vm = user_machine("dhcp arp dns connect:" .. port)
    vm:start()
    -- The host may have no resolver: either way the query went through
    -- the user network's thread (resolv.conf read under its filter).
    assert.truthy(t.expect(vm, "usernet: dns (%a+ ?%a*)\n", 60))
    assert.are.equal("host got hello from the guest",
      t.expect(vm, "usernet: connect got ([^\n]*)\n", 60))
    local r = vm:wait(30)
    assert.are.equal(0, r.value, vm.console:output())
    assert.truthy(t.wait_until(function() return read():find("served hello from the guest") end, 30))
  end)

  it("names the key in every configuration error", function()
    local function err(nets)
      local ok, msg = pcall(t.machine, { kernel = t.guest("hello"), nets = nets })
      assert.is_false(ok)
      return msg
    end
    local sw = luavmm.switch()
    for _, nets in ipairs {
      { eth0 = { mac = "52:54:00:00:00:01" } },
      { eth0 = { tap = "tap0", user = true } },
      { eth0 = { user = true, switch = sw } },
    } do
      assert.truthy(err(nets):find("nets.eth0: give one of tap, user or switch", 1, true))
    end
    assert.truthy(err { eth0 = { user = "yes" } }:find("nets.eth0.user must be true (a user network), not yes", 1, true))
    assert.truthy(err { eth0 = { switch = {} } }:find("nets.eth0.switch must be a switch (luavmm.switch()), not a table", 1, true))
    assert.truthy(err { eth0 = { switch = sw, forward = {} } }:find("nets.eth0.forward needs user = true", 1, true))
    assert.truthy(err { eth0 = { user = true, forward = { { host = 70000, guest = 22 } } } }
      :find("nets.eth0.forward[1].host must be a port number 1..65535, not 70000", 1, true))
    assert.truthy(err { eth0 = { user = true, forward = { { host = 2222 } } } }
      :find("nets.eth0.forward[1].guest is required", 1, true))
    assert.truthy(err { eth0 = { user = true, forward = { { host = 2222, guest = 22, host_addr = "localhost" } } } }
      :find("nets.eth0.forward[1].host_addr = \"localhost\" is not an IPv4 address", 1, true))
    assert.truthy(err { eth0 = { user = true, forward = { { host = 2222, guest = 22, tcp = true } } } }
      :find("nets.eth0.forward[1]: unknown key 'tcp'", 1, true))
    assert.truthy(err { eth0 = { user = true, forward = { host = 2222, guest = 22 } } }
      :find("nets.eth0.forward must be a list", 1, true))
    assert.truthy(err { eth0 = { user = true, forward = { { host = 2222, guest = 22 }, { host = 2222, guest = 23 } } } }
      :find("nets.eth0.forward[2]: host port 2222 (tcp) is forwarded twice", 1, true))
    -- Another socket holds the port: the forward cannot listen.
    local port = free_port()
    local holder = t.machine { kernel = t.guest("hello"),
      nets = { eth0 = { user = true, forward = { { host = port, guest = 22 } } } } }
    assert.truthy(err { eth0 = { user = true, forward = { { host = port, guest = 22 } } } }
      :find(("nets.eth0.forward[1]: cannot listen on 127.0.0.1:%d (tcp): "):format(port), 1, true))
    holder:close()
    -- A tcp and a udp forward of one port are two forwards.
    t.machine { kernel = t.guest("hello"), nets = { eth0 = { user = true, forward = {
      { host = port, guest = 22 }, { host = port, guest = 22, udp = true } } } } }:close()
  end)

  it("runs libslirp's thread under its own seccomp filter", function()
    local recipe = [[
      local luavmm = require "luavmm"
      local vm <close> = luavmm.machine { kernel = luavmm.guest("usernet"), cmdline = "dhcp arp ping",
        memory = "32M", console = false, nets = { eth0 = { user = true } } }
      local r = vm:run(60)
      print(r.reason, r.value)
      return r.value == 0
    ]]
    local ok = t.exec_recipe(recipe)
    assert.are.equal(0, ok.status, ok.stderr)
    assert.are.equal("exit\t0\n", ok.stdout)
    local killed = t.exec_recipe(recipe, {}, { LUAVMM_SECCOMP_TEST = "net" })
    assert.are.equal(128 + SIGSYS, killed.status, killed.stderr)
  end)

  it("gives a fork a fresh user network on which its lease stays valid", function()
    local port = free_port()
    local parent = user_machine("dhcp arp wait ping", { eth0 = { user = true,
      forward = { { host = port, guest = 8 } } } })
    parent:start()
    t.expect(parent, "usernet: gateway 52:55:0a:00:02:02\n", 60)
    t.expect(parent, "usernet: waiting\n", 60)
    parent:pause()
    -- No overrides: the child's user net is its own, without the parent's
    -- forward (the parent keeps its host port).
    local child = t.track(parent:fork(), "child")
    child:start()
    child.console:send("go")
    t.expect(child, "usernet: ping reply from 10.0.2.2\n", 60)
    local r = child:wait(30)
    assert.are.equal(0, r.value, child.console:output())
    -- The parent's network is untouched by the child's.
    parent:resume()
    parent.console:send("go")
    t.expect(parent, "usernet: ping reply from 10.0.2.2\n", 60)
    assert.are.equal(0, parent:wait(30).value)
  end)
end)

describe("luavmm.switch", function()
  t.teardown_each()

  local function on(sw, name, cmdline, mac)
    return t.boot(name, cmdline, { nets = { eth0 = { switch = sw, mac = mac } } })
  end

  it("carries frames between machines and counts them per port", function()
    local sw = luavmm.switch()
    assert.are.equal("luavmm.switch " .. sw:id(), tostring(sw))
    local a = on(sw, "net-check", "pong", "52:54:00:00:00:0a")
    local b = on(sw, "net-check", "ping", "52:54:00:00:00:0b")
    a:start()
    b:start()
    assert.are.equal(0, b:wait(60).value, b.console:output())
    assert.are.equal(0, a:wait(30).value, a.console:output())
    assert.truthy(a.console:output():find("net: answered ping from 52:54:00:00:00:0b\n", 1, true))
    assert.truthy(b.console:output():find("net: got pong from 52:54:00:00:00:0a\n", 1, true))
    assert.are.equal(sw:id(), a.nets.eth0:stats().switch)
    local s = sw:stats()
    assert.are.equal(2, s.ports)
    assert.are.equal(2, #s)
    assert.are.equal(2, s.learned)
    assert.is_true(s.flooded >= 1) -- the first ping was a broadcast
    assert.are.same({ "eth0", "52:54:00:00:00:0a" }, { s[1].nic, s[1].mac })
    assert.are.same({ "eth0", "52:54:00:00:00:0b" }, { s[2].nic, s[2].mac })
    -- a's one pong went to b alone, b's pings flooded to a
    assert.are.equal(1, s[1].rx_packets)
    assert.are.equal(1, s[2].tx_packets)
    assert.are.equal(s[2].rx_packets, s[1].tx_packets)
    assert.are.equal(0, s[1].tx_dropped + s[2].tx_dropped)
    a:close()
    assert.are.equal(1, sw:stats().ports)
  end)

  it("cuts and restores the cable: the guest sees the link go down and up, no frame passes meanwhile", function()
    local sw = luavmm.switch()
    local beacon = on(sw, "net-link", "beacon", "52:54:00:00:01:0a")
    local watcher = on(sw, "net-link", "watch", "52:54:00:00:01:0b")
    beacon:start()
    watcher:start()
    local net = watcher.nets.eth0
    t.expect(watcher, "link: status up\n", 60)
    t.expect(watcher, "link: pong\n", 60)
    assert.are.equal(1, net:link())
    net:link(false)
    assert.are.equal(0, net:link())
    t.expect(watcher, "link: down (config interrupt)\n", 60, { plain = true })
    -- While it is out the guest keeps sending and the beacon keeps
    -- broadcasting: both are dropped at the watcher's NIC and counted.
    assert.truthy(t.wait_until(function()
      local s = net:stats()
      return s.tx_while_down >= 3 and s.rx_while_down >= 3
    end, 60), "frames were not dropped while the link was down")
    assert.are.equal(0, net:stats().link_up)
    net:link(false) -- again: no change, no interrupt
    net:link(true)
    local sent = t.expect(watcher, "link: up %(config interrupt%), sent (%d+) while down, received 0\n", 60)
    assert.is_true(tonumber(sent) >= 3)
    t.expect(watcher, "link: pong again\n", 60)
    assert.are.equal(0, watcher:wait(30).value, watcher.console:output())
    local r = beacon:wait(60)
    assert.are.equal(0, r.value, beacon.console:output()) -- no "dpin" ever reached it
    assert.are.equal(1, net:stats().link_up)
    local ok, msg = pcall(net.link, net, "down")
    assert.is_false(ok)
    assert.truthy(msg:find("nets:link: give true (cable in) or false (cable out), not a string", 1, true), msg)
  end)

  -- net-hostile (hostile_spec runs it on a tap, as root) on the backends
  -- that need no root: only the good frame after the reset goes out.
  for _, c in ipairs { { "short", "completed" }, { "huge", "completed" },
                       { "write-only", "completed" }, { "loop", "needs-reset" } } do
    local case, expected = c[1], c[2]
    it("takes a hostile driver ('" .. case .. "') on a user net and on a switch port", function()
      local sw = luavmm.switch()
      for _, nets in ipairs { { eth0 = { user = true } }, { eth0 = { switch = sw } } } do
        local vm = t.boot("net-hostile", case, { nets = nets })
        vm:start()
        local r = vm:wait(120)
        assert.are.equal(0, r.value, vm.console:output())
        assert.truthy(vm.console:output():find("net-hostile: " .. case .. " -> " .. expected .. "\n", 1, true))
        assert.are.equal(1, vm.nets.eth0:stats().tx_packets)
        vm:close()
      end
      assert.are.equal(1, sw:stats().flooded) -- the good broadcast, nothing else
    end)
  end

  it("lets a fork join its parent's switch; the link state survives fork and snapshot", function()
    local sw = luavmm.switch()
    local parent = on(sw, "net-check", "pong", "52:54:00:00:02:0a")
    parent.nets.eth0:link(false)
    local child = t.track(parent:fork(), "child")
    assert.are.equal(sw:id(), child.nets.eth0:stats().switch)
    assert.are.equal(0, child.nets.eth0:link())
    assert.are.equal(2, sw:stats().ports)
    -- The child answers on the shared switch once its cable is in.
    child.nets.eth0:link(true)
    local pinger = on(sw, "net-check", "ping", "52:54:00:00:02:0b")
    child:start()
    pinger:start()
    assert.are.equal(0, pinger:wait(60).value, pinger.console:output())
    assert.are.equal(0, child:wait(30).value, child.console:output())
    -- A snapshot keeps the cable out; a switch is not data: restoring
    -- needs one (the same, here).
    local dir = t.tmpdir("usernet-snap")
    parent:snapshot(dir)
    local ok, msg = pcall(luavmm.restore, dir)
    assert.is_false(ok)
    assert.truthy(msg:find("nets.eth0: give one of tap, user or switch", 1, true), msg)
    local restored = t.restore(dir, { nets = { eth0 = { switch = sw } } })
    assert.are.equal(0, restored.nets.eth0:link())
    assert.are.equal(sw:id(), restored.nets.eth0:stats().switch)
    restored:close()
    t.remove_tree(dir)
  end)
end)
