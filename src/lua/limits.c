/*
 * The budget of one hook call (hooks, timers, events, console lines,
 * policies, control-socket chunks): at most `hook_limit` Lua instructions
 * and `hook_timeout` seconds of wall-clock time, whichever ends first.
 *
 * Lua's count hook is per thread (lua_State), so a budget that only hooks
 * the calling thread is bypassed by a coroutine: one created elsewhere and
 * resumed inside the hook has no hook at all, and a fresh coroutine per
 * loop iteration starts a fresh count.  Here the budget is one shared
 * counter and deadline: every thread that runs during the call carries
 * the same count hook (threads created inside inherit it from their
 * creator, as lua_newthread copies the hook; coroutine.resume and
 * coroutine.wrap are replaced by versions that hook the coroutine before
 * resuming it), and each firing charges the shared counter and checks the
 * clock.  Once the budget is spent every thread raises at every
 * instruction, so a pcall inside the hook cannot swallow the error and go
 * on looping.
 *
 * A C function runs as one instruction: the only ones a hook can make run
 * for long are the pattern matchers (string.find, match, gmatch, gsub:
 * backtracking makes `.-.-.-b` cost n^4 steps on a subject of n bytes).
 * While a budget is active they first estimate the worst case of the
 * match and refuse one above LVM_PATTERN_STEPS (see pattern_cost).
 */
#include <stdio.h>
#include <string.h>

#include "lua/binding.h"

#define BUDGET_TICK 1000 /* instructions between two checks (each a clock read) */
#define LVM_PATTERN_STEPS 2e8     /* ~0.5-2 s of backtracking on this host */

static _Thread_local struct lvm_lua_budget *current;

static void budget_hook(lua_State *L, lua_Debug *ar);

/* Hooks thread `co` with the running budget (if any) before it runs. */
static void arm_thread(lua_State *co)
{
	if (current)
		lua_sethook(co, budget_hook, LUA_MASKCOUNT, current->spent ? 1 : current->tick);
}

static void budget_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	struct lvm_lua_budget *b = current;
	if (!b)
		return; /* a coroutine hooked by an earlier call, running outside one */
	if (!b->spent) {
		b->left -= lua_gethookcount(L);
		if (b->left <= 0)
			b->spent = LVM_BUDGET_INSTRUCTIONS;
		else if (lvm_monotonic_seconds() > b->deadline)
			b->spent = LVM_BUDGET_TIME;
		else
			return;
	}
	/* raise at every instruction from now on, here and in the thread that
	 * began the call (this one may be a coroutine whose error is caught) */
	lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
	if (b->root != L)
		lua_sethook(b->root, budget_hook, LUA_MASKCOUNT, 1);
	if (b->spent == LVM_BUDGET_TIME)
		luaL_error(L, "hook exceeded its time limit of %f s (runaway hook? raise hook_timeout in the machine table)",
			   b->seconds);
	luaL_error(L, "hook exceeded its limit of %d Lua instructions (runaway hook? raise hook_limit in the machine table)",
		   (int)b->limit);
}

bool lvm_lua_budget_begin(lua_State *L, struct lvm_lua_budget *b, lua_Integer limit,
			  double seconds)
{
	if (current) {
		arm_thread(L); /* a nested call shares the outer budget */
		return false;
	}
	*b = (struct lvm_lua_budget){
		.left = limit, .limit = limit, .seconds = seconds,
		.tick = limit < BUDGET_TICK ? (int)limit : BUDGET_TICK,
		.deadline = lvm_monotonic_seconds() + seconds, .root = L,
	};
	current = b;
	arm_thread(L);
	return true;
}

int lvm_lua_budget_end(lua_State *L, struct lvm_lua_budget *b, bool began, int status)
{
	if (!began || current != b)
		return status;
	current = NULL;
	if (status != LUA_OK || !b->spent)
		return status;
	/* The call caught the error (pcall, coroutine.resume) and returned:
	 * it still overran, so it fails as if it had not caught it. */
	lua_settop(L, b->base);
	if (b->spent == LVM_BUDGET_TIME)
		lua_pushfstring(L, "hook exceeded its time limit of %f s (runaway hook? raise hook_timeout in the machine table)",
				b->seconds);
	else
		lua_pushfstring(L, "hook exceeded its limit of %d Lua instructions (runaway hook? raise hook_limit in the machine table)",
				(int)b->limit);
	return LUA_ERRRUN;
}

