/*
 * Starting the application processors (see guest.h, "application
 * processors"): a real-mode trampoline that goes straight to long mode on
 * the boot CPU's page tables, GDT and IDT, INIT-SIPI-SIPI through the local
 * APIC, and one stack (two for ring 3) per AP slot.
 *
 * Linked only into the guests that start APs (GUEST_SMP_NAMES in
 * ../CMakeLists.txt): the stacks are half a MiB of .bss.
 */
#include "guest.h"

#define LAPIC 0xfee00000ul
#define LAPIC_SVR 0xf0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define ICR_INIT 0x4500u   /* delivery mode INIT, level assert (SDM vol. 3A §11.6.1) */
#define ICR_SIPI 0x4600u   /* delivery mode start-up; the vector is the page number */
#define ICR_BUSY (1u << 12)
/* A free low page: below the VMM's 0x9000 page tables, not its boot info. */
#define TRAMPOLINE 0x3000ul
#define SPIN_LIMIT (1ull << 33)

/* Read by the trampoline (below), hence not static. */
uint32_t ap_next_slot = 1; /* the next AP's slot: the order they arrive */
uint32_t ap_max_slot;      /* an AP with a later slot halts at once */
struct __attribute__((packed)) {
	uint16_t limit;
	uint64_t base;
} ap_idtr;
/* Slot s runs on ap_stacks[s - 1] (and at ring 3 on ap_user_stacks[s - 1]). */
uint8_t ap_stacks[AP_MAX][4096] __attribute__((aligned(4096)));
static uint8_t ap_user_stacks[AP_MAX][4096] __attribute__((aligned(4096)));

static void (*ap_main_fn)(unsigned slot);
static enum ap_ring ap_ring_level;
static volatile uint32_t aps_up;

/*
 * SIPI vector 3 starts an AP in real mode at 0x3000 (CS = 0x300), where
 * ap_tramp..ap_tramp_end is copied.  It loads the GDTR and CR3 that
 * aps_prepare() stored in the copy and enables long mode and paging in one
 * step (the same CR0/CR4/EFER as the boot contract in ../README), then far
 * jumps to ap_entry64 through the runtime's 64-bit code selector 0x10.
 * There each AP takes a slot and its stack and calls ap_enter(slot).
 */
__asm__(
	"	.text\n"
	"	.code16\n"
	"	.globl ap_tramp, ap_tramp_end, ap_gdtr, ap_cr3\n"
	"ap_tramp:\n"
	"	cli\n"
	"	mov %cs, %ax\n"
	"	mov %ax, %ds\n"
	"	lgdtl (ap_gdtr - ap_tramp)\n"
	"	mov $0x620, %eax\n"          /* CR4: PAE | OSFXSR | OSXMMEXCPT */
	"	mov %eax, %cr4\n"
	"	mov (ap_cr3 - ap_tramp), %eax\n"
	"	mov %eax, %cr3\n"
	"	mov $0xc0000080, %ecx\n"     /* EFER: LME | SCE */
	"	mov $0x101, %eax\n"
	"	xor %edx, %edx\n"
	"	wrmsr\n"
	"	mov $0x80010033, %eax\n"     /* CR0: PG | WP | NE | ET | MP | PE, at once */
	"	mov %eax, %cr0\n"
	"	ljmpl *(ap_jump - ap_tramp)\n"
	"	.balign 4\n"
	"ap_jump:	.long ap_entry64\n"
	"	.word 0x10\n"
	"	.balign 4\n"
	"ap_gdtr:	.word 0\n"
	"	.quad 0\n"
	"	.balign 4\n"
	"ap_cr3:	.long 0\n"
	"ap_tramp_end:\n"
	"	.code64\n"
	"ap_entry64:\n"
	"	mov $0x18, %eax\n"
	"	mov %eax, %ds\n"
	"	mov %eax, %es\n"
	"	mov %eax, %ss\n"
	"	mov %eax, %fs\n"
	"	mov %eax, %gs\n"
	"	lidt ap_idtr(%rip)\n"
	"	mov $1, %eax\n"
	"	lock xadd %eax, ap_next_slot(%rip)\n"
	"	cmp ap_max_slot(%rip), %eax\n"   /* no slot left: just stop */
	"	ja 2f\n"
	"	mov %eax, %edi\n"
	"	shl $12, %rax\n"                 /* the top of ap_stacks[slot - 1] */
	"	lea ap_stacks(%rip), %rsp\n"
	"	add %rax, %rsp\n"
	"	call ap_enter\n"
	"2:	cli\n"
	"	hlt\n"
	"	jmp 2b\n"
	/* Where a ring-3 ap_main returns to: it stays at ring 3 and spins. */
	"ap_user_park:\n"
	"	pause\n"
	"	jmp ap_user_park\n");

