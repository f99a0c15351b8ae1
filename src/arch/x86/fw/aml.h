/*
 * A small encoder for ACPI Machine Language: just what luavmm's DSDT needs,
 * written against the grammar of ACPI 6.5 §20.2 and the resource
 * descriptors of §6.4.  No iasl at run time.
 *
 * The encoder writes into a caller's buffer.  Objects with a PkgLength
 * (Scope, Device, Method, Package, Buffer) are opened with *_begin and
 * closed with lvm_aml_end, which inserts the PkgLength (and a Buffer's
 * BufferSize) in front of the body once its length is known, so a
 * PkgLength always takes the fewest bytes (§20.2.4).  Running out of room
 * or unbalanced nesting is remembered and reported by lvm_aml_finish.
 *
 * Name strings are written as in ASL: "\\_SB.VR00", "^PARN", "_HID";
 * each segment is 1-4 characters of [A-Z0-9_] (the first not a digit),
 * padded with '_' to a NameSeg (§20.2.2).
 */
#ifndef LVM_ARCH_X86_FW_AML_H
#define LVM_ARCH_X86_FW_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LVM_AML_DEPTH 8

struct lvm_aml {
	uint8_t *buf;
	size_t len, cap;
	bool failed; /* out of room, bad name, or unbalanced begin/end */
	unsigned depth;
	struct {
		size_t body;  /* where the object's body starts */
		bool buffer;  /* a Buffer: BufferSize goes after the PkgLength */
		bool resources; /* a ResourceTemplate: End Tag before closing */
	} open[LVM_AML_DEPTH];
};

void lvm_aml_init(struct lvm_aml *a, uint8_t *buf, size_t cap);
/* Bytes written, or 0 if anything failed or an object is still open. */
size_t lvm_aml_finish(struct lvm_aml *a);

/* Raw bytes (opcodes the helpers below do not cover). */
void lvm_aml_bytes(struct lvm_aml *a, const void *p, size_t n);
/* NameString (§20.2.2). */
void lvm_aml_name_string(struct lvm_aml *a, const char *path);
/* The fewest-byte integer: ZeroOp, OneOp, Byte/Word/DWord/QWordConst (§20.2.3). */
void lvm_aml_integer(struct lvm_aml *a, uint64_t v);
/* String: StringPrefix, ASCII, NullChar (§20.2.3). */
void lvm_aml_string(struct lvm_aml *a, const char *s);
/* An EISA ID ("PNP0501") as the DWordConst ASL's EISAID() makes (§19.6.35). */
void lvm_aml_eisaid(struct lvm_aml *a, const char *id);
/* Name(path, <the data object written next>) (§20.2.5.1 DefName). */
void lvm_aml_name(struct lvm_aml *a, const char *path);
/* Return(<the argument written next>) (§20.2.5.3 DefReturn). */
void lvm_aml_return(struct lvm_aml *a);

/* Objects with a PkgLength; each is closed by lvm_aml_end. */
void lvm_aml_scope_begin(struct lvm_aml *a, const char *path);  /* §20.2.5.1 DefScope */
void lvm_aml_device_begin(struct lvm_aml *a, const char *path); /* §20.2.5.2 DefDevice */
/* DefMethod (§20.2.5.2): nargs 0-7, serialized or not, SyncLevel 0. */
void lvm_aml_method_begin(struct lvm_aml *a, const char *path, unsigned nargs, bool serialized);
/* DefPackage (§20.2.5.4): the caller writes `count` elements. */
void lvm_aml_package_begin(struct lvm_aml *a, unsigned count);
/* DefBuffer (§20.2.5.4) with BufferSize = the bytes written before lvm_aml_end. */
void lvm_aml_buffer_begin(struct lvm_aml *a);
/* A ResourceTemplate: a Buffer of descriptors; lvm_aml_end adds the End Tag (§6.4.2.9). */
void lvm_aml_resources_begin(struct lvm_aml *a);
void lvm_aml_end(struct lvm_aml *a);

/* Resource descriptors (§6.4), inside a ResourceTemplate. */
#define LVM_AML_IRQ_CONSUMER (1u << 0)
#define LVM_AML_IRQ_EDGE (1u << 1)       /* clear: level-triggered */
#define LVM_AML_IRQ_ACTIVE_LOW (1u << 2) /* clear: active-high */
#define LVM_AML_IRQ_SHARED (1u << 3)
/* Memory32Fixed (§6.4.3.4), read-write or read-only. */
void lvm_aml_memory32_fixed(struct lvm_aml *a, bool writable, uint32_t base, uint32_t len);
/* Extended Interrupt, one interrupt number (§6.4.3.6); flags LVM_AML_IRQ_*. */
void lvm_aml_interrupt(struct lvm_aml *a, unsigned flags, uint32_t gsi);
/* IO, 16-bit decode (§6.4.2.5). */
void lvm_aml_io(struct lvm_aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
/* IRQNoFlags: edge, active-high, exclusive ISA IRQs (§6.4.2.1); mask bit n = IRQ n. */
void lvm_aml_irq_noflags(struct lvm_aml *a, uint16_t mask);
/*
 * Address space descriptors (§6.4.3.5) for what a bridge decodes and
 * passes on: ResourceProducer, PosDecode, MinFixed, MaxFixed, granularity
 * and translation 0, length max - min + 1.  WordBusNumber, WordIO
 * (EntireRange) and DWordMemory (NonCacheable, ReadWrite).
 */
void lvm_aml_word_bus_number(struct lvm_aml *a, uint16_t min, uint16_t max);
void lvm_aml_word_io(struct lvm_aml *a, uint16_t min, uint16_t max);
void lvm_aml_dword_memory(struct lvm_aml *a, uint32_t min, uint32_t max);

#endif