bool lvm_lua_budget_active(void)
{
	return current != NULL;
}

/* ---- coroutines ------------------------------------------------------ */

/* coroutine.resume(co, ...): the original, with co hooked first. */
static int guarded_resume(lua_State *L)
{
	lua_State *co = lua_tothread(L, 1);
	if (co)
		arm_thread(co);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* The function coroutine.wrap returns: resumes its coroutine (hooked
 * first), returns what it yields or returns, raises what it raises. */
static int wrapped_call(lua_State *L)
{
	lua_State *co = lua_tothread(L, lua_upvalueindex(1));
	int nargs = lua_gettop(L), nres;
	arm_thread(co);
	if (!lua_checkstack(co, nargs + 1))
		return luaL_error(L, "too many arguments to resume");
	lua_xmove(L, co, nargs);
	int status = lua_resume(co, L, nargs, &nres);
	if (status == LUA_OK || status == LUA_YIELD) {
		if (!lua_checkstack(L, nres + 1))
			return luaL_error(L, "too many results to resume");
		lua_xmove(co, L, nres);
		return nres;
	}
	status = lua_resetthread(co); /* closes its to-be-closed variables */
	lua_xmove(co, L, 1);
	if (status != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
		luaL_where(L, 1);
		lua_insert(L, -2);
		lua_concat(L, 2);
	}
	return lua_error(L);
}

/* coroutine.wrap(f) on top of coroutine.create (upvalue 1). */
static int guarded_wrap(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TFUNCTION);
	lua_State *co = lua_newthread(L);
	lua_pushvalue(L, 1);
	lua_xmove(L, co, 1);
	lua_pushcclosure(L, wrapped_call, 1);
	return 1;
}

/* ---- patterns -------------------------------------------------------- */

/* Whether byte c is in the class of the single-character pattern item at p. */
static bool class_has(unsigned char c, char cl)
{
	bool r;
	switch (cl | 0x20) {
	case 'a': r = (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; break;
	case 'c': r = c < 0x20 || c == 0x7f; break;
	case 'd': r = c >= '0' && c <= '9'; break;
	case 'g': r = c > 0x20 && c < 0x7f; break;
	case 'l': r = c >= 'a' && c <= 'z'; break;
	case 'p': r = c > 0x20 && c < 0x7f && !class_has(c, 'w'); break;
	case 's': r = c == ' ' || (c >= '\t' && c <= '\r'); break;
	case 'u': r = c >= 'A' && c <= 'Z'; break;
	case 'w': r = class_has(c, 'a') || class_has(c, 'd'); break;
	case 'x': r = class_has(c, 'd') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); break;
	default: return c == (unsigned char)cl;
	}
	return (cl >= 'A' && cl <= 'Z') ? !r : r;
}

/* [set] starting at p (p[0] == '['), `end` one past its ']'. */
static bool set_has(unsigned char c, const char *p, const char *end)
{
	bool negate = p[1] == '^';
	bool found = false;
	for (p += negate ? 2 : 1; p < end - 1; p++) {
		if (*p == '%' && p + 1 < end - 1) {
			found |= class_has(c, *++p);
		} else if (p + 2 < end - 1 && p[1] == '-') {
			found |= (unsigned char)p[0] <= c && c <= (unsigned char)p[2];
			p += 2;
		} else {
			found |= c == (unsigned char)*p;
		}
	}
	return found != negate;
}

static bool item_has(unsigned char c, const char *p, const char *end)
{
	if (*p == '.')
		return true;
	if (*p == '%')
		return class_has(c, p[1]);
	if (*p == '[')
		return set_has(c, p, end);
	return c == (unsigned char)*p;
}

/* One past the single-character item at p ('.', %x, [set] or a char). */
static const char *item_end(const char *p, const char *pend)
{
	if (*p == '%')
		return p + 2 <= pend ? p + 2 : pend;
	if (*p != '[')
		return p + 1;
	const char *q = p + 1;
	if (q < pend && *q == '^')
		q++;
	do { /* the first ']' is a member */
		if (q < pend && *q == '%')
			q++;
		q++;
	} while (q < pend && *q != ']');
	return q < pend ? q + 1 : pend;
}

/* The longest run of subject bytes the item matches. */
static double longest_run(const char *s, size_t n, const char *p, const char *e)
{
	size_t best = 0, run = 0;
	for (size_t i = 0; i < n; i++) {
		run = item_has((unsigned char)s[i], p, e) ? run + 1 : 0;
		if (run > best)
			best = run;
	}
	return (double)best;
}

