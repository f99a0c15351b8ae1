#ifndef LVM_ATTACH_H
#define LVM_ATTACH_H
/* luavmm attach SOCKET [-e CHUNK]; argv after "attach". Returns the exit status. */
int lvm_attach_main(int argc, char **argv);
#endif