extern char ap_tramp[], ap_tramp_end[], ap_gdtr[], ap_cr3[], ap_user_park[];
void ap_enter(uint32_t slot);

/* On the AP, at ring 0 on its own stack; the trampoline halts it if this returns. */
void ap_enter(uint32_t slot)
{
	if (ap_ring_level == AP_RING0) {
		ap_main_fn(slot);
		__atomic_fetch_add(&aps_up, 1, __ATOMIC_SEQ_CST);
		return;
	}
	uint64_t *stack = (uint64_t *)(ap_user_stacks[slot - 1] + sizeof(ap_user_stacks[0])) - 1;
	*stack = (uint64_t)ap_user_park; /* ap_main's return address */
	__atomic_fetch_add(&aps_up, 1, __ATOMIC_SEQ_CST);
	/* iretq to ring 3: user data 0x20|3, user code 0x28|3, IF off. */
	__asm__ volatile("mov %0, %%rdi\n\t"
			 "pushq $0x23\n\t"
			 "pushq %1\n\t"
			 "pushq $0x2\n\t"
			 "pushq $0x2b\n\t"
			 "pushq %2\n\t"
			 "iretq"
			 :
			 : "r"((uint64_t)slot), "r"((uint64_t)stack), "r"((uint64_t)ap_main_fn)
			 : "rdi", "memory");
	__builtin_unreachable();
}

static uint32_t lapic_read(uint32_t reg)
{
	return *(volatile uint32_t *)(LAPIC + reg);
}

static void lapic_write(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)(LAPIC + reg) = v;
}

void aps_prepare(unsigned max, enum ap_ring ring, void (*ap_main)(unsigned slot))
{
	ap_max_slot = max < AP_MAX ? max : AP_MAX;
	ap_ring_level = ring;
	ap_main_fn = ap_main;
	lapic_write(LAPIC_SVR, 0x1ff); /* software-enable the boot CPU's local APIC */
	memcpy((void *)TRAMPOLINE, ap_tramp, (size_t)(ap_tramp_end - ap_tramp));
	__asm__ volatile("sgdt %0" : "=m"(*(uint8_t(*)[10])(TRAMPOLINE + (ap_gdtr - ap_tramp))));
	__asm__ volatile("sidt %0" : "=m"(ap_idtr));
	uint64_t cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	*(volatile uint32_t *)(TRAMPOLINE + (ap_cr3 - ap_tramp)) = (uint32_t)cr3;
}

static void send_ipi(uint32_t apic_id, uint32_t icr)
{
	lapic_write(LAPIC_ICR_HI, apic_id << 24);
	lapic_write(LAPIC_ICR_LO, icr);
	for (int i = 0; i < 1000 && (lapic_read(LAPIC_ICR_LO) & ICR_BUSY); i++)
		;
}

/* At ring 3, where the loop runs natively. */
static uint64_t wait_checked_in(uint64_t count)
{
	for (uint64_t i = 0; i < SPIN_LIMIT; i++) {
		if (aps_up >= count)
			return 1;
		__asm__ volatile("pause");
	}
	return 0;
}

/* INIT, SIPI, SIPI (SDM vol. 3A §9.4.4.1); KVM needs no delays between them. */
int ap_start(uint32_t apic_id)
{
	uint32_t before = aps_up;
	send_ipi(apic_id, ICR_INIT);
	send_ipi(apic_id, ICR_SIPI | (TRAMPOLINE >> 12));
	send_ipi(apic_id, ICR_SIPI | (TRAMPOLINE >> 12));
	return (int)run_user(wait_checked_in, before + 1);
}

unsigned aps_checked_in(void)
{
	return aps_up;
}

unsigned start_aps(unsigned max, enum ap_ring ring, void (*ap_main)(unsigned slot))
{
	uint32_t cpus = bootinfo ? bootinfo->ncpus : 1;
	unsigned want = cpus > 1 ? cpus - 1 : 0, started = 0;
	if (want > max)
		want = max;
	aps_prepare(max, ring, ap_main);
	for (uint32_t id = 1; id <= want && ap_start(id); id++)
		started++;
	return started;
}