/*
 * An upper bound of the backtracking steps of matching pattern p against
 * a subject of n bytes from every start position: a quantified item
 * (`*`, `+`, `-`) tries at most (its longest run in the subject + 1)
 * lengths, `?` two, %b scans up to n bytes; the tries of successive items
 * multiply.  `^` leaves one start position.  With `exact_runs` false the
 * runs are taken as n (cheap, for small subjects).
 */
static double pattern_cost(const char *s, size_t n, const char *p, size_t plen, bool exact_runs)
{
	const char *pend = p + plen;
	double cost = (double)n + 1;
	if (plen > 0 && *p == '^') {
		cost = 1;
		p++;
	}
	while (p < pend) {
		if (*p == '(' || *p == ')' || (*p == '$' && p + 1 == pend)) {
			p++;
			continue;
		}
		if (*p == '%' && p + 1 < pend && p[1] == 'b') { /* %bxy: one scan */
			cost *= (double)n + 1;
			p += 4;
			continue;
		}
		if (*p == '%' && p + 1 < pend && p[1] == 'f') { /* %f[set]: one test */
			p = p + 2 < pend ? item_end(p + 2, pend) : pend;
			continue;
		}
		const char *e = item_end(p, pend);
		char q = e < pend ? *e : 0;
		if (q == '*' || q == '+' || q == '-')
			cost *= (exact_runs ? longest_run(s, n, p, e) : (double)n) + 1;
		else if (q == '?')
			cost *= 2;
		p = e + (q == '*' || q == '+' || q == '-' || q == '?');
	}
	return cost;
}

/* string.find/match/gmatch/gsub: refuses a match whose bound is above the
 * limit while a hook budget runs, then calls the original (upvalue 1). */
static int guarded_pattern(lua_State *L)
{
	const char *name = lua_tostring(L, lua_upvalueindex(2));
	if (current && lua_type(L, 1) == LUA_TSTRING && lua_type(L, 2) == LUA_TSTRING) {
		size_t n, plen;
		const char *s = lua_tolstring(L, 1, &n), *p = lua_tolstring(L, 2, &plen);
		/* a plain find compares the pattern at every start position */
		bool plain = strcmp(name, "find") == 0 && lua_toboolean(L, 4);
		double cost = plain ? ((double)n + 1) * (double)plen : pattern_cost(s, n, p, plen, false);
		if (!plain && cost > LVM_PATTERN_STEPS)
			cost = pattern_cost(s, n, p, plen, true);
		if (cost > LVM_PATTERN_STEPS) {
			char steps[64];
			snprintf(steps, sizeof(steps), "up to %.3g steps, the limit is %.3g", cost,
				 LVM_PATTERN_STEPS);
			return luaL_error(L, "string.%s: pattern '%s' is too costly for a subject of %d bytes inside a hook (%s): use narrower classes than '.' or a shorter subject",
					  name, p, (int)n, steps);
		}
	}
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* Replaces lib[name] by fn with the original (and the name) as upvalues. */
static void wrap_field(lua_State *L, int lib, const char *name, lua_CFunction fn, int nup)
{
	lua_getfield(L, lib, name);
	if (nup > 1)
		lua_pushstring(L, name);
	lua_pushcclosure(L, fn, nup);
	lua_setfield(L, lib, name);
}

void lvm_lua_limits_install(lua_State *L)
{
	if (lua_getfield(L, LUA_REGISTRYINDEX, "luavmm.limits") != LUA_TNIL) {
		lua_pop(L, 1);
		return; /* once per state */
	}
	lua_pop(L, 1);
	lua_pushboolean(L, 1);
	lua_setfield(L, LUA_REGISTRYINDEX, "luavmm.limits");
	lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	if (lua_getfield(L, -1, "coroutine") == LUA_TTABLE) {
		int lib = lua_gettop(L);
		wrap_field(L, lib, "resume", guarded_resume, 1);
		lua_pushcfunction(L, guarded_wrap);
		lua_setfield(L, lib, "wrap");
	}
	lua_pop(L, 1);
	if (lua_getfield(L, -1, "string") == LUA_TTABLE) {
		static const char *const names[] = { "find", "match", "gmatch", "gsub", NULL };
		for (int i = 0; names[i]; i++)
			wrap_field(L, lua_gettop(L), names[i], guarded_pattern, 2);
	}
	lua_pop(L, 2);
}
