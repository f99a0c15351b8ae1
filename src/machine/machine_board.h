/* Inside the machine layer only (snapshot.c): the board a machine is built on. */
#ifndef LVM_MACHINE_MACHINE_BOARD_H
#define LVM_MACHINE_MACHINE_BOARD_H

#include "arch/x86/board.h"
#include "machine/machine.h"

struct lvm_x86_board *lvm_machine_board(struct lvm_machine *m);

#endif
