#include "lua/binding.h"
const char *lvm_lua_default_control;
int lvm_lua_control_open(lua_State *L, struct lua_machine *m, const char *path)
{ (void)L; (void)m; (void)path; return 0; }
unsigned lvm_lua_control_pollfds(struct lua_machine *m, struct pollfd *fds, unsigned max)
{ (void)m; (void)fds; (void)max; return 0; }
void lvm_lua_control_serve(lua_State *L, struct lua_machine *m, int machine_index,
			   const struct pollfd *fds, unsigned n)
{ (void)L; (void)m; (void)machine_index; (void)fds; (void)n; }
void lvm_lua_control_close(struct lua_machine *m) { (void)m; }
